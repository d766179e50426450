"""Calls and the normalized events they are derived from."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Index, String, Text, UniqueConstraint, and_
from sqlmodel import Field, SQLModel

from callsvc.calls.events import Direction, Disposition, EventKind
from callsvc.db import UTCDateTime


class CallStatus(StrEnum):
    ringing = "ringing"
    in_progress = "in_progress"
    completed = "completed"
    missed = "missed"
    failed = "failed"


class Call(SQLModel, table=True):
    __tablename__ = "call"
    __table_args__ = (
        UniqueConstraint("provider", "provider_call_id"),
        Index("ix_call_updated_at_id", "updated_at", "id"),
        Index("ix_call_manager_id_started_at", "manager_id", "started_at"),
        Index("ix_call_started_at", "started_at"),
        Index("ix_call_client_number_started_at", "client_number", "started_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=20)
    provider_call_id: str = Field(max_length=200)
    direction: Direction = Field(default=Direction.inbound, sa_type=String(10))
    status: CallStatus = Field(default=CallStatus.ringing, sa_type=String(12))
    client_number: str | None = Field(default=None, max_length=20)
    line_number: str | None = Field(default=None, max_length=20)
    manager_id: int | None = Field(default=None, foreign_key="manager.id")
    manager_assigned_by: str | None = Field(default=None, max_length=200)
    started_at: datetime = Field(sa_type=UTCDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    wait_seconds: int | None = None
    talk_seconds: int | None = None
    recording_url: str | None = Field(default=None, sa_type=Text)
    recording_ref: str | None = Field(default=None, max_length=200)
    missed_call_reason: str | None = Field(default=None, max_length=50)
    needs_outcome: bool = False
    outcome: str | None = Field(default=None, max_length=50)
    outcome_note: str | None = Field(default=None, sa_type=Text)
    follow_up_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    tagged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    tagged_by: str | None = Field(default=None, max_length=200)
    tag_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    overdue_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    version: int = 1
    # Held while a job works on the call (the overdue and escalation stamps), see callsvc/jobs.py.
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


# Calls waiting for an outcome, the rows the queue, the gate and the overdue job read. Few of a
# million calls are untagged, so a partial index keeps the gate's count cheap on every PBX call.
IS_PENDING = and_(Call.__table__.c.needs_outcome, Call.__table__.c.outcome.is_(None))
Index(
    "ix_call_pending",
    Call.__table__.c.manager_id,
    Call.__table__.c.tag_due_at,
    sqlite_where=IS_PENDING,
    postgresql_where=IS_PENDING,
)


class CallEventRecord(SQLModel, table=True):
    """A normalized event of a call; the call's state is derived from the set of these."""

    __tablename__ = "call_event"

    id: int | None = Field(default=None, primary_key=True)
    call_id: int = Field(foreign_key="call.id", index=True)
    provider_event_id: int | None = Field(default=None, foreign_key="provider_event.id", index=True)
    kind: EventKind = Field(sa_type=String(12))
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    seq: int | None = Field(default=None, sa_type=BigInteger)
    leg: str | None = Field(default=None, max_length=200)
    direction: Direction | None = Field(default=None, sa_type=String(10))
    from_number: str | None = Field(default=None, max_length=200)
    to_number: str | None = Field(default=None, max_length=200)
    identity: str | None = Field(default=None, max_length=200)
    manager_id: int | None = Field(default=None, foreign_key="manager.id")
    disposition: Disposition | None = Field(default=None, sa_type=String(12))
    talk_seconds: int | None = None
    recording_url: str | None = Field(default=None, sa_type=Text)
    recording_ref: str | None = Field(default=None, max_length=200)
    missed_call_reason: str | None = Field(default=None, max_length=50)
    tie_break: str = Field(max_length=250)
