"""Zadarma (and Novofon) PBX notifications, signed with the Signature header (pbx/PROVIDERS.md, section 2)."""

import base64
import hashlib
import hmac
import ipaddress
import re
from datetime import datetime
from urllib.parse import urlencode

from callsvc.calls.events import CallEvent, Direction, Disposition, EventKind, ParsedDelivery
from callsvc.providers.base import (
    SECONDS,
    PayloadInvalid,
    SignatureInvalid,
    WebhookRequest,
    as_int,
    first_values,
    in_utc,
    parse_multipart,
    required,
    secrets_equal,
)
from callsvc.settings import Settings

INBOUND_SIGNED = ("caller_id", "called_did", "call_start")
OUTBOUND_SIGNED = ("internal", "destination", "call_start")
# The fields each event's signature covers, in order (the official SDK's getSignatureString).
SIGNED_FIELDS = {
    "NOTIFY_START": INBOUND_SIGNED,
    "NOTIFY_INTERNAL": INBOUND_SIGNED,
    "NOTIFY_END": INBOUND_SIGNED,
    "NOTIFY_IVR": INBOUND_SIGNED,
    "NOTIFY_ANSWER": ("caller_id", "destination", "call_start"),
    "NOTIFY_OUT_START": OUTBOUND_SIGNED,
    "NOTIFY_OUT_END": OUTBOUND_SIGNED,
    "NOTIFY_RECORD": ("pbx_call_id", "call_id_with_rec"),
}
MAPPED = set(SIGNED_FIELDS) - {"NOTIFY_IVR"}
DISPOSITIONS = {
    "answered": Disposition.answered,
    "busy": Disposition.busy,
    "cancel": Disposition.cancelled,
    "no answer": Disposition.no_answer,
}


def _signature(fields: dict[str, str], secret: str) -> str:
    signed = "".join(fields.get(name, "") for name in SIGNED_FIELDS[fields["event"]])
    # PHP's hash_hmac returns hex text, and Zadarma base64-encodes that text, not the raw digest.
    hex_digest = hmac.new(secret.encode(), signed.encode(), hashlib.sha1).hexdigest()
    return base64.b64encode(hex_digest.encode()).decode()


def _multipart_form(delivery: WebhookRequest) -> dict[str, list[str]] | None:
    """The fields of a multipart/form-data notification; None for a form-encoded one."""
    content_type = delivery.headers.get("content-type", "")
    if content_type.partition(";")[0].strip().lower() != "multipart/form-data":
        return None
    return parse_multipart(delivery.body, content_type)


def _fields(delivery: WebhookRequest) -> dict[str, str]:
    # Zadarma posts form-encoded notifications, and some multipart/form-data: the same fields either way.
    multipart = _multipart_form(delivery)
    return delivery.fields() if multipart is None else first_values(multipart)


def _call_start(fields: dict[str, str], settings: Settings) -> datetime:
    """Zadarma's call_start is wall-clock time in the account's time zone."""
    value = required(fields, "call_start")
    try:
        local = datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError as exc:
        raise PayloadInvalid("call_start is not YYYY-MM-DD HH:MM:SS", field="call_start") from exc
    return in_utc(local.replace(tzinfo=settings.zadarma_zone), "call_start")


# An extension closing `destination` after a separator no number is written with ("74951112233#101",
# "74951112233/101"), or a destination that is one ("101"); never the last group of a spaced-out number.
_EXTENSION = re.compile(r"(?:^|[#*/])([0-9]{1,5})$")


def _extension(fields: dict[str, str]) -> str | None:
    """The extension the notification is about: `internal`, or, when Zadarma leaves it empty on an incoming
    call, the end of `destination` (an outgoing call's destination is the client)."""
    if fields.get("internal") or fields["event"].startswith("NOTIFY_OUT_"):
        return fields.get("internal") or None
    match = _EXTENSION.search(fields.get("destination", "").strip())
    return match.group(1) if match else None


def _ended(fields: dict[str, str], *, call_id: str, at: datetime) -> CallEvent:
    """NOTIFY_END or NOTIFY_OUT_END: its duration is the talk time, `last_internal` (else `internal`) who
    held the call at its end, after any transfer."""
    disposition = DISPOSITIONS.get(fields.get("disposition", ""), Disposition.failed)
    answered = disposition is Disposition.answered
    return CallEvent(
        kind=EventKind.ended,
        provider_call_id=call_id,
        occurred_at=at,
        disposition=disposition,
        identity=(fields.get("last_internal") or _extension(fields)) if answered else None,
        talk_seconds=as_int(fields.get("duration"), "duration", within=SECONDS) if answered else None,
        recording_ref=(fields.get("call_id_with_rec") or None) if fields.get("is_recorded") == "1" else None,
    )


def _events(fields: dict[str, str], event: str, delivery: WebhookRequest, settings: Settings) -> list[CallEvent]:
    call_id = fields["pbx_call_id"]
    # Zadarma sends no time but call_start: answers and ends are dated when they reach us.
    received = delivery.received_at
    if event == "NOTIFY_RECORD":
        ref = required(fields, "call_id_with_rec")
        return [CallEvent(kind=EventKind.recording, provider_call_id=call_id, occurred_at=received, recording_ref=ref)]
    outbound = event.startswith("NOTIFY_OUT_")
    internal = _extension(fields)
    # Every call notification repeats when and between whom the call began, so any one of them starts it.
    started = CallEvent(
        kind=EventKind.started,
        provider_call_id=call_id,
        occurred_at=_call_start(fields, settings),
        direction=Direction.outbound if outbound else Direction.inbound,
        from_number=fields.get("caller_id"),
        to_number=fields.get("destination" if outbound else "called_did"),
        identity=internal if outbound else None,
    )
    if event in ("NOTIFY_START", "NOTIFY_OUT_START"):
        return [started]
    if event in ("NOTIFY_END", "NOTIFY_OUT_END"):
        return [started, _ended(fields, call_id=call_id, at=received)]
    if event == "NOTIFY_INTERNAL":
        # A transfer rings the new extension with transfer_from naming the one who handed the call on.
        offered = CallEvent(
            kind=EventKind.offered,
            provider_call_id=call_id,
            occurred_at=received,
            identity=internal,
            from_number=fields.get("transfer_from") or None,
        )
        return [started, offered]
    return [
        started,
        CallEvent(kind=EventKind.answered, provider_call_id=call_id, occurred_at=received, identity=internal),
    ]


class ZadarmaAdapter:
    """Zadarma's call notifications: NOTIFY_START … NOTIFY_END, NOTIFY_OUT_*, NOTIFY_RECORD."""

    name = "zadarma"

    def is_configured(self, settings: Settings) -> bool:
        return bool(settings.zadarma_api_secret)

    def verify(self, delivery: WebhookRequest, settings: Settings) -> None:
        assert settings.zadarma_api_secret
        networks = settings.zadarma_networks
        if networks is not None and not _from(delivery.client_host, networks):
            raise SignatureInvalid("the request does not come from an address in CALLSVC_ZADARMA_ALLOWED_IPS")
        signature = delivery.headers.get("signature")
        if not signature:
            raise SignatureInvalid("the Signature header is missing")
        fields = _fields(delivery)
        if fields.get("event") not in SIGNED_FIELDS:
            raise SignatureInvalid("the event is not one whose signature Zadarma documents")
        if not secrets_equal(signature, _signature(fields, settings.zadarma_api_secret)):
            raise SignatureInvalid("the Signature does not match the notification")

    def dedupe_key(self, delivery: WebhookRequest) -> str:
        # Every notification of a call signs the same few fields: only the whole body tells two apart. A
        # multipart body is keyed by its fields, as its boundary is chosen afresh each time it is sent.
        multipart = _multipart_form(delivery)
        if multipart is None:
            return delivery.body_digest()
        return "multipart:" + hashlib.sha256(urlencode(multipart, doseq=True).encode()).hexdigest()

    def redact(self, body: bytes, settings: Settings) -> bytes:
        """The API secret signs the notification and never travels in it: nothing to overwrite."""
        return body

    def parse(self, delivery: WebhookRequest, settings: Settings) -> ParsedDelivery:
        fields = _fields(delivery)
        event = required(fields, "event")
        required(fields, "pbx_call_id")
        if event not in MAPPED:
            return ParsedDelivery(type=event, events=[])
        return ParsedDelivery(type=event, events=_events(fields, event, delivery, settings))


def _from(host: str | None, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    return any(address in network for network in networks)
