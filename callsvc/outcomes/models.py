"""The outcome catalogue and the append-only history of every call's outcome."""

from datetime import datetime

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from callsvc.db import UTCDateTime


class Outcome(SQLModel, table=True):
    """A code a call may be tagged with; deactivated, never deleted, so old reports keep their meaning."""

    __tablename__ = "outcome"

    code: str = Field(primary_key=True, max_length=50)
    label: str = Field(max_length=200)
    is_negotiation: bool = False
    requires_follow_up: bool = False
    requires_note: bool = False
    min_talk_seconds: int = 0
    active: bool = True


class OutcomeChange(SQLModel, table=True):
    """One change of a call's outcome: who, when, from what, to what, and why."""

    __tablename__ = "outcome_change"

    id: int | None = Field(default=None, primary_key=True)
    call_id: int = Field(foreign_key="call.id", index=True)
    outcome: str = Field(max_length=50)
    previous: str | None = Field(default=None, max_length=50)
    note: str | None = Field(default=None, sa_type=Text)
    follow_up_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reason: str | None = Field(default=None, sa_type=Text)
    key_id: int = Field(foreign_key="api_key.id")
    actor: str = Field(max_length=500)
    at: datetime = Field(sa_type=UTCDateTime)
