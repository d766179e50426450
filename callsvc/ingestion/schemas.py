"""What the API shows of raw webhook deliveries, and what a PBX is answered."""

from collections.abc import Sequence
from typing import Literal

from pydantic import Field
from sqlmodel import SQLModel

from callsvc.api import Instant, RowId
from callsvc.calls.events import EventStatus
from callsvc.calls.schemas import CallEventRead


class ProviderEventRead(CallEventRead):
    provider: str
    provider_call_id: str | None


class WebhookReceipt(SQLModel):
    status: Literal["accepted", "duplicate"]


class ReplayRequest(SQLModel):
    """Which kept deliveries to replay: every one not applied yet, narrowed by these."""

    status: Literal[EventStatus.unprocessed, EventStatus.rejected] | None = None
    provider: str | None = Field(default=None, max_length=20)
    received_from: Instant | None = None
    received_to: Instant | None = None
    after_id: RowId | None = None
    limit: int = Field(default=100, ge=1, le=500)


class ReplayReport(SQLModel):
    """What a bulk replay did; `last_id` is where the next call resumes (`after_id`)."""

    replayed: int
    applied: int
    unprocessed: int
    rejected: int
    last_id: int | None

    @classmethod
    def of(cls, replayed: Sequence[tuple[int, EventStatus]]) -> "ReplayReport":
        statuses = [status for _, status in replayed]
        return cls(
            replayed=len(replayed),
            applied=statuses.count(EventStatus.applied),
            unprocessed=statuses.count(EventStatus.unprocessed),
            rejected=statuses.count(EventStatus.rejected),
            last_id=replayed[-1][0] if replayed else None,
        )
