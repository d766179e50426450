"""Webhook ingestion benchmark: callsvc against a bare FastAPI ceiling, on SQLite and on PostgreSQL.

One run loads, in turn and for --duration seconds each, from --connections (32):

- the ceiling: bench/ceiling.py, FastAPI reading and parsing the same signed bodies and doing nothing else;
- `callsvc serve` on a fresh SQLite file, one process, then on until --rss-deliveries for its memory;
- `callsvc serve` on a fresh PostgreSQL database, one process, then `--workers 2` (--targets picks among these).

The load is wrk with bench/ingest.lua when wrk is installed, else an asyncio client. Every delivery is a
distinct generic event (started, offered, answered, ended) of one of many calls, to managers registered
through the API, signed just before its target's run. During the 1-process runs a reader polls the feed and
the queue with an admin key. Each row gives acknowledged deliveries per second, latency, errors, the
server's CPU per delivery and memory, and the share of the ceiling, next to the goal. After each callsvc run
the database is checked: every acknowledged delivery stored exactly once, applied, and its call there.

    .venv/bin/python bench/ingest.py
    .venv/bin/python bench/ingest.py --full --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Exits nonzero if a check fails or a server errs; missed goals are only reported.
"""

import argparse
import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

BENCH = Path(__file__).resolve().parent
EXTENSIONS = tuple(str(extension) for extension in range(101, 121))
# Calls under way at a time: their events go out stage by stage, a thousand deliveries apart, well under a
# second at these rates (a real call's events are seconds to minutes apart, among many more calls under way).
CALLS_AT_A_TIME = 1_000
# Deliveries prepared per second of --duration: more than the fastest callsvc takes.
DELIVERIES_PER_SECOND = 4_000
# callsvc refuses a webhook-timestamp 5 minutes old: a run signed at once must end well within that.
SIGNATURES_LAST_SECONDS = 240
# The memory run sends this many seconds' worth of deliveries at a time, each batch signed just before.
BATCH_SECONDS = 60
# How long wrk may go on past its deadline for the answers to the last requests.
DRAIN_SECONDS = 15
# The retry job applies a delivery kept unapplied (its call held elsewhere) 5 s later; it runs every few seconds.
RETRY_WAIT_SECONDS = 20
READ_EVERY_SECONDS = 0.05
READ_PATHS = ("/v1/calls?limit=50", "/v1/queue")
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Goal:
    """What a target should reach, as a share of the ceiling and latencies."""

    ratio: float
    p99_ms: float
    reads_p99_ms: float | None = None

    def describe(self) -> str:
        reads = f", reads p99 < {self.reads_p99_ms:.0f} ms" if self.reads_p99_ms else ""
        return f">= {self.ratio:.2f}x ceiling, p99 < {self.p99_ms:.0f} ms{reads}"

    def met(self, ratio: float, p99_ms: float, reads_p99_ms: float | None) -> bool:
        reads_ok = self.reads_p99_ms is None or (reads_p99_ms is not None and reads_p99_ms < self.reads_p99_ms)
        return ratio >= self.ratio and p99_ms < self.p99_ms and reads_ok


@dataclass(frozen=True)
class Target:
    """A `callsvc serve` configuration to load."""

    key: str
    name: str
    database: str
    workers: int
    reads: bool
    goal: Goal


TARGETS = (
    Target("sqlite", "SQLite, 1 process", "sqlite", 1, reads=True, goal=Goal(0.30, 50, 100)),
    Target("pg", "PostgreSQL, 1 process", "postgresql", 1, reads=True, goal=Goal(0.15, 100, 100)),
    Target("pg2", "PostgreSQL, 2 processes", "postgresql", 2, reads=False, goal=Goal(0.25, 100)),
)
RSS_GOAL_MB, RSS_GOAL_DELIVERIES = 150, 100_000
QUICK_RSS_DELIVERIES = 10_000


@dataclass(frozen=True)
class Delivery:
    """One signed-to-be generic webhook: its webhook-id, the call it belongs to, its body."""

    msg_id: str
    call_id: str
    body: bytes


def call_events(index: int, start: datetime) -> list[dict]:
    """The events of one call: answered, missed, or dialled out and not picked up, by turns."""
    call_id = f"bench-{index}"
    ext = EXTENSIONS[index % len(EXTENSIONS)]
    client = f"8916{index % 5000:07d}"
    began = start + timedelta(milliseconds=10 * index)

    def at(seconds: int) -> str:
        return (began + timedelta(seconds=seconds)).isoformat()

    started = {"type": "call.started", "call_id": call_id, "occurred_at": at(0), "direction": "inbound"}
    started |= {"from": client, "to": "84951112233"}
    offered = {"type": "call.offered", "call_id": call_id, "occurred_at": at(1), "extension": ext}
    if index % 3 == 0:
        talk = 30 + index % 200
        answered = {"type": "call.answered", "call_id": call_id, "occurred_at": at(4), "extension": ext}
        ended = {"type": "call.ended", "call_id": call_id, "occurred_at": at(4 + talk), "disposition": "answered"}
        return [started, offered, answered, ended]
    if index % 3 == 1:
        return [
            started,
            offered,
            {"type": "call.ended", "call_id": call_id, "occurred_at": at(20), "disposition": "no_answer"},
        ]
    dialled = started | {"direction": "outbound", "extension": ext, "from": ext, "to": client}
    return [dialled, {"type": "call.ended", "call_id": call_id, "occurred_at": at(25), "disposition": "no_answer"}]


class Calls:
    """Deliveries of calls nobody has seen yet, each event delivered once."""

    def __init__(self) -> None:
        self.start = datetime.now(UTC) - timedelta(hours=1)
        self.next_index = 0

    def deliveries(self, count: int) -> list[Delivery]:
        batch: list[Delivery] = []
        while len(batch) < count:
            calls = [self._call(self.next_index + offset) for offset in range(CALLS_AT_A_TIME)]
            self.next_index += CALLS_AT_A_TIME
            for stage in range(max(map(len, calls))):
                batch.extend(call[stage] for call in calls if stage < len(call))
        return batch[:count]

    def _call(self, index: int) -> list[Delivery]:
        events = call_events(index, self.start)
        call_id = events[0]["call_id"]
        return [Delivery(f"msg_{call_id}_{n}", call_id, json.dumps(event).encode()) for n, event in enumerate(events)]


class Signer:
    """Standard Webhooks headers, as callsvc checks them, from one HMAC key."""

    def __init__(self, secret: str):
        self.key = hmac.new(base64.b64decode(secret.removeprefix("whsec_")), digestmod=hashlib.sha256)

    def headers(self, delivery: Delivery, timestamp: str) -> dict[str, str]:
        mac = self.key.copy()
        mac.update(f"{delivery.msg_id}.{timestamp}.".encode())
        mac.update(delivery.body)
        return {
            "webhook-id": delivery.msg_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": "v1," + base64.b64encode(mac.digest()).decode(),
            "content-type": "application/json",
        }


@dataclass
class Load:
    """What one run of the load generator sent and got back."""

    sent: list[str]
    # The webhook-ids answered 2xx, when the generator can tell them one by one.
    acknowledged: set[str] | None
    statuses: Counter[int]
    socket_errors: int
    unanswered: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def acked(self) -> int:
        return acknowledged_count(self.statuses)

    @property
    def errors(self) -> int:
        return sum(self.statuses.values()) - self.acked + self.socket_errors

    @property
    def rate(self) -> float:
        return self.acked / self.seconds if self.seconds else 0.0


def acknowledged_count(statuses: Counter[int]) -> int:
    return sum(count for status, count in statuses.items() if 200 <= status < 300)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else math.nan


class Wrk:
    """wrk with bench/ingest.lua, each of its threads sending the requests of its own file."""

    name = "wrk"

    def __init__(self, connections: int, threads: int, workdir: Path):
        self.connections, self.threads, self.workdir = connections, threads, workdir

    def run(self, base: str, deliveries: list[Delivery], signer: Signer, seconds: int, cycle: bool) -> Load:
        with tempfile.TemporaryDirectory(dir=self.workdir) as directory:
            ids = self._write_requests(Path(directory), base, deliveries, signer)
            return self._load(base, directory, ids, seconds, cycle)

    def _write_requests(
        self, directory: Path, base: str, deliveries: list[Delivery], signer: Signer
    ) -> list[list[str]]:
        host, timestamp = base.removeprefix("http://"), str(int(time.time()))
        ids: list[list[str]] = []
        for thread in range(self.threads):
            share = deliveries[thread :: self.threads]
            with (directory / f"requests-{thread}.http").open("wb") as requests:
                for delivery in share:
                    head = "".join(
                        f"{name}: {value}\r\n" for name, value in signer.headers(delivery, timestamp).items()
                    )
                    raw = (
                        f"POST /webhooks/generic HTTP/1.1\r\nHost: {host}\r\n{head}"
                        f"Content-Length: {len(delivery.body)}\r\n\r\n"
                    ).encode() + delivery.body
                    requests.write(b"%d\n%s" % (len(raw), raw))
            ids.append([delivery.msg_id for delivery in share])
        return ids

    def _load(self, base: str, directory: str, ids: list[list[str]], seconds: int, cycle: bool) -> Load:
        deadline = math.ceil(time.time() + seconds)
        command = ["wrk", f"-t{self.threads}", f"-c{self.connections}", f"-d{seconds + DRAIN_SECONDS}s"]
        command += ["--timeout", "10s", "-s", str(BENCH / "ingest.lua"), base, "--", directory, str(deadline)]
        command.append("cycle" if cycle else "once")
        report: dict[str, list[list[str]]] = {}
        started = finished = None
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as wrk:
            for line in wrk.stdout:
                if not line.startswith("bench "):
                    continue
                kind, *values = line.split()[1:]
                report.setdefault(kind, []).append(values)
                if kind == "started" and started is None:
                    started = time.perf_counter()
                if kind == "drained" and len(report["drained"]) == self.threads:
                    finished = time.perf_counter()
                    wrk.send_signal(signal.SIGINT)
        if wrk.returncode != 0 or "latency_us" not in report:
            raise SystemExit(f"wrk failed (exit code {wrk.returncode})")
        finished = finished or time.perf_counter()
        return self._result(report, ids, finished - (started or finished))

    def _result(self, report: dict[str, list[list[str]]], ids: list[list[str]], seconds: float) -> Load:
        sent: list[str] = []
        unanswered = 0
        for thread, count, answered in (map(int, values) for values in report["thread"]):
            sent += [ids[thread][n % len(ids[thread])] for n in range(count)]
            unanswered += count - answered
        statuses = Counter[int]()
        for status, count in report.get("status", []):
            statuses[int(status)] += int(count)
        p50_us, p99_us = map(int, report["latency_us"][0])
        # wrk cannot tell which request an answer is for; but when every request sent was answered, and
        # answered 2xx, the acknowledged ones are exactly those sent.
        everything_acknowledged = not unanswered and acknowledged_count(statuses) == len(sent)
        return Load(
            sent=sent,
            acknowledged=set(sent) if everything_acknowledged else None,
            statuses=statuses,
            socket_errors=int(report["socket_errors"][0][0]),
            unanswered=unanswered,
            seconds=seconds,
            p50_ms=p50_us / 1000,
            p99_ms=p99_us / 1000,
        )


class PythonClient:
    """An asyncio client with as many connections, when wrk is not installed."""

    name = "asyncio client (httpx)"

    def __init__(self, connections: int):
        self.connections = connections

    def run(self, base: str, deliveries: list[Delivery], signer: Signer, seconds: int, cycle: bool) -> Load:
        timestamp = str(int(time.time()))
        signed = [(delivery, signer.headers(delivery, timestamp)) for delivery in deliveries]
        return asyncio.run(self._load(base, itertools.cycle(signed) if cycle else iter(signed), seconds))

    async def _load(self, base: str, signed: Iterator[tuple[Delivery, dict]], seconds: int) -> Load:
        deadline = time.perf_counter() + seconds
        results: list[tuple[str, int | None, float]] = []
        limits = httpx.Limits(max_connections=self.connections, max_keepalive_connections=self.connections)
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:

            async def connection() -> None:
                while time.perf_counter() < deadline and (item := next(signed, None)) is not None:
                    delivery, headers = item
                    began = time.perf_counter()
                    try:
                        response = await client.post("/webhooks/generic", content=delivery.body, headers=headers)
                        status = response.status_code
                    except httpx.TransportError:
                        status = None
                    results.append((delivery.msg_id, status, (time.perf_counter() - began) * 1000))

            began = time.perf_counter()
            await asyncio.gather(*(connection() for _ in range(self.connections)))
            elapsed = time.perf_counter() - began
        latencies = [ms for _, status, ms in results if status is not None]
        failed = sum(status is None for _, status, _ in results)
        return Load(
            sent=[msg_id for msg_id, _, _ in results],
            acknowledged={msg_id for msg_id, status, _ in results if status and 200 <= status < 300},
            statuses=Counter(status for _, status, _ in results if status is not None),
            socket_errors=failed,
            unanswered=failed,
            seconds=elapsed,
            p50_ms=percentile(latencies, 0.50),
            p99_ms=percentile(latencies, 0.99),
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (the workers of `--workers`), as /proc lists them now."""
    tree, index = [pid], 0
    while index < len(tree):
        for children in Path(f"/proc/{tree[index]}/task").glob("*/children"):
            tree += [int(child) for child in children.read_text().split()]
        index += 1
    return tree


def cpu_seconds(pid: int) -> float:
    """User and system CPU the process tree has used so far."""
    ticks = 0
    for member in process_tree(pid):
        stat = Path(f"/proc/{member}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()  # from field 3 (state) on: utime is 14, stime 15
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of the process tree, summed."""
    kilobytes = 0
    for member in process_tree(pid):
        status = Path(f"/proc/{member}/status").read_text()
        kilobytes += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return kilobytes / 1024


def environment(**settings: object) -> dict[str, str]:
    """The shell's environment without its CALLSVC_* values, plus the given ones."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("CALLSVC_")}
    return env | {f"CALLSVC_{name.upper()}": str(value) for name, value in settings.items()}


@contextmanager
def serving(command: list[str], env: dict[str, str], log: Path, base: str) -> Iterator[subprocess.Popen]:
    """A server process, once it answers /readyz; stopped (SIGTERM) on the way out."""
    with log.open("wb") as output:
        server = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            if server.poll() is not None:
                raise SystemExit(f"{command[1:]} exited with code {server.returncode}:\n{log_tail(log)}")
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            raise SystemExit(f"{command[1:]} did not become ready:\n{log_tail(log)}")
        yield server
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def log_tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def fresh_database(kind: str, workdir: Path, pg_url: str) -> Iterator[str]:
    """A new SQLite file, or a new PostgreSQL database next to --pg-url's, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / f'callsvc-{secrets.token_hex(4)}.db'}"
        return
    name = f"bench_{secrets.token_hex(6)}"
    server = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        raise SystemExit(f"cannot create a database with --pg-url {pg_url}: {exc.orig}") from exc
    try:
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def admin_key(database_url: str) -> str:
    """A new admin key, made with the CLI (which migrates the database first)."""
    command = [sys.executable, "-m", "callsvc", "keys", "create", "--role", "admin", "--name", "bench"]
    result = subprocess.run(
        command, env=environment(database_url=database_url), capture_output=True, text=True, check=True
    )
    return result.stdout.strip().splitlines()[-1]


def register_managers(base: str, key: str) -> None:
    for ext in EXTENSIONS:
        body = {
            "name": f"Manager {ext}",
            "team": "north" if int(ext) % 2 else "south",
            "identities": [{"provider": "generic", "identity": ext}],
        }
        httpx.post(f"{base}/v1/managers", json=body, headers={"Authorization": f"Bearer {key}"}).raise_for_status()


class Reader(threading.Thread):
    """Reads the feed and the queue every READ_EVERY_SECONDS with an admin key, as CRMs and reps do."""

    def __init__(self, base: str, key: str):
        super().__init__(daemon=True)
        self.base, self.key = base, key
        self.stopping = threading.Event()
        self.latencies_ms: list[float] = []
        self.failures = 0

    def run(self) -> None:
        auth = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(base_url=self.base, headers=auth, timeout=30) as client:
            while not self.stopping.wait(READ_EVERY_SECONDS):
                for path in READ_PATHS:
                    began = time.perf_counter()
                    try:
                        answered = client.get(path).status_code == 200
                    except httpx.TransportError:
                        answered = False
                    self.failures += not answered
                    self.latencies_ms.append((time.perf_counter() - began) * 1000)


@contextmanager
def reading(base: str, key: str | None) -> Iterator[Reader | None]:
    """A reader polling for as long as the block runs, given a key; none without."""
    if key is None:
        yield None
        return
    reader = Reader(base, key)
    reader.start()
    try:
        yield reader
    finally:
        reader.stopping.set()
        reader.join()


@dataclass
class Verification:
    """How the deliveries acknowledged compare with the rows stored."""

    acknowledged: int
    stored: int
    missing: int
    duplicated: int
    never_sent: int
    without_call: int
    # Kept but not applied to their call: nothing holds a call in this run, so every one should apply at once.
    unapplied: int
    # Some requests went unanswered or were refused: the acknowledged ones are known by count only.
    by_count: bool

    @property
    def ok(self) -> bool:
        return not (self.missing or self.duplicated or self.never_sent or self.without_call or self.unapplied)

    def __str__(self) -> str:
        line = f"verified: {self.acknowledged} acknowledged, {self.stored} stored, {self.missing} missing"
        if self.by_count:
            line += " (by count: not every request sent was answered 2xx)"
        problems = {
            "stored twice": self.duplicated,
            "stored but never sent": self.never_sent,
            "stored without their call": self.without_call,
            "stored but not applied": self.unapplied,
        }
        line += "".join(f"; {count} {problem}" for problem, count in problems.items() if count)
        return line if self.ok else f"FAILED {line}"


def await_retries(database_url: str) -> int:
    """Wait, the server still running, for the retry job to apply what was kept to retry; return how many were."""
    engine = create_engine(database_url)
    query = text("SELECT count(*) FROM provider_event WHERE status <> 'applied' AND next_attempt_at IS NOT NULL")
    try:
        with engine.connect() as connection:
            waiting = connection.scalar(query)
        deadline = time.monotonic() + RETRY_WAIT_SECONDS
        while waiting and time.monotonic() < deadline:
            time.sleep(0.5)
            with engine.connect() as connection:
                still = connection.scalar(query)
            if not still:
                break
        return waiting
    finally:
        engine.dispose()


def verify(database_url: str, runs: list[tuple[list[Delivery], Load]]) -> Verification:
    """Read the database directly: each delivery acknowledged is stored once, and its call exists."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT dedupe_key, count(*) FROM provider_event WHERE provider = 'generic' GROUP BY dedupe_key")
            )
            stored = Counter(dict(rows.all()))
            calls = set(connection.scalars(text("SELECT provider_call_id FROM call WHERE provider = 'generic'")))
            unapplied = set(
                connection.scalars(
                    text("SELECT dedupe_key FROM provider_event WHERE provider = 'generic' AND status <> 'applied'")
                )
            )
    finally:
        engine.dispose()
    call_of = {delivery.msg_id: delivery.call_id for deliveries, _ in runs for delivery in deliveries}
    loads = [load for _, load in runs]
    sent = {msg_id for load in loads for msg_id in load.sent}
    stored_of_sent = stored.keys() & sent
    acked = sum(load.acked for load in loads)
    by_count = any(load.acknowledged is None for load in loads)
    if by_count:
        missing = max(0, acked - len(stored_of_sent))
    else:
        missing = len(set().union(*(load.acknowledged for load in loads)) - stored.keys())
    return Verification(
        acknowledged=acked,
        stored=len(stored_of_sent),
        missing=missing,
        duplicated=sum(count > 1 for count in stored.values()),
        never_sent=len(stored.keys() - sent),
        without_call=sum(call_of[msg_id] not in calls for msg_id in stored_of_sent),
        unapplied=len(unapplied & sent),
        by_count=by_count,
    )


@dataclass
class Row:
    """One target's figures."""

    name: str
    load: Load
    cpu_ms: float
    rss_mb: float
    reads_p99_ms: float | None


HEADER = (
    f"{'target':<24} {'acked':>7} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
    f"{'CPU ms':>6} {'RSS MB':>6} {'ratio':>5} {'reads p99':>9}  goal"
)


def format_row(row: Row, ceiling_rate: float, goal: Goal | None = None) -> str:
    ratio = row.load.rate / ceiling_rate if ceiling_rate else math.nan
    reads = f"{row.reads_p99_ms:9.1f}" if row.reads_p99_ms is not None else f"{'-':>9}"
    line = (
        f"{row.name:<24} {row.load.acked:>7} {row.load.rate:>7.0f} {row.load.p50_ms:>7.1f} {row.load.p99_ms:>7.1f} "
        f"{row.load.errors:>6} {row.cpu_ms:>6.2f} {row.rss_mb:>6.0f} {ratio:>5.2f} {reads}"
    )
    if goal is None:
        return line
    verdict = "met" if goal.met(ratio, row.load.p99_ms, row.reads_p99_ms) else "MISSED"
    return f"{line}  {goal.describe()}: {verdict}"


def format_memory(deliveries: int, megabytes: float) -> str:
    if deliveries < RSS_GOAL_DELIVERIES:
        verdict = "not reached here, see --full"
    else:
        verdict = "met" if megabytes < RSS_GOAL_MB else "MISSED"
    return (
        f"  memory: {megabytes:.0f} MB after {deliveries} deliveries "
        f"(goal < {RSS_GOAL_MB} MB after {RSS_GOAL_DELIVERIES}: {verdict})"
    )


class Bench:
    """The runs of one invocation, printed as they end, in a work directory of their own."""

    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.args, self.workdir = args, workdir
        self.generator = (
            Wrk(args.connections, args.threads, workdir) if args.client == "wrk" else PythonClient(args.connections)
        )
        self.deliveries = args.deliveries or DELIVERIES_PER_SECOND * args.duration
        self.secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        self.signer = Signer(self.secret)
        self.failures: list[str] = []

    def run(self) -> None:
        print(f"load: {self.generator.name}, {self.args.connections} connections, {self.args.duration} s per target")
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
        print("CPU ms: server CPU per acknowledged delivery; ratio: req/s over the ceiling's")
        print(HEADER, flush=True)
        ceiling_rate = self._ceiling()
        for target in TARGETS:
            if target.key in self.args.targets:
                self._callsvc(target, ceiling_rate)
        print(f"machine: load average {os.getloadavg()[0]:.1f} at the end")

    def _ceiling(self) -> float:
        port = free_port()
        base, log = f"http://127.0.0.1:{port}", self.workdir / "ceiling.log"
        with serving([sys.executable, str(BENCH / "ceiling.py"), str(port)], environment(), log, base) as server:
            deliveries = Calls().deliveries(self.deliveries)
            row = self._timed_run(server, base, deliveries, name="ceiling (bare FastAPI)", cycle=True)
            self._check_alive(server, row.name, log)
        print(format_row(row, row.load.rate), flush=True)
        return row.load.rate

    def _callsvc(self, target: Target, ceiling_rate: float) -> None:
        port = free_port()
        base, log = f"http://127.0.0.1:{port}", self.workdir / f"{target.database}-{target.workers}.log"
        command = [sys.executable, "-m", "callsvc", "serve", "--workers", str(target.workers)]
        with fresh_database(target.database, self.workdir, self.args.pg_url) as database_url:
            key = admin_key(database_url)
            env = environment(database_url=database_url, generic_secret=self.secret, port=port, log_level="warning")
            with serving(command, env, log, base) as server:
                register_managers(base, key)
                calls = Calls()
                deliveries = calls.deliveries(self.deliveries)
                row = self._timed_run(
                    server, base, deliveries, name=target.name, reads_key=key if target.reads else None
                )
                print(format_row(row, ceiling_rate, target.goal), flush=True)
                runs, memory = [(deliveries, row.load)], None
                if target.database == "sqlite":
                    runs += self._grow(base, calls, row.load)
                    memory = format_memory(sum(load.acked for _, load in runs), rss_mb(server.pid))
                retried = await_retries(database_url)
                self._check_alive(server, target.name, log)
            verification = verify(database_url, runs)
        print(f"  {verification}", flush=True)
        if retried:
            print(f"  {retried} were kept unapplied at first (their call held by another transaction), then retried")
        if memory:
            print(memory, flush=True)
        if not verification.ok:
            self.failures.append(f"{target.name}: {verification}")

    def _timed_run(
        self,
        server: subprocess.Popen,
        base: str,
        deliveries: list[Delivery],
        *,
        name: str,
        cycle: bool = False,
        reads_key: str | None = None,
    ) -> Row:
        """--duration seconds of load, with the reader on when given a key; CPU counted around the load alone."""
        with reading(base, reads_key) as reader:
            cpu_before = cpu_seconds(server.pid)
            load = self.generator.run(base, deliveries, self.signer, self.args.duration, cycle)
            cpu = cpu_seconds(server.pid) - cpu_before
        if load.errors:
            self.failures.append(f"{name}: {load.errors} errors ({dict(load.statuses)}, {load.socket_errors} socket)")
        if reader is not None and reader.failures:
            self.failures.append(f"{name}: {reader.failures} reads failed")
        reads_p99 = percentile(reader.latencies_ms, 0.99) if reader is not None else None
        return Row(name, load, cpu * 1000 / max(load.acked, 1), rss_mb(server.pid), reads_p99)

    def _grow(self, base: str, calls: Calls, first: Load) -> list[tuple[list[Delivery], Load]]:
        """Deliver on until --rss-deliveries are acknowledged in all, a batch signed at a time."""
        per_batch = max(1_000, int(first.rate * BATCH_SECONDS))
        runs, acked = [], first.acked
        while acked < self.args.rss_deliveries:
            batch = calls.deliveries(min(self.args.rss_deliveries - acked, per_batch))
            load = self.generator.run(base, batch, self.signer, SIGNATURES_LAST_SECONDS, cycle=False)
            runs.append((batch, load))
            if not load.acked:
                self.failures.append("memory run: deliveries are no longer acknowledged")
                break
            acked += load.acked
        return runs

    def _check_alive(self, server: subprocess.Popen, name: str, log: Path) -> None:
        if server.poll() is not None:
            self.failures.append(f"{name}: the server exited with code {server.returncode}:\n{log_tail(log)}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds of load per target (default 20)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--deliveries",
        type=int,
        help=f"signed deliveries prepared per target (default {DELIVERIES_PER_SECOND} per second of --duration); "
        "callsvc is sent each once, and its run ends early if they run out; the ceiling goes round them",
    )
    parser.add_argument(
        "--rss-deliveries",
        type=int,
        help=f"deliveries the SQLite process takes before its memory is read (default {QUICK_RSS_DELIVERIES})",
    )
    parser.add_argument("--full", action="store_true", help=f"--rss-deliveries {RSS_GOAL_DELIVERIES}, as the goal says")
    parser.add_argument(
        "--pg-url", default=DEFAULT_PG_URL, help="any database of the PostgreSQL server to create fresh ones on"
    )
    parser.add_argument("--client", choices=("wrk", "python"), help="default: wrk if it is installed")
    parser.add_argument(
        "--targets",
        nargs="+",
        choices=[target.key for target in TARGETS],
        default=[target.key for target in TARGETS],
        help="the callsvc runs to make after the ceiling (default: all)",
    )
    args = parser.parse_args()
    if not 0 < args.duration <= SIGNATURES_LAST_SECONDS:
        parser.error(f"--duration: 1 to {SIGNATURES_LAST_SECONDS} s, so that signatures made before a run stay valid")
    args.client = args.client or ("wrk" if shutil.which("wrk") else "python")
    args.rss_deliveries = args.rss_deliveries or (RSS_GOAL_DELIVERIES if args.full else QUICK_RSS_DELIVERIES)
    return args


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="callsvc-bench-") as workdir:
        bench = Bench(args, Path(workdir))
        bench.run()
    if bench.failures:
        raise SystemExit("\n".join(["FAILED:", *bench.failures]))


if __name__ == "__main__":
    main()
