"""Shared fixtures: a migrated database (SQLite, or PostgreSQL when asked), one rolled-back transaction per test."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, make_url, text
from sqlmodel import Session

from callsvc.app import create_app
from callsvc.clock import Clock
from callsvc.db import build_engine, build_session_factory
from callsvc.jobs import JobContext
from callsvc.schema import upgrade_to_head
from callsvc.settings import Settings
from tests.factories import GENERIC_SECRET, ExplicitSettings

TEST_DATABASE_URL = os.environ.get("CALLSVC_TEST_DATABASE_URL")


class FrozenClock(Clock):
    """A clock that moves only when a test moves it."""

    def __init__(self, now: datetime):
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


@contextmanager
def fresh_database(sqlite_path: Path, prefix: str) -> Iterator[str]:
    """An empty database: a new PostgreSQL database when CALLSVC_TEST_DATABASE_URL is set, else a SQLite file."""
    if not TEST_DATABASE_URL:
        yield f"sqlite:///{sqlite_path}"
        return
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    server = create_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The suite's database for this run."""
    with fresh_database(tmp_path_factory.mktemp("db") / "callsvc.db", "callsvc_test") as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = build_engine(ExplicitSettings(database_url=database_url))
    upgrade_to_head(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """One connection per test, inside a transaction that is rolled back at the end."""
    with engine.connect() as connection:
        transaction = connection.begin()
        yield connection
        transaction.rollback()


@pytest.fixture
def session_factory(connection: Connection):
    return build_session_factory(connection, join_transaction_mode="create_savepoint")


@pytest.fixture
def session(session_factory) -> Iterator[Session]:
    """A session for building and checking rows; requests get their own on the same transaction."""
    with session_factory() as session:
        yield session


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 22, 12, 0, tzinfo=UTC))


@pytest.fixture
def settings_overrides() -> dict:
    """Override in a test module (or parametrize) to run the app with other settings."""
    return {}


@pytest.fixture
def settings(database_url: str, settings_overrides: dict) -> Settings:
    values = {
        "database_url": database_url,
        "generic_secret": GENERIC_SECRET,
        "feed_settle_seconds": 0,
        "scheduler_enabled": False,
        "default_region": "RU",
        **settings_overrides,
    }
    return ExplicitSettings(**values)


@pytest.fixture
def job_context(session_factory, settings: Settings, clock: FrozenClock) -> JobContext:
    """What the scheduler hands a job, on the test's transaction and clock."""
    return JobContext(session_factory=session_factory, settings=settings, clock=clock)


@pytest.fixture
def client(settings: Settings, clock: FrozenClock, session_factory) -> Iterator[TestClient]:
    """The real app over HTTP, its requests sharing the test's transaction."""
    app = create_app(settings, clock=clock)
    app.state.session_factory = session_factory
    with TestClient(app, raise_server_exceptions=True) as client:
        yield client


@pytest.fixture
def tmp_sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"
