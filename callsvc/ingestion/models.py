"""The raw webhook deliveries, kept byte for byte before anything reads them."""

from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from callsvc.calls.events import EventStatus
from callsvc.db import UTCDateTime


class ProviderEvent(SQLModel, table=True):
    """A raw, authentic webhook delivery, kept before it is applied."""

    __tablename__ = "provider_event"
    __table_args__ = (
        UniqueConstraint("provider", "dedupe_key"),
        Index("ix_provider_event_call", "provider", "provider_call_id"),
        Index("ix_provider_event_status_id", "status", "id"),
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
    body: str = Field(sa_type=Text)
    received_at: datetime = Field(sa_type=UTCDateTime)
    applied_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
