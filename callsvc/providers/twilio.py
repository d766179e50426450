"""Twilio Voice status callbacks, signed with X-Twilio-Signature (pbx/PROVIDERS.md, section 1)."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs, urlsplit

from callsvc.calls.events import CallEvent, Direction, Disposition, EventKind, ParsedDelivery
from callsvc.providers.base import (
    SECONDS,
    SEQUENCE,
    PayloadInvalid,
    SignatureInvalid,
    WebhookRequest,
    as_int,
    first_values,
    in_utc,
    read_json,
    required,
    secrets_equal,
)
from callsvc.settings import Settings

SIGNATURE_HEADER = "x-twilio-signature"
# Twilio names the algorithm here when a webhook is signed with a shared key instead of the auth token.
SIGNATURE_SETTINGS_HEADER = "x-twilio-webhooks-signature-settings"
HASHES = {"HMAC_SHA1": hashlib.sha1, "HMAC_SHA256": hashlib.sha256}

# Elastic SIP Trunking: "originating" is a call from the phone network in, "terminating" one out to it.
OUTBOUND = {"outbound-api", "outbound-dial", "trunking-terminating"}
NOT_YET_ANSWERED = {"queued", "initiated", "ringing"}
UNANSWERED = {
    "busy": Disposition.busy,
    "no-answer": Disposition.no_answer,
    "canceled": Disposition.cancelled,
    "failed": Disposition.failed,
}


def _algorithm(settings_header: str | None) -> str:
    for part in (settings_header or "").split(","):
        name, _, value = part.partition("=")
        if name.strip() == "algorithm" and value.strip():
            return value.strip().upper()
    return "HMAC_SHA1"


def _without_port(url: str) -> str:
    parts = urlsplit(url)
    host, _, port = parts.netloc.rpartition(":")
    return parts._replace(netloc=host).geturl() if port.isdigit() else url


def _port_variants(url: str) -> set[str]:
    # Twilio's own validator accepts the URL with the port stripped or with the default port added.
    stripped = _without_port(url)
    if stripped != url:
        return {url, stripped}
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return {url, parts._replace(netloc=f"{parts.netloc}:{default}").geturl()}


def _body_sha256(delivery: WebhookRequest) -> str | None:
    values = parse_qs(urlsplit(delivery.url).query).get("bodySHA256")
    return values[0] if values else None


def _is_get(delivery: WebhookRequest) -> bool:
    # A callback configured with StatusCallbackMethod=GET carries its parameters in the query string.
    return delivery.method == "GET"


def _signed_params(delivery: WebhookRequest) -> dict[str, list[str]]:
    # A GET's parameters are signed as part of the URL, and a JSON body through the bodySHA256 in it.
    return {} if _is_get(delivery) or _body_sha256(delivery) is not None else delivery.form()


def _string_to_sign(url: str, params: dict[str, list[str]]) -> str:
    return url + "".join(name + value for name in sorted(params) for value in sorted(set(params[name])))


def _fields(delivery: WebhookRequest) -> dict[str, str]:
    if _is_get(delivery):
        return first_values(delivery.query())
    if _body_sha256(delivery) is None:
        return delivery.fields()
    # Twilio's parameters are text: a JSON value that is not a string stands as its JSON text.
    payload = read_json(delivery.body, "body")
    return {name: value if isinstance(value, str) else json.dumps(value) for name, value in payload.items()}


def _timestamp(fields: dict[str, str], delivery: WebhookRequest) -> datetime:
    """When the event fired (RFC 2822); requests without one happened when they arrived."""
    if not fields.get("Timestamp"):
        return delivery.received_at
    try:
        at = parsedate_to_datetime(fields["Timestamp"])
    except (TypeError, ValueError, OverflowError) as exc:
        raise PayloadInvalid("Timestamp is not an RFC 2822 date", field="Timestamp") from exc
    # "-0000" is UTC from a sender that does not know the local zone: parsed as a naive time.
    return in_utc(at if at.tzinfo else at.replace(tzinfo=UTC), "Timestamp")


def _by_machine(fields: dict[str, str]) -> bool:
    answered_by = fields.get("AnsweredBy", "")
    return answered_by.startswith("machine") or answered_by == "fax"


def _sequence(fields: dict[str, str]) -> int | None:
    return as_int(fields.get("SequenceNumber"), "SequenceNumber", within=SEQUENCE)


def _dial_leg_events(fields: dict[str, str], status: str, at: datetime) -> list[CallEvent]:
    """A <Dial> child leg: it tells who was offered the parent call and who answered it."""
    base = {
        "provider_call_id": fields["ParentCallSid"],
        "identity": required(fields, "To"),
        # SequenceNumber counts the callbacks of one CallSid: this leg's, not its parent's.
        "leg": fields["CallSid"],
        "seq": _sequence(fields),
    }
    if status == "in-progress" and not _by_machine(fields):
        return [CallEvent(kind=EventKind.answered, occurred_at=at, **base)]
    talk = as_int(fields.get("CallDuration"), "CallDuration", within=SECONDS)
    if status == "completed" and talk and not _by_machine(fields):
        # The leg's end, dated and with its length, also tells when it was answered. The leg ends the
        # conversation the agent had, not the call: after a transfer another leg carries it on.
        return [
            CallEvent(kind=EventKind.answered, occurred_at=at - timedelta(seconds=talk), **base),
            CallEvent(
                kind=EventKind.ended,
                occurred_at=at,
                disposition=Disposition.answered,
                recording_url=fields.get("RecordingUrl") or None,
                **{**base, "identity": None},
            ),
        ]
    # Ringing, answered by a machine, or a losing leg of a ring-all: offered, and the call goes on.
    return [CallEvent(kind=EventKind.offered, occurred_at=at, **base)]


def _placed_by_agent(fields: dict[str, str]) -> bool:
    """A Voice SDK call: the agent's app calls in to Twilio (`client:<name>`), and a <Dial> leg rings the client."""
    return fields.get("Direction") == "inbound" and fields.get("From", "").startswith("client:")


def _call_events(fields: dict[str, str], status: str, at: datetime) -> list[CallEvent]:
    """The call itself: an inbound call to a Twilio number, a call made through the REST API, or one an agent's
    Voice SDK app places."""
    rest_api = fields.get("Direction") in OUTBOUND
    outbound = rest_api or _placed_by_agent(fields)
    base = {
        "provider_call_id": fields["CallSid"],
        "direction": Direction.outbound if outbound else Direction.inbound,
        "from_number": fields.get("From") or None,
        "to_number": fields.get("To") or None,
        # The manager dials an outbound call; who takes an inbound one is on its <Dial> legs.
        "identity": (fields.get("From") or None) if outbound else None,
        "leg": fields["CallSid"],
        "seq": _sequence(fields),
    }
    if status in NOT_YET_ANSWERED or (status == "in-progress" and not rest_api):
        return [CallEvent(kind=EventKind.started, occurred_at=at, **base)]
    if status == "in-progress":
        kind = EventKind.started if _by_machine(fields) else EventKind.answered
        return [CallEvent(kind=kind, occurred_at=at, **base)]
    if status in UNANSWERED:
        disposition = UNANSWERED[status]
    elif status != "completed":
        return []
    elif rest_api:
        disposition = Disposition.no_answer if _by_machine(fields) else Disposition.answered
    else:
        # Twilio picking up a call (an IVR, a <Dial>, an agent's app) is not the client or a manager answering it.
        disposition = None
    answered = disposition is Disposition.answered
    duration = as_int(fields.get("CallDuration"), "CallDuration", within=SECONDS) or 0
    # A number's status callback reports only completion: the start is its end less the duration.
    return [
        CallEvent(kind=EventKind.started, occurred_at=at - timedelta(seconds=duration), **base),
        CallEvent(
            kind=EventKind.ended,
            occurred_at=at,
            disposition=disposition,
            talk_seconds=duration if answered else None,
            recording_url=fields.get("RecordingUrl") or None,
            **base,
        ),
    ]


def _dial_action_events(fields: dict[str, str], at: datetime) -> list[CallEvent]:
    """A <Dial action> request: the dialled leg's outcome, when the leg ended, on the parent call."""
    base = {"provider_call_id": fields["CallSid"], "leg": fields.get("DialCallSid") or None}
    talk = as_int(fields.get("DialCallDuration"), "DialCallDuration", within=SECONDS)
    events = []
    if fields["DialCallStatus"] in ("completed", "answered") and talk:
        events = [
            CallEvent(kind=EventKind.answered, occurred_at=at - timedelta(seconds=talk), **base),
            CallEvent(kind=EventKind.ended, occurred_at=at, disposition=Disposition.answered, **base),
        ]
    if fields.get("RecordingUrl"):
        events.append(CallEvent(kind=EventKind.recording, occurred_at=at, recording_url=fields["RecordingUrl"], **base))
    return events


class TwilioAdapter:
    """Status callbacks of a Twilio number, its <Dial> legs, REST API calls and recordings."""

    name = "twilio"

    def is_configured(self, settings: Settings) -> bool:
        return bool(settings.twilio_auth_token)

    def verify(self, delivery: WebhookRequest, settings: Settings) -> None:
        assert settings.twilio_auth_token
        signature = delivery.headers.get(SIGNATURE_HEADER)
        if not signature:
            raise SignatureInvalid("the X-Twilio-Signature header is missing")
        digest = HASHES.get(_algorithm(delivery.headers.get(SIGNATURE_SETTINGS_HEADER)))
        if digest is None:
            raise SignatureInvalid("the webhook is signed with an algorithm Twilio does not document")
        body_sha256 = _body_sha256(delivery)
        if body_sha256 is not None and not secrets_equal(hashlib.sha256(delivery.body).hexdigest(), body_sha256):
            raise SignatureInvalid("the body does not match bodySHA256")
        params = _signed_params(delivery)
        key = settings.twilio_auth_token.encode()
        for url in _port_variants(delivery.url):
            mac = hmac.new(key, _string_to_sign(url, params).encode(), digest)
            if secrets_equal(signature, base64.b64encode(mac.digest()).decode()):
                return
        raise SignatureInvalid("X-Twilio-Signature does not match the URL and parameters (is CALLSVC_PUBLIC_URL set?)")

    def dedupe_key(self, delivery: WebhookRequest) -> str:
        # Exactly what the signature covers: I-Twilio-Idempotency-Token is unsigned, so a replay could
        # forge a new one, and any change to the body that keeps the signature keeps this key too. The
        # port is left out, as verify() accepts the URL with or without one.
        url = _without_port(delivery.url)
        return hashlib.sha256(_string_to_sign(url, _signed_params(delivery)).encode()).hexdigest()

    def redact(self, body: bytes, settings: Settings) -> bytes:
        """The auth token signs the request and never travels in it: nothing to overwrite."""
        return body

    def parse(self, delivery: WebhookRequest, settings: Settings) -> ParsedDelivery:
        fields = _fields(delivery)
        required(fields, "CallSid")
        at = _timestamp(fields, delivery)
        if "CallStatus" not in fields and fields.get("RecordingSid"):
            status = fields.get("RecordingStatus", "")
            events = []
            if status == "completed" and fields.get("RecordingUrl"):
                events = [
                    CallEvent(
                        kind=EventKind.recording,
                        provider_call_id=fields["CallSid"],
                        occurred_at=at,
                        recording_url=fields["RecordingUrl"],
                    )
                ]
            return ParsedDelivery(type=f"recording.{status}", events=events)
        status = required(fields, "CallStatus")
        if fields.get("DialCallStatus"):
            # The action request is also the parent call's own report, with its CallStatus.
            events = _call_events(fields, status, at) + _dial_action_events(fields, at)
            return ParsedDelivery(type=f"dial-action.{fields['DialCallStatus']}", events=events)
        if fields.get("ParentCallSid"):
            return ParsedDelivery(type=f"dial.{status}", events=_dial_leg_events(fields, status, at))
        return ParsedDelivery(type=f"call.{status}", events=_call_events(fields, status, at))
