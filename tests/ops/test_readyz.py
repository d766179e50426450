"""Readiness as a load balancer sees it when the database stops answering."""

import socket
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from callsvc.app import create_app
from tests.factories import ExplicitSettings


@pytest.fixture
def silent_database_port() -> Iterator[int]:
    """A port where TCP connects and nothing ever answers, as with a stalled database host."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        # Never accepted: the kernel completes the handshakes itself and the bytes sent go unread.
        listener.listen(16)
        yield listener.getsockname()[1]


def test_readyz_answers_503_within_2_seconds_when_the_database_stalls(silent_database_port):
    settings = ExplicitSettings(
        database_url=f"postgresql+psycopg://postgres@127.0.0.1:{silent_database_port}/x", scheduler_enabled=False
    )
    with TestClient(create_app(settings)) as client:
        started = time.monotonic()
        response = client.get("/readyz")
        elapsed = time.monotonic() - started
        assert client.get("/healthz").status_code == 200
    assert (response.status_code, response.json()) == (503, {"status": "unavailable", "database": "not answering"})
    assert elapsed < 4
