"""The normalized call event: the contract between provider adapters and the calls domain."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class EventStatus(StrEnum):
    """What became of a received webhook delivery: applied to its call, kept to retry, or refused as malformed."""

    applied = "applied"
    unprocessed = "unprocessed"
    rejected = "rejected"


class Direction(StrEnum):
    inbound = "inbound"
    outbound = "outbound"
    internal = "internal"


class EventKind(StrEnum):
    started = "started"
    offered = "offered"
    answered = "answered"
    ended = "ended"
    recording = "recording"


class Disposition(StrEnum):
    answered = "answered"
    no_answer = "no_answer"
    busy = "busy"
    failed = "failed"
    cancelled = "cancelled"


@dataclass(frozen=True, kw_only=True)
class CallEvent:
    """One fact about a call, as a provider adapter reports it.

    `identity` is the provider's name for the manager the event concerns: who it was
    routed or offered to, who answered, or who dials an outbound call. `leg` names the
    provider's leg of the call the event is about (Mango's call_id, Twilio's CallSid):
    `seq` counts within a leg and orders nothing across legs.
    """

    kind: EventKind
    provider_call_id: str
    occurred_at: datetime
    direction: Direction | None = None
    from_number: str | None = None
    to_number: str | None = None
    identity: str | None = None
    disposition: Disposition | None = None
    talk_seconds: int | None = None
    recording_url: str | None = None
    recording_ref: str | None = None
    seq: int | None = None
    leg: str | None = None
    missed_call_reason: str | None = None


@dataclass(frozen=True)
class ParsedDelivery:
    """What one webhook delivery says: its native type and the events it carries."""

    type: str
    events: list[CallEvent]

    @property
    def provider_call_id(self) -> str | None:
        return self.events[0].provider_call_id if self.events else None
