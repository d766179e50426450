"""What the API shows of raw webhook deliveries, and what a PBX is answered."""

from typing import Literal

from sqlmodel import SQLModel

from callsvc.calls.schemas import CallEventRead


class ProviderEventRead(CallEventRead):
    provider: str
    provider_call_id: str | None


class WebhookReceipt(SQLModel):
    status: Literal["accepted", "duplicate"]
