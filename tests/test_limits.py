"""Request body limits, as a PBX, an API client or an abuser meets them."""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from callsvc.auth.models import Role
from callsvc.db import build_engine
from callsvc.routing import API_BODY_BYTES
from callsvc.schema import MIGRATION_LOCK_KEY, upgrade_to_head
from tests.conftest import TEST_DATABASE_URL
from tests.factories import GENERIC_SECRET, ExplicitSettings, answered_call, create_key, post_generic

CAP = 4096
READ_TIMEOUT_SECONDS = 0.25


@pytest.fixture
def settings_overrides() -> dict:
    return {"max_body_bytes": CAP}


def chunks(total: int, size: int = 1024):
    """A body without Content-Length, sent in chunks as a streaming client would."""
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


def manager_body(size: int) -> bytes:
    """A valid POST /v1/managers body padded with whitespace to `size` bytes."""
    body = json.dumps({"name": "Anna", "identities": []}).encode()
    return body.ljust(size)


class TestBodyCap:
    def test_a_webhook_under_the_cap_is_taken(self, client):
        assert post_generic(client, answered_call("under-cap")[0]).status_code == 200

    def test_a_body_of_exactly_the_cap_is_read(self, client):
        # It is read and checked: unsigned, it fails authentication, not the size check.
        assert client.post("/webhooks/generic", content=b"x" * CAP).status_code == 401

    def test_a_declared_length_over_the_cap_gets_413(self, client):
        response = client.post("/webhooks/generic", content=b"x" * (CAP + 1))
        assert response.status_code == 413
        assert response.json() == {
            "detail": f"the request body is larger than {CAP} bytes",
            "code": "body_too_large",
        }

    def test_a_chunked_body_growing_past_the_cap_gets_413(self, client):
        response = client.post("/webhooks/generic", content=chunks(CAP * 4))
        assert response.status_code == 413
        assert response.json()["code"] == "body_too_large"

    def test_an_api_route_gets_413_too(self, client, session):
        admin = create_key(session)
        headers = {**admin, "content-type": "application/json"}
        assert client.post("/v1/managers", content=manager_body(CAP), headers=headers).status_code == 201
        too_large = client.post("/v1/managers", content=manager_body(CAP + 1), headers=headers)
        assert (too_large.status_code, too_large.json()["code"]) == (413, "body_too_large")

    def test_an_api_route_reading_a_chunked_body_gets_413_not_400(self, client, session):
        headers = {**create_key(session), "content-type": "application/json"}
        response = client.post("/v1/managers", content=chunks(CAP * 4), headers=headers)
        assert (response.status_code, response.json()["code"]) == (413, "body_too_large")


@dataclass(frozen=True)
class Server:
    url: str
    pid: int
    admin_key: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator["Server"]:
    """`callsvc serve` in a process of its own, with an admin key."""
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("CALLSVC_")}
    env.update(
        CALLSVC_DATABASE_URL=f"sqlite:///{tmp_path_factory.mktemp('serve') / 'callsvc.db'}",
        CALLSVC_PORT=str(port),
        CALLSVC_GENERIC_SECRET=GENERIC_SECRET,
        CALLSVC_SCHEDULER_ENABLED="false",
        CALLSVC_LOG_LEVEL="warning",
        CALLSVC_BODY_READ_TIMEOUT_SECONDS=str(READ_TIMEOUT_SECONDS),
    )
    # The key first: both commands migrate a fresh file, and must not do it at the same time.
    admin_key = subprocess.run(
        [sys.executable, "-m", "callsvc", "keys", "create", "--role", "admin", "--name", "limits"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()[-1]
    process = subprocess.Popen([sys.executable, "-m", "callsvc", "serve"], env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                httpx.get(f"{url}/healthz")
                break
            except httpx.TransportError:
                assert process.poll() is None, "callsvc serve exited"
                assert time.monotonic() < deadline, "callsvc serve did not start"
                time.sleep(0.05)
        yield Server(url=url, pid=process.pid, admin_key=admin_key)
    finally:
        process.terminate()
        process.wait(timeout=10)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def hundred_megabytes():
    for _ in range(100):
        yield b"x" * 1024 * 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the server's memory from /proc")
def test_100_mb_bodies_are_refused_without_the_server_holding_them(server):
    url, pid = server.url, server.pid
    # A first refusal warms up whatever answering one takes, so that only what the bodies cost is measured.
    assert httpx.post(f"{url}/webhooks/generic", content=b"{}").status_code == 401
    before = rss_bytes(pid)
    for declared in (False, True, False, True):
        headers = {"content-length": str(100 * 1024 * 1024)} if declared else {}
        response = httpx.post(f"{url}/webhooks/generic", content=hundred_megabytes(), headers=headers, timeout=60)
        assert (response.status_code, response.json()["code"]) == (413, "body_too_large")
    assert rss_bytes(pid) - before < 20 * 1024 * 1024


@pytest.mark.parametrize("path", ["/webhooks/generic", "/v1/managers"])
def test_a_body_trickling_in_gets_408_and_the_connection_closes(server, path):
    with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), timeout=30) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nhost: callsvc\r\ncontent-type: application/json\r\n"
            f"authorization: Bearer {server.admin_key}\r\ncontent-length: 1000\r\n\r\n{{".encode()
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in head.lower()
    assert json.loads(body) == {
        "detail": f"the request body took longer than {READ_TIMEOUT_SECONDS:g} s to arrive",
        "code": "body_read_timeout",
    }


def test_an_api_body_sent_without_a_key_is_refused_before_it_is_read(server):
    with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/managers HTTP/1.1\r\nhost: callsvc\r\ncontent-type: application/json\r\n"
            b"content-length: 1000\r\n\r\n{"
        )
        head = sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 401 ")


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="row locks held across connections: PostgreSQL")
def test_an_update_behind_a_row_lock_gives_up_at_the_lock_timeout(database_url, engine):
    waiting = build_engine(ExplicitSettings(database_url=database_url, db_lock_timeout_ms=300))
    with engine.connect() as holder, waiting.connect() as waiter:
        # The migration's own row: committed in every database, so both connections see it.
        holder.execute(text("SELECT version_num FROM alembic_version FOR UPDATE"))
        started = time.monotonic()
        with pytest.raises(OperationalError, match="lock timeout"):
            waiter.execute(text("UPDATE alembic_version SET version_num = version_num"))
        waited = time.monotonic() - started
        holder.rollback()
    waiting.dispose()
    assert 0.3 <= waited < 2


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="statement timeouts: PostgreSQL")
def test_a_statement_running_past_the_statement_timeout_is_cancelled(database_url):
    limited = build_engine(ExplicitSettings(database_url=database_url, db_statement_timeout_ms=200))
    with limited.connect() as connection, pytest.raises(OperationalError, match="statement timeout"):
        connection.execute(text("SELECT pg_sleep(10)"))
    limited.dispose()


def test_sqlite_waits_for_another_writer_only_as_long_as_the_lock_timeout(tmp_path):
    settings = ExplicitSettings(database_url=f"sqlite:///{tmp_path / 'locked.db'}", db_lock_timeout_ms=300)
    holder_engine, waiter_engine = build_engine(settings), build_engine(settings)
    with holder_engine.connect() as holder, waiter_engine.connect() as waiter:
        holder.execute(text("CREATE TABLE t (id INTEGER)"))  # the writer keeps its lock until it commits
        started = time.monotonic()
        with pytest.raises(OperationalError, match="database is locked"):
            waiter.execute(text("INSERT INTO t VALUES (1)"))
        waited = time.monotonic() - started
    holder_engine.dispose()
    waiter_engine.dispose()
    assert 0.3 <= waited < 2


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="the migration lock is PostgreSQL's")
def test_a_process_starting_during_another_s_migration_waits_past_the_lock_timeout(database_url, engine):
    starting = build_engine(ExplicitSettings(database_url=database_url, db_lock_timeout_ms=100))
    with engine.connect() as migrating, ThreadPoolExecutor(1) as pool:
        migrating.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        upgrade = pool.submit(upgrade_to_head, starting)
        time.sleep(0.5)
        assert not upgrade.done()
        migrating.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
        migrating.commit()
        upgrade.result(timeout=30)
    starting.dispose()


def test_an_api_body_over_64_kib_is_refused_even_from_a_valid_key(client, session):
    headers = {**create_key(session, role=Role.crm), "content-type": "application/json"}
    body = json.dumps({"name": "x" * (API_BODY_BYTES + 1)})
    response = client.post("/v1/managers", content=body, headers=headers)
    assert (response.status_code, response.json()["code"]) == (413, "body_too_large")
