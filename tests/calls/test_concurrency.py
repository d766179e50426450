"""Deliveries racing each other through a real server: one call each, and the feed misses none."""

import json
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlmodel import Session, select

from callsvc.app import create_app
from callsvc.calls.models import Call
from callsvc.clock import Clock
from callsvc.db import build_engine, build_session_factory
from callsvc.ingestion.jobs import retry_transient
from callsvc.ingestion.pipeline import RETRY_DELAYS
from callsvc.jobs import JobContext
from callsvc.schema import upgrade_to_head
from tests.conftest import TEST_DATABASE_URL, fresh_database
from tests.factories import GENERIC_SECRET, ExplicitSettings, answered_call, create_key, signed_headers

SETTLE_SECONDS = 0.5


@pytest.fixture
def own_database_url(tmp_path) -> Iterator[str]:
    """A database of its own: this test commits for real, so it must not share the suite's."""
    with fresh_database(tmp_path / "concurrency.db", "callsvc_conc") as url:
        yield url


@pytest.fixture
def server_url(own_database_url) -> Iterator[str]:
    settings = ExplicitSettings(
        database_url=own_database_url,
        generic_secret=GENERIC_SECRET,
        log_level="warning",
        feed_settle_seconds=SETTLE_SECONDS,
        scheduler_enabled=False,
    )
    upgrade_to_head(build_engine(settings))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_simultaneous_first_events_of_a_call_create_it_once(server_url, own_database_url):
    call_ids = [f"race-{index}" for index in range(10)]
    barrier = threading.Barrier(4)

    def deliver(event: dict) -> int:
        body = json.dumps(event)
        with httpx.Client(base_url=server_url, timeout=30) as client:
            barrier.wait()
            return client.post("/webhooks/generic", content=body, headers=signed_headers(body)).status_code

    with ThreadPoolExecutor(4) as pool:
        for call_id in call_ids:
            statuses = list(pool.map(deliver, answered_call(call_id, extension="101", talk=60)))
            assert statuses == [200, 200, 200, 200]

    engine = build_engine(ExplicitSettings(database_url=own_database_url))
    with Session(engine) as session:
        calls = session.exec(select(Call)).all()
    engine.dispose()
    assert sorted(call.provider_call_id for call in calls) == call_ids
    assert {(call.status, call.talk_seconds) for call in calls} == {("completed", 60)}


def post_event(server_url: str, event: dict) -> int:
    body = json.dumps(event)
    return httpx.post(
        f"{server_url}/webhooks/generic", content=body, headers=signed_headers(body), timeout=30
    ).status_code


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="needs a row lock held by another connection: PostgreSQL")
def test_a_change_that_waited_for_a_row_lock_still_reaches_a_crm_polling_the_feed(server_url, own_database_url):
    engine = build_engine(ExplicitSettings(database_url=own_database_url))
    with Session(engine) as session:
        admin = create_key(session)
    *begun_a, end_a = answered_call("slow", extension="101")
    *begun_b, end_b = answered_call("quick", extension="101")
    assert {post_event(server_url, event) for event in begun_a + begun_b} == {200}
    time.sleep(SETTLE_SECONDS + 0.2)

    def poll(cursor: str | None) -> tuple[list[str], str | None]:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        seen = []
        while True:
            page = httpx.get(f"{server_url}/v1/calls", params=params, headers=admin).json()
            seen += [(call["provider_call_id"], call["status"]) for call in page["items"]]
            if not page["next_cursor"]:
                return seen, params.get("cursor")
            params["cursor"] = cursor = page["next_cursor"]

    _, cursor = poll(None)
    with engine.connect() as locker, ThreadPoolExecutor(1) as pool:
        locker.execute(text("SELECT id FROM call WHERE provider_call_id = 'slow' FOR UPDATE"))
        # The end of "slow" waits for the lock, is kept to apply later, while "quick" ends and a CRM reads past it.
        slow = pool.submit(post_event, server_url, end_a)
        time.sleep(0.3)
        assert post_event(server_url, end_b) == 200
        time.sleep(SETTLE_SECONDS + 0.2)
        seen, cursor = poll(cursor)
        assert ("quick", "completed") in seen
        locker.rollback()
        assert slow.result(timeout=30) == 200
    # The retry job applies it once due, and stamps the change then: the CRM's cursor, past
    # "quick", still reaches it.
    time.sleep(RETRY_DELAYS[0].total_seconds())
    settings = ExplicitSettings(database_url=own_database_url, generic_secret=GENERIC_SECRET)
    assert (
        len(
            retry_transient(JobContext(session_factory=build_session_factory(engine), settings=settings, clock=Clock()))
        )
        == 1
    )
    time.sleep(SETTLE_SECONDS + 0.2)
    seen, _ = poll(cursor)
    engine.dispose()
    assert ("slow", "completed") in seen


def test_reads_and_writes_with_a_fresh_key_answer_while_webhooks_are_written(server_url, own_database_url):
    """A key's first use stamps it: on a read that is a write of its own, which must not wait on the request."""
    engine = build_engine(ExplicitSettings(database_url=own_database_url))
    with Session(engine) as session:
        reader, writer = create_key(session), create_key(session)
    engine.dispose()
    with ThreadPoolExecutor(4) as pool:
        posted = pool.map(lambda event: post_event(server_url, event), answered_call("busy", extension="101") * 3)
        listed = httpx.get(f"{server_url}/v1/calls", headers=reader, timeout=3)
        created = httpx.post(
            f"{server_url}/v1/managers",
            json={"name": "Anna", "identities": [{"provider": "generic", "identity": "101"}]},
            headers=writer,
            timeout=3,
        )
        assert set(posted) == {200}
    assert (listed.status_code, created.status_code) == (200, 201)
    keys = httpx.get(f"{server_url}/v1/keys", headers=writer, timeout=3).json()["items"]
    assert all(key["last_used_at"] for key in keys)


@pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="SQLite's write lock, held by another process")
def test_a_read_with_a_key_not_used_lately_answers_while_the_write_lock_is_held(server_url, own_database_url):
    engine = build_engine(ExplicitSettings(database_url=own_database_url))
    with Session(engine) as session:
        reader = create_key(session)
    engine.dispose()
    locker = sqlite3.connect(own_database_url.removeprefix("sqlite:///"))
    locker.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        response = httpx.get(f"{server_url}/v1/calls", headers=reader, timeout=10)
        assert (response.status_code, time.monotonic() - started < 1) == (200, True)
    finally:
        locker.rollback()
        locker.close()


def test_more_concurrent_reads_than_connections_all_answer(server_url, own_database_url):
    """Requests past the pool's size wait their turn for a session; none may hold a thread waiting for one."""
    engine = build_engine(ExplicitSettings(database_url=own_database_url))
    with Session(engine) as session:
        reader = create_key(session)
    engine.dispose()
    httpx.get(f"{server_url}/v1/calls", headers=reader, timeout=10)  # the key's first use is stamped

    def read(_: int) -> int:
        return httpx.get(f"{server_url}/v1/calls", headers=reader, timeout=10).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(80) as pool:
        statuses = list(pool.map(read, range(80)))
    assert (set(statuses), time.monotonic() - started < 4) == ({200}, True)
