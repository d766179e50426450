"""The ingest path's SQL: plain statements on the transaction's own DBAPI connection, SQLite or PostgreSQL.

The rest of the API goes through the ORM; this path runs for every PBX delivery, so it skips the
ORM's unit of work and SQLAlchemy's statement layer, and speaks to the driver directly inside
the transaction SQLAlchemy began (a test's, a job's or the writer's).
"""

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import Enum
from functools import cache
from typing import Any

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

    @classmethod
    def of(cls, session: Session) -> "Store":
        """The store on a session's connection, inside the session's transaction."""
        connection = session.connection()
        return cls(connection.connection.driver_connection, connection.dialect.name)

    @contextmanager
    def pipeline(self) -> Iterator[None]:
        """On PostgreSQL, send statements without waiting: reading an answer waits for all sent before it.

        Nothing in a pipeline takes a savepoint: after an error PostgreSQL skips what follows until a
        sync, so one failure fails the whole of it, as the writer expects of a batch.
        """
        if self.sqlite:
            yield
            return
        with self._connection.pipeline():
            yield

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
            self._run(f"ROLLBACK TO SAVEPOINT {name}")
            self._run(f"RELEASE SAVEPOINT {name}")
            raise
        self._run(f"RELEASE SAVEPOINT {name}")

    def insert_deliveries(self, rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], int]:
        """Keep deliveries, each unless its provider and dedupe key are kept already; return the ids of those kept now.

        The rows share their columns. Of two rows with one key, the first is kept.
        """
        columns = tuple(rows[0])
        kept: dict[tuple[str, str], int] = {}
        for chunk in _chunks(rows):
            sql = self._rows_sql(
                f"INSERT INTO provider_event ({', '.join(columns)}) VALUES ",
                _placeholders(len(columns)),
                len(chunk),
                " ON CONFLICT (provider, dedupe_key) DO NOTHING RETURNING provider, dedupe_key, id",
            )
            answer = self._send_values(sql, [row[name] for row in chunk for name in columns])
            kept |= {(provider, key): row_id for provider, key, row_id in answer.fetchall()}
        return kept

    def update(self, table: str, row_id: int, values: Mapping[str, Any]) -> None:
        """Set some columns of one row."""
        self.update_each(table, {row_id: values})

    def update_each(self, table: str, changes: Mapping[int, Mapping[str, Any]]) -> None:
        """Set some columns of each of these rows, by id; rows setting the same columns share one statement."""
        by_columns: dict[tuple[str, ...], list[list[Any]]] = {}
        for row_id, values in changes.items():
            by_columns.setdefault(tuple(values), []).append([*values.values(), row_id])
        for columns, rows in by_columns.items():
            assignments = ", ".join(f"{name} = ?" for name in columns)
            sql = f"UPDATE {table} SET {assignments} WHERE id = ?"
            if self.sqlite:
                self._cursor.executemany(sql, [_for_sqlite(row) for row in rows])
            else:
                self._cursor.executemany(sql.replace("?", "%s"), [_for_postgresql(row) for row in rows])

    def send_delivery_status(self, provider: str, dedupe_key: str) -> Any:
        """Send the read of a kept delivery's status and error; `.fetchone()` of what this returns reads them."""
        sql = "SELECT status, error FROM provider_event WHERE provider = :provider AND dedupe_key = :dedupe_key"
        return self._send(sql, {"provider": provider, "dedupe_key": dedupe_key})

    def kept_delivery(self, event_id: int, *, lock: bool = False) -> dict[str, Any] | None:
        """A kept delivery's row, its body included; locked if asked, so it is applied once."""
        sql = "FROM provider_event WHERE id = :id" + (self._lock if lock else "")
        rows = self._rows(DELIVERY_COLUMNS, sql, {"id": event_id})
        return rows[0] if rows else None

    def send_events(self, calls: Sequence[Mapping[str, Any]], events: Sequence[Mapping[str, Any]]) -> "SentEvents":
        """Send what stores events: their calls created, or locked as they are; the events; every event of those calls.

        `calls` are new calls' rows, one per call, each inserted unless it exists; `events` are
        event rows naming their call by `call_provider` and `call_id`, and `provider_event_id`.
        Nothing sent waits for an answer: a call and a PBX identity's manager are found by
        subqueries. `read_events` reads the answers.
        """
        call_columns = tuple(calls[0])
        locked = []
        for chunk in _chunks(calls):
            sql = self._rows_sql(
                f"INSERT INTO call ({', '.join(call_columns)}) VALUES ",
                _placeholders(len(call_columns)),
                len(chunk),
                # The no-op update takes the row lock, as SELECT … FOR UPDATE would, and RETURNING reads the row.
                " ON CONFLICT (provider, provider_call_id) DO UPDATE SET provider = excluded.provider "
                f"RETURNING {', '.join(CALL_COLUMNS)}",
            )
            locked.append(self._send_values(sql, [row[name] for row in chunk for name in call_columns]))
        for chunk in _chunks(events):
            head = f"INSERT INTO call_event ({', '.join(_EVENT_INSERTED)}) VALUES "
            sql = self._rows_sql(head, _EVENT_ROW, len(chunk))
            self._send_values(sql, [value for row in chunk for value in _event_values(row)])
        read = []
        keys = [(row["provider"], row["provider_call_id"]) for row in calls]
        for chunk in _chunks(keys):
            sql = self._rows_sql(_EVENTS_OF_CALLS, "(?, ?)", len(chunk), "))")
            read.append(self._send_values(sql, [value for key in chunk for value in key]))
        return SentEvents(locked, read)

    def read_events(
        self, sent: "SentEvents"
    ) -> tuple[dict[tuple[str, str], CallRow], dict[int, list[tuple[EventFacts, int | None]]]]:
        """The calls as they were before these events, by provider and call id; their events, by call id.

        Each event comes with the id of the delivery it came in.
        """
        calls = {}
        for answer in sent.calls:
            for row in self._fetch(CALL_COLUMNS, answer):
                calls[(row["provider"], row["provider_call_id"])] = CallRow(row)
        events: dict[int, list[tuple[EventFacts, int | None]]] = {}
        for answer in sent.events:
            for row in self._fetch(_EVENT_READ, answer):
                call_id, delivery_id = row.pop("call_id"), row.pop("provider_event_id")
                events.setdefault(call_id, []).append((EventFacts(**row), delivery_id))
        return calls, events

    def _rows_sql(self, head: str, row: str, count: int, tail: str = "") -> str:
        return _rows_sql(head, row, count, tail, "?" if self.sqlite else "%s")

    def _send_values(self, sql: str, values: Sequence[Any]) -> Any:
        """Send a statement with positional values; its answer is read later, as `_send`'s is."""
        if self.sqlite:
            return _Answer(self._cursor.execute(sql, _for_sqlite(values)).fetchall())
        cursor = self._connection.cursor()
        cursor.execute(sql, _for_postgresql(values))
        return cursor


@dataclass(frozen=True)
class SentEvents:
    """The answers, still to be read, of the statements that stored events."""

    calls: list[Any]
    events: list[Any]


# Rows per statement: far under what either database takes in parameters (SQLite 32,766, PostgreSQL 65,535).
ROWS_PER_STATEMENT = 250


def _chunks(rows: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        yield rows[start : start + ROWS_PER_STATEMENT]


def _placeholders(count: int) -> str:
    return "(" + ", ".join(["?"] * count) + ")"


@cache
def _rows_sql(head: str, row: str, count: int, tail: str, placeholder: str) -> str:
    # Written with SQLite's "?"; psycopg takes "%s". No statement here has either in its text otherwise.
    return (head + ", ".join([row] * count) + tail).replace("?", placeholder)


_FIND_CALL = "(SELECT id FROM call WHERE provider = ? AND provider_call_id = ?)"
_FIND_MANAGER = "(SELECT manager_id FROM manager_identity WHERE provider = ? AND identity = ?)"
_EVENT_VALUES = tuple(name for name in EVENT_COLUMNS if name not in ("call_id", "manager_id"))
_EVENT_INSERTED = (*_EVENT_VALUES, "call_id", "manager_id")
_EVENT_ROW = f"({', '.join(['?'] * len(_EVENT_VALUES))}, {_FIND_CALL}, {_FIND_MANAGER})"
_EVENT_READ = (*STORED_EVENT_COLUMNS, "call_id", "provider_event_id")
# One subquery for all the calls, not one each: PostgreSQL plans it in half the time.
_EVENTS_OF_CALLS = (
    f"SELECT {', '.join(_EVENT_READ)} FROM call_event WHERE call_id IN "
    "(SELECT id FROM call WHERE (provider, provider_call_id) IN (VALUES "
)


def _event_values(row: Mapping[str, Any]) -> list[Any]:
    identity = row.get("identity")
    return [
        *(row.get(name) for name in _EVENT_VALUES),
        row["call_provider"],
        row["call_id"],
        row["call_provider"],
        identity.strip() if identity else None,
    ]


@dataclass
class _Answer:
    """The rows a statement gave, read in full, with a cursor's way of reading them."""

    rows: list[tuple[Any, ...]]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None


def _for_sqlite(values: Sequence[Any]) -> list[Any]:
    # The checks are inline: this runs for every value of every statement on the ingest path.
    return [_to_sqlite(value) if value.__class__ is datetime else value for value in values]


def _for_postgresql(values: Sequence[Any]) -> list[Any]:
    return [value.value if isinstance(value, Enum) else value for value in values]


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
