"""Mango Office VPBX API Realtime events, signed with sha256(key + json + salt) (pbx/PROVIDERS.md, section 3)."""

import hashlib
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from callsvc.calls.events import CallEvent, Direction, Disposition, EventKind, ParsedDelivery
from callsvc.providers.base import (
    SEQUENCE,
    UNIX_SECONDS,
    PayloadInvalid,
    SignatureInvalid,
    WebhookRequest,
    as_int,
    from_unix,
    read_json,
    redact_form_field,
    required,
    secrets_equal,
    text_at,
)
from callsvc.settings import Settings

DIRECTIONS = {"0": Direction.internal, "1": Direction.inbound, "2": Direction.outbound}
# disconnect_reason codes of a call nobody answered; other codes are read by their class.
DISPOSITIONS = {"1110": Disposition.cancelled, "1121": Disposition.busy, "1122": Disposition.busy}


def _event_type(delivery: WebhookRequest) -> str:
    """Mango posts to <registered URL>/events/<type>, the type one segment or more (`record/added`)."""
    _, events, event_type = urlsplit(delivery.url).path.rstrip("/").partition("/events/")
    if not events or not event_type:
        raise PayloadInvalid("Mango posts to <webhook URL>/events/<type>; this URL has no event type", field="url")
    return event_type


def _text(payload: dict[str, Any], path: str) -> str | None:
    return text_at(payload, path, prefix="json.")


def _at(payload: dict[str, Any], name: str) -> datetime:
    return from_unix(payload.get(name), f"json.{name}")


def _leg(payload: dict[str, Any]) -> dict[str, Any]:
    """The leg (call_id) an event is about, and its seq, which counts that leg's events only."""
    return {"leg": _text(payload, "call_id"), "seq": as_int(payload.get("seq"), "json.seq", within=SEQUENCE)}


def _leg_events(payload: dict[str, Any], call_id: str) -> list[CallEvent]:
    """One leg's state (events/call): who was offered the call, who answered, who dials out."""
    state = _text(payload, "call_state")
    caller, called = _text(payload, "from.extension"), _text(payload, "to.extension")
    base = {"provider_call_id": call_id, "occurred_at": _at(payload, "timestamp"), **_leg(payload)}
    if caller and not called:
        if state == "Appeared":
            return [
                CallEvent(
                    kind=EventKind.started,
                    direction=Direction.outbound,
                    to_number=_text(payload, "to.number"),
                    identity=caller,
                    **base,
                )
            ]
        return [CallEvent(kind=EventKind.answered, identity=caller, **base)] if state == "Connected" else []
    # `location` is optional: a leg to an employee's extension is at that employee.
    if payload.get("location", "abonent") != "abonent" or not called:
        if state != "Appeared":
            return []
        return [
            CallEvent(
                kind=EventKind.started,
                direction=Direction.inbound,
                from_number=_text(payload, "from.number"),
                to_number=_text(payload, "to.line_number"),
                **base,
            )
        ]
    kinds = {"Appeared": EventKind.offered, "Connected": EventKind.answered}
    return [CallEvent(kind=kinds[state], identity=called, **base)] if state in kinds else []


def _summary_events(payload: dict[str, Any], call_id: str) -> list[CallEvent]:
    """The whole call once it is over (events/summary)."""
    direction = DIRECTIONS.get(_text(payload, "call_direction") or "")
    if direction is None:
        raise PayloadInvalid("json.call_direction is not 0, 1 or 2", field="json.call_direction")
    outbound = direction is Direction.outbound
    who = _text(payload, "from.extension" if outbound else "to.extension")
    line = _text(payload, "line_number")
    client = _text(payload, "to.number" if outbound else "from.number")
    ended_at = _at(payload, "end_time")
    # talk_time is when the call was answered, 0 when it was not.
    talk_time = as_int(payload.get("talk_time"), "json.talk_time", within=UNIX_SECONDS)
    answered_at = from_unix(talk_time, "json.talk_time") if talk_time else None
    answered = str(payload.get("entry_result")) == "1" and answered_at is not None
    events = [
        CallEvent(
            kind=EventKind.started,
            provider_call_id=call_id,
            occurred_at=_at(payload, "create_time"),
            direction=direction,
            from_number=line if outbound else client,
            to_number=client if outbound else line,
            identity=who if outbound else None,
        )
    ]
    if answered:
        events.append(
            CallEvent(kind=EventKind.answered, provider_call_id=call_id, occurred_at=answered_at, identity=who)
        )
    reason = str(payload.get("disconnect_reason", ""))
    events.append(
        CallEvent(
            kind=EventKind.ended,
            provider_call_id=call_id,
            occurred_at=ended_at,
            disposition=Disposition.answered if answered else DISPOSITIONS.get(reason, Disposition.no_answer),
            talk_seconds=round((ended_at - answered_at).total_seconds()) if answered and answered_at else None,
        )
    )
    return events


def _recording_events(payload: dict[str, Any], call_id: str) -> list[CallEvent]:
    """The recording process (events/recording): a completed one gives its id."""
    # 1000 is a saved recording; 4002 and the 22xx codes mean none was kept.
    if payload.get("recording_state") != "Completed" or str(payload.get("completion_code", "1000")) != "1000":
        return []
    return _recording_added_events(payload, call_id)


def _recording_added_events(payload: dict[str, Any], call_id: str) -> list[CallEvent]:
    """A saved recording (events/record/added, or a completed events/recording): its id, for Mango's API."""
    return [
        CallEvent(
            kind=EventKind.recording,
            provider_call_id=call_id,
            occurred_at=_at(payload, "timestamp"),
            **_leg(payload),
            recording_ref=required(payload, "recording_id", prefix="json."),
        )
    ]


MAPPERS = {
    "call": _leg_events,
    "summary": _summary_events,
    "recording": _recording_events,
    "record/added": _recording_added_events,
}


class MangoAdapter:
    """Mango's call-leg, summary and recording events; legs (call_id) fold into the call (entry_id)."""

    name = "mango"

    def is_configured(self, settings: Settings) -> bool:
        return bool(settings.mango_api_key and settings.mango_api_salt)

    def verify(self, delivery: WebhookRequest, settings: Settings) -> None:
        assert settings.mango_api_key and settings.mango_api_salt
        fields = delivery.fields()
        key, sign, payload = fields.get("vpbx_api_key", ""), fields.get("sign", ""), fields.get("json", "")
        if not secrets_equal(key, settings.mango_api_key):
            raise SignatureInvalid("vpbx_api_key is not this account's API key")
        expected = hashlib.sha256((key + payload + settings.mango_api_salt).encode()).hexdigest()
        if not secrets_equal(sign.lower(), expected):
            raise SignatureInvalid("sign does not match the json")

    def dedupe_key(self, delivery: WebhookRequest) -> str:
        # Mango sends no delivery id. Only the json field is signed, so the key is its digest alone: a
        # captured event re-sent with an extra form field, or to another event path, is the same delivery.
        return hashlib.sha256(delivery.fields().get("json", "").encode(errors="surrogatepass")).hexdigest()

    def redact(self, body: bytes, settings: Settings) -> bytes:
        """Overwrite vpbx_api_key, the account's API key that Mango puts in every body, with REDACTED."""
        return redact_form_field(body, "vpbx_api_key")

    def parse(self, delivery: WebhookRequest, settings: Settings) -> ParsedDelivery:
        event_type = _event_type(delivery)
        payload = read_json(required(delivery.fields(), "json").encode(), "json")
        mapper = MAPPERS.get(event_type)
        if mapper is None:
            return ParsedDelivery(type=event_type, events=[])
        call_id = required(payload, "entry_id", prefix="json.")
        state = _text(payload, "call_state") or _text(payload, "recording_state")
        return ParsedDelivery(type=f"{event_type}.{state}" if state else event_type, events=mapper(payload, call_id))
