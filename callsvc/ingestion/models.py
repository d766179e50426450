"""The raw webhook deliveries, kept byte for byte before anything reads them."""

from datetime import datetime

from sqlalchemy import Index, LargeBinary, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from callsvc.calls.events import EventStatus
from callsvc.db import UTCDateTime


class ProviderEvent(SQLModel, table=True):
    """An authentic webhook delivery, kept as the exact bytes received before anything parses it.

    An unprocessed delivery whose failure was transient has a `next_attempt_at`: the retry job
    applies it again then, and again with backoff, up to a bounded number of attempts.
    """

    __tablename__ = "provider_event"
    __table_args__ = (
        UniqueConstraint("provider", "dedupe_key"),
        Index("ix_provider_event_call", "provider", "provider_call_id"),
        Index("ix_provider_event_status_id", "status", "id"),
        Index("ix_provider_event_next_attempt_at", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=20)
    dedupe_key: str | None = Field(default=None, max_length=200)
    type: str | None = Field(default=None, max_length=100)
    provider_call_id: str | None = Field(default=None, max_length=200)
    status: EventStatus = Field(sa_type=String(12))
    error: str | None = Field(default=None, sa_type=Text)
    method: str = Field(max_length=10)
    url: str = Field(sa_type=Text)
    headers: str = Field(sa_type=Text)
    body: bytes = Field(sa_type=LargeBinary)
    received_at: datetime = Field(sa_type=UTCDateTime)
    applied_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
