"""Engine, sessions and the column types and statements shared by every table."""

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
import psycopg.errors
from anyio import to_thread
from fastapi import Depends, Request
from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel

from callsvc.settings import Settings

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata
READ_METHODS = ("GET", "HEAD")
# Connections for reads on SQLite; each holds a thread of the pool while a sync route runs.
SQLITE_READERS = 8
# Requests holding a PostgreSQL session at once: the pool's 20, less the webhook writers' and the jobs'.
POSTGRESQL_REQUEST_SESSIONS = 12


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back tz-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; attach a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def build_engine(settings: Settings, *, read_only: bool = False, ping: bool = True) -> Engine:
    """Create the engine: SQLite in WAL mode with immediate write locks, or a pooled PostgreSQL.

    On SQLite, `read_only` gives the engine reads go through: several connections that never
    take the write lock, so in WAL mode they never wait for the writer. On PostgreSQL, `ping`
    checks a pooled connection with a round trip before handing it out; the delivery writer
    goes without, since a batch that fails on a dead connection is written again on a new one.
    Statement parameters are left out of error messages: they hold phone numbers.
    """
    if not settings.is_sqlite:
        # Without these a stalled or locked database holds a request, and its pooled connection, for good.
        options = (
            f"-c statement_timeout={settings.db_statement_timeout_ms} -c lock_timeout={settings.db_lock_timeout_ms}"
        )
        # The server enforces the two timeouts above; a network that stops carrying packets is caught
        # here instead, so an open connection to a vanished server fails rather than hangs.
        network = {
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 3,
            "tcp_user_timeout": settings.db_statement_timeout_ms + settings.db_connect_timeout_s * 1000,
        }
        return create_engine(
            settings.database_url,
            connect_args={"connect_timeout": settings.db_connect_timeout_s, "options": options, **network},
            pool_pre_ping=ping,
            pool_size=10,
            max_overflow=10,
            pool_timeout=settings.db_connect_timeout_s,
            hide_parameters=True,
        )
    # SQLite lets one writer in at a time; with a single pooled connection, writes queue on
    # the pool (first come, first served) instead of polling SQLite's busy handler.
    engine = create_engine(
        settings.database_url,
        connect_args={"check_same_thread": False},
        pool_size=SQLITE_READERS if read_only else 1,
        max_overflow=0,
        pool_timeout=settings.db_connect_timeout_s,
        hide_parameters=True,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _: Any) -> None:
        # SQLAlchemy's documented pysqlite workaround: the driver's own BEGIN handling
        # breaks SAVEPOINT, so autocommit is set and BEGIN is emitted below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Another process holding the write lock (a migration, the command line) is waited for this long.
        cursor.execute(f"PRAGMA busy_timeout={settings.db_lock_timeout_ms}")
        # FULL: a committed (and so acknowledged) delivery survives a power cut, not only a crash.
        cursor.execute(f"PRAGMA synchronous={settings.sqlite_synchronous}")
        if read_only:
            cursor.execute("PRAGMA query_only=1")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front, so a transaction that reads and then
        # writes waits for its turn instead of failing with SQLITE_BUSY on the upgrade.
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def build_session_factory(bind: Any, **options: Any) -> sessionmaker[Session]:
    """Return the factory every request and job takes its session from."""
    return sessionmaker(bind=bind, class_=Session, expire_on_commit=False, **options)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Open a session that commits on success and rolls back on error."""
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


async def get_session(request: Request) -> AsyncIterator[Session]:
    """Give a route its transaction, committed before the response is sent; a GET only reads.

    A request waits, on the event loop, for one of as many slots as there are connections before
    its session opens. Were it to wait for the pool in a thread instead, enough such requests would
    hold every thread while those holding the connections wait for a thread to finish on.
    """
    reads = request.method in READ_METHODS
    state = request.app.state
    factory = state.read_session_factory if reads else state.session_factory
    async with state.read_slots if reads else state.write_slots:
        session = factory()
        try:
            yield session
            await to_thread.run_sync(session.commit)
        except BaseException:
            await to_thread.run_sync(session.rollback)
            raise
        finally:
            await to_thread.run_sync(session.close)


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


# Lock not available, query cancelled (statement or lock timeout), serialization failure, deadlock,
# and the server ending the session: each may pass by itself, so the work is worth trying again.
TRANSIENT_SQLSTATES = {"55P03", "57014", "40001", "40P01", "57P01", "57P02", "57P03"}
# SQLITE_BUSY and SQLITE_LOCKED: another writer held the database longer than busy_timeout.
TRANSIENT_SQLITE_CODES = {5, 6}


def is_transient(exc: BaseException) -> bool:
    """Tell whether a database failure may pass by itself: a timeout, a lock, a deadlock or a lost connection.

    Takes SQLAlchemy's errors and the drivers' own, which the ingest path meets directly.
    """
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate:
        # Class 08 is a connection failure, class 53 the server out of resources (too many connections).
        return sqlstate in TRANSIENT_SQLSTATES or sqlstate.startswith(("08", "53"))
    if isinstance(exc, psycopg.errors.PipelineAborted):
        return False  # a statement sent before it failed: that one said whether it may pass
    if isinstance(exc, psycopg.Error):
        # psycopg gives no SQLSTATE when the server could not be reached or the connection broke.
        return isinstance(exc, psycopg.OperationalError)
    code = getattr(exc, "sqlite_errorcode", None)
    # Extended codes (SQLITE_BUSY_SNAPSHOT, …) keep the primary code in their low byte.
    return code is not None and code & 0xFF in TRANSIENT_SQLITE_CODES
