"""The ingest path's SQL: plain statements on the transaction's own DBAPI connection, SQLite or PostgreSQL.

The rest of the API goes through the ORM; this path runs for every PBX delivery, so it skips the
ORM's unit of work and SQLAlchemy's statement layer, and speaks to the driver directly inside
the transaction SQLAlchemy began (a test's, a job's or the writer's).
"""

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import Enum
from functools import cache
from typing import Any

import psycopg
from sqlalchemy import Table
from sqlmodel import Session

from callsvc.calls.models import Call, CallEventRecord
from callsvc.calls.state import EventFacts
from callsvc.db import UTCDateTime
from callsvc.ingestion.models import ProviderEvent


def _datetime_columns(*tables: Table) -> frozenset[str]:
    return frozenset(column.name for table in tables for column in table.c if isinstance(column.type, UTCDateTime))


DATETIME_COLUMNS = _datetime_columns(Call.__table__, CallEventRecord.__table__, ProviderEvent.__table__)
CALL_COLUMNS = tuple(column.name for column in Call.__table__.c)
DELIVERY_COLUMNS = tuple(column.name for column in ProviderEvent.__table__.c)
EVENT_COLUMNS = tuple(column.name for column in CallEventRecord.__table__.c if column.name != "id")


@dataclass(frozen=True)
class CallRow:
    """A call as the ingest path read it, under its row lock."""

    values: Mapping[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


STORED_EVENT_COLUMNS = tuple(field.name for field in fields(EventFacts))


@cache
def _pyformat(sql: str) -> str:
    # psycopg takes %(name)s; the statements are written once, in SQLite's :name style.
    return re.sub(r"(?<!:):([a-z_]+)", r"%(\1)s", sql)


class Store:
    """The hot path's statements, run on one DBAPI connection inside a transaction already begun."""

    def __init__(self, dbapi_connection: Any, dialect: str):
        self.sqlite = dialect == "sqlite"
        self._connection = dbapi_connection
        self._cursor = dbapi_connection.cursor()
        self._lock = "" if self.sqlite else " FOR UPDATE"
        self._savepoints = 0
        self._pipeline: Any = None

    @classmethod
    def of(cls, session: Session) -> "Store":
        """The store on a session's connection, inside the session's transaction."""
        connection = session.connection()
        return cls(connection.connection.driver_connection, connection.dialect.name)

    @contextmanager
    def pipeline(self) -> Iterator[None]:
        """On PostgreSQL, send statements without waiting: reading an answer waits for all sent before it."""
        if self.sqlite:
            yield
            return
        with self._connection.pipeline() as pipeline:
            self._pipeline = pipeline
            try:
                yield
            finally:
                self._pipeline = None

    # Statements

    def limit_lock_wait(self, milliseconds: int) -> None:
        """Wait at most this long for a row lock, until the transaction ends (SQLite's single writer waits for none)."""
        if not self.sqlite:
            self._run(f"SET LOCAL lock_timeout = {int(milliseconds)}")

    def _run(self, sql: str, params: Mapping[str, Any] | None = None, *, cursor: Any = None) -> Any:
        cursor = cursor or self._cursor
        # The checks are inline: this runs for every value of every statement on the ingest path.
        if self.sqlite:
            return cursor.execute(
                sql,
                {
                    name: _to_sqlite(value) if value.__class__ is datetime else value
                    for name, value in (params or {}).items()
                },
            )
        return cursor.execute(
            _pyformat(sql),
            {name: value.value if isinstance(value, Enum) else value for name, value in (params or {}).items()},
        )

    def _send(self, sql: str, params: Mapping[str, Any]) -> Any:
        """Send a statement whose answer is read later: in a pipeline, after the statements sent behind it."""
        if self.sqlite:
            # SQLite answers at once; a statement left half read would block ROLLBACK TO SAVEPOINT.
            return _Answer(self._run(sql, params).fetchall())
        return self._run(sql, params, cursor=self._connection.cursor())

    def _select(self, columns: tuple[str, ...], sql: str, params: Mapping[str, Any]) -> Any:
        # The columns are named here: psycopg builds its description anew on every read.
        return self._send(f"SELECT {', '.join(columns)} {sql}", params)

    def _fetch(self, columns: tuple[str, ...], cursor: Any) -> list[dict[str, Any]]:
        times = DATETIME_COLUMNS.intersection(columns)
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        for row in rows:
            for name in times:
                row[name] = _from_database(row[name])
        return rows

    def _rows(self, columns: tuple[str, ...], sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        return self._fetch(columns, self._select(columns, sql, params))

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo only what the block wrote if it fails, leaving the rest of the transaction whole."""
        self._savepoints += 1
        name = f"delivery_{self._savepoints}"
        self._run(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            if self._pipeline is not None:
                # After an error PostgreSQL skips what follows until a sync: the sync ends that state.
                with suppress(psycopg.Error):
                    self._pipeline.sync()
            self._run(f"ROLLBACK TO SAVEPOINT {name}")
            self._run(f"RELEASE SAVEPOINT {name}")
            raise
        self._run(f"RELEASE SAVEPOINT {name}")

    def insert_ignoring_conflict(self, table: str, values: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
        """Send INSERT … ON CONFLICT DO NOTHING; `inserted_id` of what this returns reads the outcome."""
        return self._send(_insert_ignoring_conflict(table, tuple(values), keys), values)

    @staticmethod
    def inserted_id(sent: Any) -> int | None:
        """The new row's id, or None when the row existed."""
        row = sent.fetchone()
        return row[0] if row else None

    def update(self, table: str, row_id: int, values: Mapping[str, Any]) -> None:
        """Set some columns of one row."""
        assignments = ", ".join(f"{name} = :{name}" for name in values)
        self._run(f"UPDATE {table} SET {assignments} WHERE id = :row_id", {**values, "row_id": row_id})

    def send_delivery_status(self, provider: str, dedupe_key: str) -> Any:
        """Send the read of a kept delivery's status and error; `.fetchone()` of what this returns reads them."""
        sql = "SELECT status, error FROM provider_event WHERE provider = :provider AND dedupe_key = :dedupe_key"
        return self._send(sql, {"provider": provider, "dedupe_key": dedupe_key})

    def kept_delivery(self, event_id: int, *, lock: bool = False) -> dict[str, Any] | None:
        """A kept delivery's row, its body included; locked if asked, so it is applied once."""
        sql = "FROM provider_event WHERE id = :id" + (self._lock if lock else "")
        rows = self._rows(DELIVERY_COLUMNS, sql, {"id": event_id})
        return rows[0] if rows else None

    def send_event(
        self, event: Mapping[str, Any], *, call: Mapping[str, Any], delivery: tuple[str, str]
    ) -> "SentEvent":
        """Send the statements storing an event, creating its call if it is the first; `read_event` reads their answer.

        Nothing sent waits for an answer: the call, the delivery and the manager the PBX identity
        names are found by subqueries. The call is inserted or, when it exists, locked and read as
        it was, by one upsert; then the event is stored, and the call's events read back.
        """
        where_call = {"call_provider": call["provider"], "call_id": call["provider_call_id"]}
        locked = self._send(_upsert_call(tuple(call)), call)
        identity = event.get("identity")
        self._run(
            _INSERT_EVENT,
            {
                **event,
                **where_call,
                "delivery_provider": delivery[0],
                "delivery_key": delivery[1],
                "trimmed_identity": identity.strip() if identity else None,
            },
        )
        events = self._select(STORED_EVENT_COLUMNS, f"FROM call_event WHERE call_id = ({_FIND_CALL})", where_call)
        return SentEvent(locked, events)

    def read_event(self, sent: "SentEvent") -> tuple[bool, CallRow, list[EventFacts]]:
        """What storing an event found: whether its call is new, the call as it was, and all its events by then."""
        [row] = self._fetch(CALL_COLUMNS, sent.call)
        stored = [EventFacts(**row) for row in self._fetch(STORED_EVENT_COLUMNS, sent.events)]
        return len(stored) == 1, CallRow(row), stored


@dataclass(frozen=True)
class SentEvent:
    """The answers, still to be read, of the statements that stored an event."""

    call: Any
    events: Any


_FIND_CALL = "SELECT id FROM call WHERE provider = :call_provider AND provider_call_id = :call_id"
_EVENT_VALUES = [name for name in EVENT_COLUMNS if name not in ("call_id", "provider_event_id", "manager_id")]
_INSERT_EVENT = (
    f"INSERT INTO call_event ({', '.join(_EVENT_VALUES)}, call_id, provider_event_id, manager_id) "
    f"VALUES ({', '.join(f':{name}' for name in _EVENT_VALUES)}, "
    f"({_FIND_CALL}), "
    "(SELECT id FROM provider_event WHERE provider = :delivery_provider AND dedupe_key = :delivery_key), "
    "(SELECT manager_id FROM manager_identity WHERE provider = :call_provider AND identity = :trimmed_identity))"
)


@dataclass
class _Answer:
    """The rows a statement gave, read in full, with a cursor's way of reading them."""

    rows: list[tuple[Any, ...]]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None


@cache
def _upsert_call(columns: tuple[str, ...]) -> str:
    # The no-op update takes the row lock, as SELECT … FOR UPDATE would, and RETURNING reads the row.
    return (
        f"INSERT INTO call ({', '.join(columns)}) VALUES ({', '.join(f':{name}' for name in columns)}) "
        "ON CONFLICT (provider, provider_call_id) DO UPDATE SET provider = excluded.provider "
        f"RETURNING {', '.join(CALL_COLUMNS)}"
    )


@cache
def _insert_ignoring_conflict(table: str, columns: tuple[str, ...], keys: tuple[str, ...]) -> str:
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(f':{name}' for name in columns)}) "
        f"ON CONFLICT ({', '.join(keys)}) DO NOTHING RETURNING id"
    )


def _to_sqlite(value: datetime) -> str:
    # As SQLAlchemy stores a DateTime on SQLite: naive UTC text, microseconds included. The
    # driver takes the enums, which are str, as they are.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _from_database(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.astimezone(UTC)
