"""Several deliveries of one new call at the same instant, through a real server, make one call."""

import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from sqlmodel import Session, select

from callsvc.app import create_app
from callsvc.calls.models import Call
from callsvc.db import build_engine
from callsvc.schema import upgrade_to_head
from callsvc.settings import Settings
from tests.conftest import fresh_database
from tests.factories import GENERIC_SECRET, answered_call, signed_headers


@pytest.fixture
def own_database_url(tmp_path) -> Iterator[str]:
    """A database of its own: this test commits for real, so it must not share the suite's."""
    with fresh_database(tmp_path / "concurrency.db", "callsvc_conc") as url:
        yield url


@pytest.fixture
def server_url(own_database_url) -> Iterator[str]:
    settings = Settings(database_url=own_database_url, generic_secret=GENERIC_SECRET, log_level="warning")
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

    engine = build_engine(Settings(database_url=own_database_url))
    with Session(engine) as session:
        calls = session.exec(select(Call)).all()
    engine.dispose()
    assert sorted(call.provider_call_id for call in calls) == call_ids
    assert {(call.status, call.talk_seconds) for call in calls} == {("completed", 60)}
