"""Aircall call webhooks, authenticated by the webhook's token in the body (pbx/PROVIDERS.md, section 4)."""

import json
from typing import Any

from callsvc.calls.events import CallEvent, Direction, Disposition, EventKind, ParsedDelivery
from callsvc.providers.base import (
    REDACTED,
    SEQUENCE,
    PayloadInvalid,
    SignatureInvalid,
    WebhookRequest,
    as_int,
    from_unix,
    read_json,
    required,
    secrets_equal,
    text_at,
    top_level_values,
)
from callsvc.settings import Settings

# Each of these carries the whole Call object as it stands; other events add nothing we track.
MAPPED = {
    "call.created",
    "call.ringing_on_agent",
    "call.answered",
    "call.transferred",
    "call.unsuccessful_transfer",
    "call.hungup",
    "call.ended",
    "call.voicemail_left",
    "call.comm_assets_generated",
}
DIRECTIONS = {"inbound": Direction.inbound, "outbound": Direction.outbound}


def _token(body: bytes) -> str | None:
    """The body's top-level token, read without parsing the rest of a body not yet known to be Aircall's."""
    spans = top_level_values(body, "token")
    # Aircall sends one token; with two, the one checked and the one a parser keeps could differ.
    if spans is None or len(spans) != 1:
        return None
    try:
        token = json.loads(body[spans[0]].decode())
    except ValueError:
        return None
    return token if isinstance(token, str) else None


def _call_events(envelope: dict[str, Any], data: dict[str, Any]) -> list[CallEvent]:
    direction = DIRECTIONS.get(text_at(data, "direction", prefix="data.") or "")
    if direction is None:
        raise PayloadInvalid("data.direction is not inbound or outbound", field="data.direction")
    # `user` is null on a call nobody took; after a transfer the call is held by whom it went to.
    user = text_at(data, "user.id", prefix="data.")
    holder = text_at(data, "transferred_to.id", prefix="data.") or user
    client = text_at(data, "raw_digits", prefix="data.")
    line = text_at(data, "number.digits", prefix="data.")
    outbound = direction is Direction.outbound
    base = {
        "provider_call_id": required(data, "id", prefix="data."),
        # When Aircall built the payload: it orders the snapshots of one call, so the latest user wins.
        "seq": as_int(envelope.get("timestamp"), "timestamp", within=SEQUENCE),
    }
    started_at = from_unix(data.get("started_at"), "data.started_at")
    events = [
        CallEvent(
            kind=EventKind.started,
            occurred_at=started_at,
            direction=direction,
            from_number=line if outbound else client,
            to_number=client if outbound else line,
            identity=user if outbound else None,
            **base,
        )
    ]
    if envelope["event"] == "call.ringing_on_agent" and user:
        at = from_unix(envelope["timestamp"], "timestamp") if envelope.get("timestamp") else started_at
        events.append(CallEvent(kind=EventKind.offered, occurred_at=at, identity=user, **base))
    voicemail = text_at(data, "voicemail", prefix="data.")
    # A call taken by voicemail is not taken by anyone: missed, with the message as its recording.
    answered = data.get("answered_at") and not voicemail
    answered_at = from_unix(data["answered_at"], "data.answered_at") if answered else None
    if answered_at is not None:
        events.append(CallEvent(kind=EventKind.answered, occurred_at=answered_at, identity=holder, **base))
    if data.get("ended_at"):
        # Talk time is answered_at → ended_at: Aircall's duration counts the ringing too.
        events.append(
            CallEvent(
                kind=EventKind.ended,
                occurred_at=from_unix(data["ended_at"], "data.ended_at"),
                disposition=Disposition.answered if answered_at else Disposition.no_answer,
                missed_call_reason=text_at(data, "missed_call_reason", prefix="data."),
                **base,
            )
        )
    recording = text_at(data, "recording", prefix="data.") or voicemail
    if recording:
        at = events[-1].occurred_at
        events.append(CallEvent(kind=EventKind.recording, occurred_at=at, recording_url=recording, **base))
    return events


class AircallAdapter:
    """Aircall's call.* webhooks; every one carries the call as it stands."""

    name = "aircall"

    def is_configured(self, settings: Settings) -> bool:
        return bool(settings.aircall_token)

    def verify(self, delivery: WebhookRequest, settings: Settings) -> None:
        assert settings.aircall_token
        # A body that does not even hold the token is refused without being scanned.
        if settings.aircall_token.encode() not in delivery.body:
            raise SignatureInvalid("the body's token is not this webhook's token")
        token = _token(delivery.body)
        if token is None or not secrets_equal(token, settings.aircall_token):
            raise SignatureInvalid("the body's token is not this webhook's token")

    def dedupe_key(self, delivery: WebhookRequest) -> str:
        # Aircall sends no delivery id and signs nothing: a retry repeats the body, token and all.
        return delivery.body_digest()

    def redact(self, body: bytes, settings: Settings) -> bytes:
        """Overwrite the top-level token, the webhook's credential, with REDACTED."""
        for span in reversed(top_level_values(body, "token") or []):
            body = body[: span.start] + json.dumps(REDACTED).encode() + body[span.stop :]
        return body

    def parse(self, delivery: WebhookRequest, settings: Settings) -> ParsedDelivery:
        envelope = read_json(delivery.body, "body")
        event = required(envelope, "event")
        data = envelope.get("data")
        if not isinstance(data, dict):
            raise PayloadInvalid("data is not an object", field="data")
        if envelope.get("resource") != "call" or event not in MAPPED:
            return ParsedDelivery(type=str(event), events=[])
        return ParsedDelivery(type=event, events=_call_events(envelope, data))
