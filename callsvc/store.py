"""The ingest path's SQL: plain statements on the transaction's own DBAPI connection, SQLite or PostgreSQL.

The rest of the API goes through the ORM; this path runs for every PBX delivery, so it skips the
ORM's unit of work and SQLAlchemy's statement layer, and speaks to the driver directly inside
the transaction SQLAlchemy began (a test's, a job's or the writer's).
"""

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import Enum
from functools import cache
from typing import Any

from sqlalchemy import Table
from sqlmodel import Session

from callsvc.calls.models import Call, CallEventRecord
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


@dataclass(frozen=True)
class StoredEvent:
    """A call's event as stored: what deriving the call's state reads."""

    kind: str
    occurred_at: datetime
    seq: int | None
    direction: str | None
    from_number: str | None
    to_number: str | None
    identity: str | None
    manager_id: int | None
    disposition: str | None
    talk_seconds: int | None
    recording_url: str | None
    recording_ref: str | None
    tie_break: str


STORED_EVENT_COLUMNS = tuple(field.name for field in fields(StoredEvent))


@cache
def _pyformat(sql: str) -> str:
    # psycopg takes %(name)s; the statements are written once, in SQLite's :name style.
    return re.sub(r"(?<!:):([a-z_]+)", r"%(\1)s", sql)


class Store:
    """The hot path's statements, run on one DBAPI connection inside a transaction already begun."""

    def __init__(self, dbapi_connection: Any, dialect: str):
        self.sqlite = dialect == "sqlite"
        self._cursor = dbapi_connection.cursor()
        self._lock = "" if self.sqlite else " FOR UPDATE"
        self._savepoints = 0

    @classmethod
    def of(cls, session: Session) -> "Store":
        """The store on a session's connection, inside the session's transaction."""
        connection = session.connection()
        return cls(connection.connection.driver_connection, connection.dialect.name)

    # Statements

    def _run(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        if self.sqlite:
            return self._cursor.execute(sql, {name: _to_sqlite(value) for name, value in (params or {}).items()})
        return self._cursor.execute(_pyformat(sql), {name: _to_python(value) for name, value in (params or {}).items()})

    def _rows(self, columns: tuple[str, ...], sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """SELECT the columns (named here: psycopg builds its description anew on every read) and the rest of sql."""
        cursor = self._run(f"SELECT {', '.join(columns)} {sql}", params)
        times = DATETIME_COLUMNS.intersection(columns)
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        for row in rows:
            for name in times:
                row[name] = _from_database(row[name])
        return rows

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo only what the block wrote if it fails, leaving the rest of the transaction whole."""
        self._savepoints += 1
        name = f"delivery_{self._savepoints}"
        self._run(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self._run(f"ROLLBACK TO SAVEPOINT {name}")
            self._run(f"RELEASE SAVEPOINT {name}")
            raise
        self._run(f"RELEASE SAVEPOINT {name}")

    def insert_ignoring_conflict(self, table: str, values: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
        """INSERT … ON CONFLICT DO NOTHING; the new row's id, or None when it existed."""
        row = self._run(_insert_ignoring_conflict(table, tuple(values), keys), values).fetchone()
        return row[0] if row else None

    def update(self, table: str, row_id: int, values: Mapping[str, Any]) -> None:
        """Set some columns of one row."""
        assignments = ", ".join(f"{name} = :{name}" for name in values)
        self._run(f"UPDATE {table} SET {assignments} WHERE id = :row_id", {**values, "row_id": row_id})

    def delivery_status(self, provider: str, dedupe_key: str) -> tuple[str, str | None]:
        """The status and error a delivery was kept with."""
        sql = "SELECT status, error FROM provider_event WHERE provider = :provider AND dedupe_key = :dedupe_key"
        return tuple(self._run(sql, {"provider": provider, "dedupe_key": dedupe_key}).fetchone())

    def kept_delivery(self, event_id: int, *, lock: bool = False) -> dict[str, Any] | None:
        """A kept delivery's row, its body included; locked if asked, so it is applied once."""
        sql = "FROM provider_event WHERE id = :id" + (self._lock if lock else "")
        rows = self._rows(DELIVERY_COLUMNS, sql, {"id": event_id})
        return rows[0] if rows else None

    def locked_call(self, provider: str, provider_call_id: str) -> CallRow | None:
        """The call, locked until the transaction ends (SQLite's single writer needs no row lock)."""
        sql = f"FROM call WHERE provider = :provider AND provider_call_id = :provider_call_id{self._lock}"
        rows = self._rows(CALL_COLUMNS, sql, {"provider": provider, "provider_call_id": provider_call_id})
        return CallRow(rows[0]) if rows else None

    def add_event(self, values: Mapping[str, Any], *, provider: str) -> None:
        """Store a call's event, its manager resolved from the PBX identity in the same statement."""
        columns = [name for name in EVENT_COLUMNS if name != "manager_id"]
        sql = (
            f"INSERT INTO call_event ({', '.join(columns)}, manager_id) "
            f"VALUES ({', '.join(f':{name}' for name in columns)}, "
            "(SELECT manager_id FROM manager_identity WHERE provider = :provider AND identity = :trimmed_identity))"
        )
        identity = values.get("identity")
        self._run(sql, {**values, "provider": provider, "trimmed_identity": identity.strip() if identity else None})

    def events_of(self, call_id: int) -> list[StoredEvent]:
        """Every stored event of a call."""
        rows = self._rows(STORED_EVENT_COLUMNS, "FROM call_event WHERE call_id = :call_id", {"call_id": call_id})
        return [StoredEvent(**row) for row in rows]


@cache
def _insert_ignoring_conflict(table: str, columns: tuple[str, ...], keys: tuple[str, ...]) -> str:
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(f':{name}' for name in columns)}) "
        f"ON CONFLICT ({', '.join(keys)}) DO NOTHING RETURNING id"
    )


def _to_python(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _to_sqlite(value: Any) -> Any:
    # As SQLAlchemy stores a DateTime on SQLite: naive UTC text, microseconds included. The
    # driver takes the enums, which are str, as they are.
    if value.__class__ is datetime:
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    return value


def _from_database(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.astimezone(UTC)
