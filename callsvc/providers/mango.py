"""Mango Office VPBX API Realtime events, signed with sha256(key + json + salt) (pbx/PROVIDERS.md, section 3)."""

import hashlib
import json
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from callsvc.calls.events import CallEvent, Direction, Disposition, EventKind, ParsedDelivery
from callsvc.phone import international
from callsvc.providers.base import (
    PayloadInvalid,
    SignatureInvalid,
    WebhookRequest,
    as_int,
    from_unix,
    required,
    secrets_equal,
)
from callsvc.settings import Settings

DIRECTIONS = {"0": Direction.internal, "1": Direction.inbound, "2": Direction.outbound}
# disconnect_reason codes of a call nobody answered; other codes are read by their class.
DISPOSITIONS = {"1110": Disposition.cancelled, "1121": Disposition.busy, "1122": Disposition.busy}


def _event_type(delivery: WebhookRequest) -> str:
    """Mango posts to <registered URL>/events/<type>."""
    head, _, event_type = urlsplit(delivery.url).path.rstrip("/").rpartition("/")
    if not head.endswith("/events"):
        raise PayloadInvalid("Mango posts to <webhook URL>/events/<type>; this URL has no event type", field="url")
    return event_type


def _payload(delivery: WebhookRequest) -> dict[str, Any]:
    try:
        payload = json.loads(required(delivery.fields(), "json"))
    except ValueError as exc:
        raise PayloadInvalid("json is not a JSON object", field="json") from exc
    if not isinstance(payload, dict):
        raise PayloadInvalid("json is not a JSON object", field="json")
    return payload


def _party(payload: dict[str, Any], name: str) -> dict[str, Any]:
    party = payload.get(name)
    return party if isinstance(party, dict) else {}


def _at(payload: dict[str, Any], name: str) -> datetime:
    return from_unix(payload.get(name), f"json.{name}")


def _leg_events(payload: dict[str, Any], call_id: str) -> list[CallEvent]:
    """One leg's state (events/call): who was offered the call, who answered, who dials out."""
    caller, called = _party(payload, "from"), _party(payload, "to")
    state = payload.get("call_state")
    base = {
        "provider_call_id": call_id,
        "occurred_at": _at(payload, "timestamp"),
        "seq": as_int(payload.get("seq"), "json.seq"),
    }
    if caller.get("extension") and not called.get("extension"):
        who = str(caller["extension"])
        if state == "Appeared":
            return [
                CallEvent(
                    kind=EventKind.started,
                    direction=Direction.outbound,
                    to_number=international(called.get("number")),
                    identity=who,
                    **base,
                )
            ]
        return [CallEvent(kind=EventKind.answered, identity=who, **base)] if state == "Connected" else []
    if payload.get("location") != "abonent" or not called.get("extension"):
        if state != "Appeared":
            return []
        return [
            CallEvent(
                kind=EventKind.started,
                direction=Direction.inbound,
                from_number=international(caller.get("number")),
                to_number=international(called.get("line_number")),
                **base,
            )
        ]
    kinds = {"Appeared": EventKind.offered, "Connected": EventKind.answered}
    return [CallEvent(kind=kinds[state], identity=str(called["extension"]), **base)] if state in kinds else []


def _summary_events(payload: dict[str, Any], call_id: str) -> list[CallEvent]:
    """The whole call once it is over (events/summary)."""
    direction = DIRECTIONS.get(str(payload.get("call_direction")))
    if direction is None:
        raise PayloadInvalid("json.call_direction is not 0, 1 or 2", field="json.call_direction")
    caller, called = _party(payload, "from"), _party(payload, "to")
    outbound = direction is Direction.outbound
    employee = caller.get("extension") if outbound else called.get("extension")
    who = str(employee) if employee else None
    line = international(payload.get("line_number"))
    client = international((called if outbound else caller).get("number"))
    ended_at = _at(payload, "end_time")
    # talk_time is when the call was answered, 0 when it was not.
    talk_time = as_int(payload.get("talk_time"), "json.talk_time")
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
    """A finished recording (events/recording): its id, for Mango's recording API."""
    # 1000 is a saved recording; 4002 and the 22xx codes mean none was kept.
    if payload.get("recording_state") != "Completed" or str(payload.get("completion_code", "1000")) != "1000":
        return []
    return [
        CallEvent(
            kind=EventKind.recording,
            provider_call_id=call_id,
            occurred_at=_at(payload, "timestamp"),
            seq=as_int(payload.get("seq"), "json.seq"),
            recording_ref=str(required(payload, "recording_id", prefix="json.")),
        )
    ]


MAPPERS = {"call": _leg_events, "summary": _summary_events, "recording": _recording_events}


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
        return delivery.body_digest()

    def parse(self, delivery: WebhookRequest, settings: Settings) -> ParsedDelivery:
        event_type = _event_type(delivery)
        payload = _payload(delivery)
        mapper = MAPPERS.get(event_type)
        if mapper is None:
            return ParsedDelivery(type=event_type, events=[])
        call_id = str(required(payload, "entry_id", prefix="json."))
        state = payload.get("call_state") or payload.get("recording_state")
        return ParsedDelivery(type=f"{event_type}.{state}" if state else event_type, events=mapper(payload, call_id))
