-- wrk script of bench/ingest.py: each thread sends the pre-signed requests of its own file, in order.
--
--   wrk -t2 -c32 -d40s -s bench/ingest.lua http://127.0.0.1:8000 -- DIRECTORY DEADLINE once|cycle
--
-- Thread N reads DIRECTORY/requests-N.http, records of "<length>\n<raw HTTP request>". With "once" each
-- request is sent at most once; with "cycle" the thread goes round them again. From DEADLINE (unix
-- seconds) on, or once its requests are all sent, a thread sends nothing new and stops as soon as every
-- request it sent is answered, so that each one sent is accounted for. It prints "bench started N" and
-- "bench drained N" as it goes, then done() prints its counts for bench/ingest.py to read.

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

local function report(word)
   io.write("bench ", word, " ", id, "\n")
   io.stdout:flush()
end

function init(args)
   local directory, mode = args[1], args[3]
   deadline = tonumber(args[2])
   cycle = mode == "cycle"
   requests = {}
   local file = assert(io.open(directory .. "/requests-" .. id .. ".http", "rb"))
   for length in file:lines() do
      requests[#requests + 1] = file:read(tonumber(length))
   end
   file:close()
   sent, answered, statuses = 0, 0, {}
   draining, drained = false, false
   -- wrk asks its first thread for one request before the run, only to check that it parses.
   checking = id == 0
end

function request()
   if checking then
      checking = false
      return requests[1]
   end
   if not draining and (os.time() >= deadline or (sent == #requests and not cycle)) then
      draining = true
   end
   if draining then
      if sent == answered and not drained then
         drained = true
         report("drained")
         wrk.thread:stop()
      end
      -- Nothing to write: the connection waits, idle, until the thread stops.
      return ""
   end
   if sent == 0 then
      report("started")
   end
   sent = sent + 1
   return requests[(sent - 1) % #requests + 1]
end

function response(status)
   answered = answered + 1
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency)
   for _, thread in ipairs(threads) do
      io.write(string.format("bench thread %d %d %d\n", thread:get("id"), thread:get("sent"), thread:get("answered")))
      for status, count in pairs(thread:get("statuses")) do
         io.write(string.format("bench status %d %d\n", status, count))
      end
   end
   local errors = summary.errors
   io.write(string.format("bench socket_errors %d\n", errors.connect + errors.read + errors.write + errors.timeout))
   io.write(string.format("bench latency_us %d %d\n", latency:percentile(50), latency:percentile(99)))
end
