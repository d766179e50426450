"""What the API shows of outcomes, the queue and the gate, and what it takes to change them."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from callsvc.api import ColumnInt, Instant
from callsvc.calls.events import Direction
from callsvc.calls.models import CallStatus
from callsvc.calls.schemas import CallRead

CODE_PATTERN = r"^[a-z][a-z0-9_]*$"


class OutcomeCreate(SQLModel):
    # SQLModel passes `regex` to pydantic 2, which ignores it; `pattern` is what validates.
    code: str = Field(min_length=1, max_length=50, schema_extra={"pattern": CODE_PATTERN})
    label: str = Field(min_length=1, max_length=200)
    is_negotiation: bool = False
    requires_follow_up: bool = False
    requires_note: bool = False
    min_talk_seconds: ColumnInt = 0
    active: bool = True


class OutcomeUpdate(SQLModel):
    # Each may be left out, but none may be sent as null: the types say so, and the None
    # defaults (which pydantic does not validate) only mark a field as not sent.
    label: str = Field(default=None, min_length=1, max_length=200)
    is_negotiation: bool = None
    requires_follow_up: bool = None
    requires_note: bool = None
    min_talk_seconds: ColumnInt = None
    active: bool = None


class OutcomeRead(SQLModel):
    code: str
    label: str
    is_negotiation: bool
    requires_follow_up: bool
    requires_note: bool
    min_talk_seconds: int
    active: bool


class TagRequest(SQLModel):
    outcome: str = Field(min_length=1, max_length=50)
    note: str | None = Field(default=None, max_length=10_000)
    follow_up_at: Instant | None = None
    reason: str | None = Field(default=None, max_length=10_000)


class RecentCall(SQLModel):
    """One of the client's latest calls, shown beside a queued call as context."""

    id: int
    started_at: datetime
    direction: Direction
    status: CallStatus
    manager_id: int | None
    manager_name: str | None
    outcome: str | None


class QueueItem(CallRead):
    recent_calls: list[RecentCall]


class Gate(SQLModel):
    blocked: bool
    overdue: int
    pending: int
