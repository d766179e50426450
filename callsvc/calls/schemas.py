"""What the API shows of calls and takes to change them."""

from datetime import datetime

from sqlmodel import SQLModel

from callsvc.api import RowId
from callsvc.calls.events import Direction, EventStatus
from callsvc.calls.models import CallStatus


class CallRead(SQLModel):
    id: int
    provider: str
    provider_call_id: str
    direction: Direction
    status: CallStatus
    client_number: str | None
    line_number: str | None
    manager_id: int | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    wait_seconds: int | None
    talk_seconds: int | None
    recording_url: str | None
    recording_ref: str | None
    missed_call_reason: str | None
    needs_outcome: bool
    outcome: str | None
    outcome_note: str | None
    follow_up_at: datetime | None
    tagged_at: datetime | None
    tagged_by: str | None
    tag_due_at: datetime | None
    overdue: bool
    overdue_at: datetime | None
    escalated_at: datetime | None
    stale: bool
    etag: str
    updated_at: datetime


class OutcomeChangeRead(SQLModel):
    outcome: str | None
    previous: str | None
    note: str | None
    reason: str | None
    actor: str
    at: datetime


class CallEventRead(SQLModel):
    id: int
    type: str | None
    received_at: datetime
    status: EventStatus
    error: str | None


class CallDetail(CallRead):
    outcome_history: list[OutcomeChangeRead]
    events: list[CallEventRead]


class CallAssign(SQLModel):
    manager_id: RowId
