"""Webhook ingestion benchmark: a real `callsvc serve`, signed generic events shuffled and retried.

Starts the service on a fresh database, registers three managers, posts every event of
N calls concurrently in random order with a share of retries, then reads the feed back
and checks that each call is there exactly once with the right status, owner and talk
time. Prints throughput and latency.

    .venv/bin/python bench/ingest.py --calls 300
    .venv/bin/python bench/ingest.py --calls 300 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
"""

import argparse
import base64
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
from standardwebhooks.webhooks import Webhook

EXTENSIONS = ("101", "102", "103")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(database_url: str, secret: str, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "CALLSVC_DATABASE_URL": database_url,
        "CALLSVC_GENERIC_SECRET": secret,
        "CALLSVC_PORT": str(port),
        "CALLSVC_LOG_LEVEL": "warning",
        "CALLSVC_FEED_SETTLE_SECONDS": "0",
    }
    server = subprocess.Popen([sys.executable, "-m", "callsvc", "serve"], env=env)
    for _ in range(100):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.kill()
    raise SystemExit("callsvc serve did not become ready")


def admin_key(database_url: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "callsvc", "keys", "create", "--role", "admin", "--name", "bench"],
        env={**os.environ, "CALLSVC_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def call_events(index: int, start: datetime) -> tuple[list[dict], dict]:
    """The events of one call and what the call must look like afterwards."""
    call_id = f"bench-{index}"
    kind = index % 3
    ext = EXTENSIONS[index % len(EXTENSIONS)]
    client = f"8916{index:07d}"

    def at(seconds: int) -> str:
        return (start + timedelta(seconds=seconds)).isoformat()

    started = {
        "type": "call.started",
        "call_id": call_id,
        "occurred_at": at(0),
        "direction": "inbound",
        "from": client,
        "to": "84951112233",
    }
    if kind == 0:
        talk = 30 + index % 200
        events = [
            started,
            {"type": "call.offered", "call_id": call_id, "occurred_at": at(1), "extension": ext},
            {"type": "call.answered", "call_id": call_id, "occurred_at": at(4), "extension": ext},
            {"type": "call.ended", "call_id": call_id, "occurred_at": at(4 + talk), "disposition": "answered"},
        ]
        return events, {"status": "completed", "ext": ext, "talk_seconds": talk}
    if kind == 1:
        events = [
            started,
            {"type": "call.offered", "call_id": call_id, "occurred_at": at(1), "extension": ext},
            {"type": "call.ended", "call_id": call_id, "occurred_at": at(20), "disposition": "no_answer"},
        ]
        return events, {"status": "missed", "ext": ext, "talk_seconds": None}
    events = [
        {**started, "direction": "outbound", "extension": ext, "from": ext, "to": client},
        {"type": "call.ended", "call_id": call_id, "occurred_at": at(25), "disposition": "no_answer"},
    ]
    return events, {"status": "failed", "ext": ext, "talk_seconds": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--retries", type=float, default=0.3, help="share of events delivered twice")
    parser.add_argument("--database-url", help="default: a new SQLite file")
    args = parser.parse_args()

    database_url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    key = admin_key(database_url)
    server = start_server(database_url, secret, port)
    try:
        auth = {"Authorization": f"Bearer {key}"}
        managers = {}
        run = uuid.uuid4().hex[:6]
        for ext in EXTENSIONS:
            body = {"name": f"Bench {ext}", "identities": [{"provider": "generic", "identity": f"{ext}-{run}"}]}
            managers[ext] = httpx.post(f"{base}/v1/managers", json=body, headers=auth).json()["id"]

        start = datetime.now(UTC) - timedelta(hours=1)
        expected, deliveries, originals = {}, [], 0
        for index in range(args.calls):
            events, outcome = call_events(index, start)
            call_id = events[0]["call_id"] = f"{events[0]['call_id']}-{run}"
            for event in events:
                event["call_id"] = call_id
                if "extension" in event:
                    event["extension"] = f"{event['extension']}-{run}"
                delivery = (f"msg_{uuid.uuid4().hex}", json.dumps(event))
                deliveries.append(delivery)
                originals += 1
                if random.random() < args.retries:
                    deliveries.append(delivery)
            expected[call_id] = outcome
        random.shuffle(deliveries)

        webhook = Webhook(secret)
        client = httpx.Client(base_url=base, timeout=30)

        def post(delivery: tuple[str, str]) -> tuple[float, int]:
            msg_id, body = delivery
            now = datetime.now(UTC)
            headers = {
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": webhook.sign(msg_id, now, body),
                "content-type": "application/json",
            }
            began = time.perf_counter()
            status = client.post("/webhooks/generic", content=body, headers=headers).status_code
            return time.perf_counter() - began, status

        began = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            results = list(pool.map(post, deliveries))
        elapsed = time.perf_counter() - began

        statuses = {status for _, status in results}
        latencies = sorted(latency * 1000 for latency, _ in results)
        calls, cursor = {}, None
        while True:
            params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            page = client.get("/v1/calls", params=params, headers=auth).json()
            for call in page["items"]:
                calls.setdefault(call["provider_call_id"], []).append(call)
            cursor = page["next_cursor"]
            if not cursor:
                break
        wrong = [
            call_id
            for call_id, want in expected.items()
            if len(calls.get(call_id, [])) != 1
            or calls[call_id][0]["status"] != want["status"]
            or calls[call_id][0]["manager_id"] != managers[want["ext"]]
            or calls[call_id][0]["talk_seconds"] != want["talk_seconds"]
        ]
        print(f"database      {database_url.split(':')[0]}")
        retried = len(deliveries) - originals
        print(
            f"deliveries    {len(deliveries)} ({args.calls} calls, {retried} retried), concurrency {args.concurrency}"
        )
        print(f"answers       {sorted(statuses)}")
        print(f"throughput    {len(deliveries) / elapsed:.0f} deliveries/s")
        print(
            f"latency ms    p50 {statistics.median(latencies):.1f}  p95 {latencies[int(len(latencies) * 0.95)]:.1f}  "
            f"p99 {latencies[int(len(latencies) * 0.99)]:.1f}  max {latencies[-1]:.1f}"
        )
        print(f"feed check    {len(expected) - len(wrong)}/{len(expected)} calls exactly once and right")
        if wrong or statuses != {200}:
            raise SystemExit(f"FAILED: {wrong[:5]}")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
