"""`callsvc serve` killed with SIGKILL under load: no acknowledged delivery is lost, none is stored twice.

A server that answered a delivery before its transaction committed, and was killed between the
two, would have acknowledged a delivery the restarted server does not hold: the first check fails.
"""

import asyncio
import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import fresh_database
from tests.factories import answered_call, signed_headers

CALLS = 125
CONCURRENCY = 32
KILL_AFTER_ACKS = 300
READY_TIMEOUT_SECONDS = 30
REQUEST_TIMEOUT_SECONDS = 10
ROUND_TIMEOUT_SECONDS = 60
EXIT_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Delivery:
    msg_id: str
    call_id: str
    body: str


@dataclass(frozen=True)
class Server:
    url: str
    process: subprocess.Popen


@dataclass(frozen=True)
class Stored:
    """What the database holds: each generic delivery's dedupe key and status, each generic call's id."""

    events: list[tuple[str, str]]
    call_ids: list[str]


@pytest.fixture
def own_database_url(tmp_path) -> Iterator[str]:
    """A database of its own: the server commits for real and is killed mid-write, so it must not share the suite's."""
    with fresh_database(tmp_path / "kill.db", "callsvc_kill") as url:
        yield url


def all_deliveries() -> list[Delivery]:
    """Every event of CALLS answered calls, each a delivery of its own."""
    return [
        Delivery(f"msg_kill_{index}_{position}", event["call_id"], json.dumps(event))
        for index in range(CALLS)
        for position, event in enumerate(answered_call(f"kill-{index}"))
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(server: Server) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        assert server.process.poll() is None, "callsvc serve exited"
        try:
            if httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "callsvc serve was not ready in time"
        time.sleep(0.05)


@contextmanager
def serving(database_url: str, secret: str) -> Iterator[Server]:
    """`callsvc serve` on the database, ready; killed on the way out whatever happened."""
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("CALLSVC_")}
    env.update(
        CALLSVC_DATABASE_URL=database_url,
        CALLSVC_GENERIC_SECRET=secret,
        CALLSVC_HOST="127.0.0.1",
        CALLSVC_PORT=str(port),
        CALLSVC_LOG_LEVEL="warning",
        CALLSVC_SCHEDULER_ENABLED="false",
    )
    process = subprocess.Popen([sys.executable, "-m", "callsvc", "serve"], env=env)
    try:
        server = Server(url=f"http://127.0.0.1:{port}", process=process)
        wait_until_ready(server)
        yield server
    finally:
        process.kill()
        process.wait(timeout=EXIT_TIMEOUT_SECONDS)


async def post(client: httpx.AsyncClient, delivery: Delivery, secret: str) -> httpx.Response:
    headers = signed_headers(delivery.body, msg_id=delivery.msg_id, secret=secret)
    return await client.post("/webhooks/generic", content=delivery.body, headers=headers)


async def on_connections(server: Server, worker: Callable[[httpx.AsyncClient], Awaitable[None]]) -> None:
    """Run CONCURRENCY copies of the worker at once, over as many keep-alive connections, within a time limit."""
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=server.url, timeout=REQUEST_TIMEOUT_SECONDS, limits=limits) as client:
        workers = asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
        await asyncio.wait_for(workers, ROUND_TIMEOUT_SECONDS)


async def deliver_until_killed(server: Server, secret: str, deliveries: list[Delivery]) -> set[str]:
    """Post the deliveries, SIGKILL the server at KILL_AFTER_ACKS 2xx answers; return the ids answered 2xx."""
    acknowledged: set[str] = set()
    queue = iter(deliveries)

    async def worker(client: httpx.AsyncClient) -> None:
        for delivery in queue:
            if len(acknowledged) >= KILL_AFTER_ACKS:
                return
            try:
                response = await post(client, delivery, secret)
            except httpx.TransportError:
                continue
            if response.is_success:
                acknowledged.add(delivery.msg_id)
                if len(acknowledged) == KILL_AFTER_ACKS:
                    os.kill(server.process.pid, signal.SIGKILL)

    await on_connections(server, worker)
    return acknowledged


async def deliver_again(server: Server, secret: str, deliveries: list[Delivery]) -> dict[str, httpx.Response]:
    """Post every delivery once more; return each one's answer."""
    answers: dict[str, httpx.Response] = {}
    queue = iter(deliveries)

    async def worker(client: httpx.AsyncClient) -> None:
        for delivery in queue:
            answers[delivery.msg_id] = await post(client, delivery, secret)

    await on_connections(server, worker)
    return answers


def stored(database_url: str) -> Stored:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            events = connection.execute(
                text("SELECT dedupe_key, status FROM provider_event WHERE provider = 'generic'")
            ).all()
            call_ids = connection.execute(
                text("SELECT provider_call_id FROM call WHERE provider = 'generic'")
            ).scalars()
            return Stored(events=[tuple(row) for row in events], call_ids=list(call_ids))
    finally:
        engine.dispose()


def test_a_killed_server_keeps_every_delivery_it_acknowledged_and_a_resend_stores_none_twice(own_database_url):
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    deliveries = all_deliveries()
    call_of = {delivery.msg_id: delivery.call_id for delivery in deliveries}

    with serving(own_database_url, secret) as server:
        acknowledged = asyncio.run(deliver_until_killed(server, secret, deliveries))
        assert KILL_AFTER_ACKS <= len(acknowledged) < len(deliveries)
        assert server.process.wait(timeout=EXIT_TIMEOUT_SECONDS) == -signal.SIGKILL

    with serving(own_database_url, secret) as server:
        after_kill = stored(own_database_url)
        statuses = dict(after_kill.events)
        assert sorted(acknowledged - statuses.keys()) == []
        assert {statuses[msg_id] for msg_id in acknowledged} == {"applied"}
        assert sorted({call_of[msg_id] for msg_id in acknowledged} - set(after_kill.call_ids)) == []

        answers = asyncio.run(deliver_again(server, secret, deliveries))

    assert [msg_id for msg_id, response in answers.items() if not response.is_success] == []
    assert {answers[msg_id].json()["status"] for msg_id in acknowledged} == {"duplicate"}
    after_resend = stored(own_database_url)
    assert sorted(msg_id for msg_id, _ in after_resend.events) == sorted(delivery.msg_id for delivery in deliveries)
    assert {status for _, status in after_resend.events} == {"applied"}
    assert sorted(after_resend.call_ids) == sorted(set(call_of.values()))
