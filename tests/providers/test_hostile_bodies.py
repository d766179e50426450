"""Correctly signed bodies that are not the provider's format: parsing returns events or refuses, nothing else.

Each body is signed the provider's own way, so it passes verify(); then parse() and check_events() must
either return or raise PayloadInvalid naming a field. Bodies are recorded payloads with fields replaced,
dropped or added, and bodies built from the provider's field names with hostile values: numbers too
large for any column or for a float, NaN and Infinity, nesting thousands of levels deep, NUL, lone
surrogates, invalid UTF-8, text of 20,000 characters, times in the years 1 and 9999, wrong types.
"""

import base64
import copy
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

import hypothesis
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from callsvc.providers.aircall import MAPPED as AIRCALL_EVENTS
from callsvc.providers.aircall import AircallAdapter
from callsvc.providers.base import PayloadInvalid, ProviderAdapter, WebhookRequest, check_events
from callsvc.providers.generic import KIND_BY_TYPE, GenericAdapter
from callsvc.providers.mango import MangoAdapter
from callsvc.providers.twilio import TwilioAdapter
from callsvc.providers.zadarma import SIGNED_FIELDS, ZadarmaAdapter
from callsvc.settings import Settings
from tests.factories import GENERIC_SECRET, ExplicitSettings, answered_call, load_payloads, missed_call, post_generic
from tests.providers.test_aircall import TOKEN as AIRCALL_TOKEN
from tests.providers.test_mango import API_KEY as MANGO_KEY
from tests.providers.test_mango import SALT as MANGO_SALT
from tests.providers.test_twilio import TOKEN as TWILIO_TOKEN
from tests.providers.test_twilio import WEBHOOK_URL as TWILIO_URL
from tests.providers.test_zadarma import SECRET as ZADARMA_SECRET
from tests.providers.test_zadarma import sign as zadarma_signature

HOSTILE = hypothesis.settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime.now(UTC)


class Raw(bytes):
    """JSON text put into a body as it is, for what json.dumps never writes."""


def dump(value: Any) -> bytes:
    """Serialize to JSON, Raw pieces verbatim; a lone surrogate becomes a \\ud800 escape."""
    if isinstance(value, Raw):
        return bytes(value)
    if isinstance(value, dict):
        return b"{" + b",".join(dump(key) + b":" + dump(item) for key, item in value.items()) + b"}"
    if isinstance(value, list):
        return b"[" + b",".join(dump(item) for item in value) + b"]"
    return json.dumps(value).encode()


def nested(depth: int) -> Raw:
    return Raw(
        b'{"a":' * (depth // 2) + b"[" * (depth - depth // 2) + b"]" * (depth - depth // 2) + b"}" * (depth // 2)
    )


EXTREME_TIMES = [
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "0001-01-01 00:00:00",
    "9999-12-31 23:59:59",
    "1969-12-31 23:59:59",
    "Mon, 01 Jan 0001 00:00:00 +0100",
    "Fri, 31 Dec 9999 23:59:59 -0100",
    "Fri, 31 Dec 99999999999999999999 23:59:59 -0100",
    "Fri, 31 Dec 2026 99999999999999999999:59:59 +0000",
    "Thu, 01 Jan 1970 00:00:00 +2359",
]
NUMBERS_AS_TEXT = ["inf", "-inf", "nan", "NaN", "1e400", "-1", "1.5", "9" * 25, "9" * 5000, "٣", " 1", "0x10", "1_0"]
BOUNDARY_NUMBERS = [2**31 - 1, 2**31, 2**63 - 1, 2**63, -1, 0, 253_402_300_799, 253_402_300_800, 10**30]

# Text a form can carry: anything printable or not, NUL, very long, numbers and times no column holds.
form_text = st.one_of(
    st.text(max_size=12),
    st.text(max_size=6).map(lambda text: text + "\x00"),
    st.sampled_from(NUMBERS_AS_TEXT + EXTREME_TIMES + ["\x00"]),
    st.integers(min_value=201, max_value=20_000).map(lambda size: "7" * size),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
)
# Form values may also be bytes that are not UTF-8.
form_value = st.one_of(form_text, st.binary(max_size=8))

json_leaf = st.one_of(
    form_text,
    st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=2),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from(BOUNDARY_NUMBERS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.sampled_from(
        [
            Raw(b"NaN"),
            Raw(b"Infinity"),
            Raw(b"-Infinity"),
            Raw(b"1e400"),
            Raw(b"-1e400"),
            Raw(b"1.5e308"),
            Raw(b"9" * 5000),
            Raw(b'"\\u0000"'),
            Raw(b'"\\ud800"'),
        ]
    ),
    st.integers(min_value=33, max_value=3_000).map(nested),
)
# Raw bytes that are not UTF-8, inside a string or not.
not_utf8 = st.sampled_from([Raw(b'"\xff\xfe"'), Raw(b'"\xed\xa0\x80"'), Raw(b'"\xc0\xaf"'), Raw(b"\x80")])
json_value = st.recursive(
    json_leaf,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    """Every place in a JSON-like value: the keys and indexes that lead to it."""
    places = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            places += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            places += _paths(item, (*path, index))
    return places


def _at(value: Any, path: tuple) -> Any:
    for step in path:
        value = value[step]
    return value


@st.composite
def mutated(draw: st.DrawFn, seed: Any, values: st.SearchStrategy, *, keep: frozenset = frozenset()) -> Any:
    """A recorded payload with one to three places given a new member, dropped or replaced by a hostile value.

    Top-level fields named in `keep` (what the signature needs) are left alone.
    """
    value = copy.deepcopy(seed)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from([path for path in _paths(value) if not path or path[0] not in keep]))
        node = _at(value, path)
        if isinstance(node, dict) and (not path or draw(st.booleans())):
            node[draw(st.text(max_size=12).filter(lambda key: key not in keep))] = draw(values)
        elif path:
            parent = _at(value, path[:-1])
            if isinstance(parent, dict) and draw(st.booleans()):
                del parent[path[-1]]
            else:
                parent[path[-1]] = draw(values)
    return value


def with_fields(names: list[str], values: st.SearchStrategy) -> st.SearchStrategy[dict]:
    """Bodies from scratch: any of the provider's own field names, each with a hostile value."""
    return st.dictionaries(st.sampled_from(names), values, max_size=len(names))


def parses_or_refuses(adapter: ProviderAdapter, delivery: WebhookRequest, settings: Settings) -> None:
    """Verify the delivery, then parse and check it: events, or PayloadInvalid naming the field; nothing else."""
    adapter.verify(delivery, settings)
    try:
        check_events(adapter.parse(delivery, settings))
    except PayloadInvalid as exc:
        assert exc.field, exc.detail
        hypothesis.event(f"refused, {exc.field}")
    else:
        hypothesis.event("parsed")


def outcome(adapter: ProviderAdapter, delivery: WebhookRequest, settings: Settings) -> object:
    try:
        parsed = adapter.parse(delivery, settings)
        check_events(parsed)
    except PayloadInvalid as exc:
        return exc.field
    return parsed


def request(url: str, body: bytes, headers: dict[str, str] | None = None) -> WebhookRequest:
    return WebhookRequest(method="POST", url=url, headers=headers or {}, body=body, received_at=NOW)


def standard_webhooks_headers(body: bytes) -> dict[str, str]:
    """Headers signed over the body's bytes, as the Standard Webhooks spec defines the signature."""
    msg_id, timestamp = f"msg_{hashlib.sha256(body).hexdigest()[:32]}", str(int(time.time()))
    key = base64.b64decode(GENERIC_SECRET.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": f"v1,{base64.b64encode(mac).decode()}",
    }


class _FormParams(dict):
    """The parameters as our form reader decodes them, each with all its values, for Twilio's validator."""

    def getlist(self, name: str) -> list[str]:
        return self[name]


def generic_request(event: Any) -> WebhookRequest:
    """A generic-format event, signed over its bytes."""
    body = dump(event)
    return request("https://calls.example.com/webhooks/generic", body, standard_webhooks_headers(body))


def aircall_request(envelope: dict) -> WebhookRequest:
    """An Aircall envelope carrying the webhook's token."""
    return request("https://calls.example.com/webhooks/aircall", dump({**envelope, "token": AIRCALL_TOKEN}))


def mango_request(event_type: str, payload: Any) -> WebhookRequest:
    """A Mango event in its form envelope, signed with sha256(key + json + salt)."""
    envelope = {"vpbx_api_key": MANGO_KEY, "json": dump(payload)}
    # Mango signs the json field as the form carries it; text that is not UTF-8 is read as the form reads it.
    signed = parse_qs(urlencode(envelope).encode().decode(errors="replace"))["json"][0]
    sign = hashlib.sha256((MANGO_KEY + signed + MANGO_SALT).encode()).hexdigest()
    body = urlencode({**envelope, "sign": sign}).encode()
    return request(f"https://calls.example.com/webhooks/mango/events/{event_type}", body)


def twilio_request(fields: dict[str, Any]) -> WebhookRequest:
    """A form-encoded Twilio callback, signed by Twilio's own validator."""
    body = urlencode(fields).encode()
    params = _FormParams(parse_qs(body.decode(errors="replace"), keep_blank_values=True))
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(TWILIO_URL, params)
    return request(TWILIO_URL, body, {"x-twilio-signature": signature})


def zadarma_request(fields: dict[str, Any]) -> WebhookRequest:
    """A Zadarma notification with its Signature header."""
    body = urlencode(fields).encode()
    # Zadarma signs fields as the notification carries them: here, as our form reader decodes them.
    signature = zadarma_signature(request("", body).fields(), ZADARMA_SECRET)
    return request("https://calls.example.com/webhooks/zadarma", body, {"signature": signature})


class TestGeneric:
    ADAPTER, SETTINGS = GenericAdapter(), ExplicitSettings(generic_secret=GENERIC_SECRET)
    SEEDS = [*answered_call("c1"), *missed_call("c2", offered=("101", "102"))]
    FIELDS = ["type", "call_id", "direction", "from", "to", "extension", "occurred_at", "disposition", "recording_url"]
    VALUES = st.one_of(
        json_value, not_utf8, st.sampled_from([*KIND_BY_TYPE, "inbound", "outbound", "answered", "busy"])
    )

    def check(self, event: Any) -> None:
        parses_or_refuses(self.ADAPTER, generic_request(event), self.SETTINGS)

    @HOSTILE
    @given(st.data())
    def test_mutated_recorded_event(self, data):
        self.check(data.draw(mutated(data.draw(st.sampled_from(self.SEEDS)), self.VALUES)))

    @HOSTILE
    @given(with_fields(FIELDS, VALUES) | json_value)
    def test_event_from_scratch(self, event):
        self.check(event)


class TestAircall:
    ADAPTER, SETTINGS = AircallAdapter(), ExplicitSettings(aircall_token=AIRCALL_TOKEN)
    SEEDS = [
        {**envelope, "token": AIRCALL_TOKEN}
        for name in ("inbound_answered", "inbound_missed", "outbound_answered")
        for envelope in load_payloads("aircall", name)
    ]
    DATA_FIELDS = [
        *("id", "direction", "started_at", "answered_at", "ended_at", "raw_digits", "recording", "user", "number"),
    ]
    VALUES = st.one_of(json_value, not_utf8, st.sampled_from(sorted(AIRCALL_EVENTS)))
    SCRATCH = st.fixed_dictionaries(
        {"resource": st.just("call") | json_value, "event": VALUES},
        optional={"timestamp": VALUES, "data": with_fields(DATA_FIELDS, VALUES) | json_value},
    )

    def check(self, envelope: dict) -> None:
        delivery = aircall_request(envelope)
        parses_or_refuses(self.ADAPTER, delivery, self.SETTINGS)
        # Kept redacted, it must replay to what it said as received.
        redacted = request(delivery.url, self.ADAPTER.redact(delivery.body, self.SETTINGS))
        assert AIRCALL_TOKEN.encode() not in redacted.body
        assert outcome(self.ADAPTER, redacted, self.SETTINGS) == outcome(self.ADAPTER, delivery, self.SETTINGS)

    @HOSTILE
    @given(st.data())
    def test_mutated_recorded_envelope(self, data):
        seed = data.draw(st.sampled_from(self.SEEDS))
        self.check(data.draw(mutated(seed, self.VALUES, keep=frozenset({"token"}))))

    @HOSTILE
    @given(SCRATCH)
    def test_envelope_from_scratch(self, envelope):
        self.check(envelope)


class TestMango:
    ADAPTER, SETTINGS = MangoAdapter(), ExplicitSettings(mango_api_key=MANGO_KEY, mango_api_salt=MANGO_SALT)
    SEEDS = [
        delivery
        for name in ("inbound_answered", "inbound_missed", "outbound_answered")
        for delivery in load_payloads("mango", name)
    ]
    FIELDS = [
        *("entry_id", "call_id", "timestamp", "seq", "call_state", "location", "from", "to", "disconnect_reason"),
        *("call_direction", "line_number", "create_time", "end_time", "talk_time", "entry_result"),
        *("recording_id", "recording_state", "completion_code"),
    ]
    VALUES = st.one_of(json_value, not_utf8, st.sampled_from(["Appeared", "Connected", "Completed", "abonent", "1"]))
    TYPES = st.sampled_from(["call", "summary", "recording", "dtmf"])

    def check(self, event_type: str, payload: Any) -> None:
        delivery = mango_request(event_type, payload)
        parses_or_refuses(self.ADAPTER, delivery, self.SETTINGS)
        redacted = request(delivery.url, self.ADAPTER.redact(delivery.body, self.SETTINGS))
        assert MANGO_KEY.encode() not in redacted.body
        assert outcome(self.ADAPTER, redacted, self.SETTINGS) == outcome(self.ADAPTER, delivery, self.SETTINGS)

    @HOSTILE
    @given(st.data())
    def test_mutated_recorded_event(self, data):
        seed = data.draw(st.sampled_from(self.SEEDS))
        self.check(seed["event"], data.draw(mutated(seed["json"], self.VALUES)))

    @HOSTILE
    @given(TYPES, with_fields(FIELDS, VALUES) | json_value)
    def test_event_from_scratch(self, event_type, payload):
        self.check(event_type, payload)


class TestTwilio:
    ADAPTER, SETTINGS = TwilioAdapter(), ExplicitSettings(twilio_auth_token=TWILIO_TOKEN)
    SEEDS = [
        fields
        for name in ("inbound_answered", "inbound_missed", "outbound_answered", "recording_completed")
        for fields in load_payloads("twilio", name)
    ]
    FIELDS = [
        *("CallSid", "ParentCallSid", "CallStatus", "Direction", "From", "To", "Timestamp", "SequenceNumber"),
        *("CallDuration", "AnsweredBy", "RecordingUrl", "RecordingSid", "RecordingStatus"),
    ]
    STATUSES = st.sampled_from(["initiated", "ringing", "in-progress", "completed", "busy", "no-answer", "failed"])

    def check_form(self, fields: dict[str, Any]) -> None:
        parses_or_refuses(self.ADAPTER, twilio_request(fields), self.SETTINGS)

    @HOSTILE
    @given(st.data())
    def test_mutated_recorded_callback(self, data):
        self.check_form(data.draw(mutated(data.draw(st.sampled_from(self.SEEDS)), form_value | self.STATUSES)))

    @HOSTILE
    @given(with_fields(FIELDS, form_value | STATUSES))
    def test_callback_from_scratch(self, fields):
        self.check_form(fields)

    @HOSTILE
    @given(st.data())
    def test_json_body_signed_through_body_sha256(self, data):
        seed = data.draw(st.sampled_from(self.SEEDS))
        body = dump(data.draw(mutated(seed, json_value | not_utf8 | self.STATUSES) | json_value))
        url = f"{TWILIO_URL}?bodySHA256={hashlib.sha256(body).hexdigest()}"
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, {})
        parses_or_refuses(self.ADAPTER, request(url, body, {"x-twilio-signature": signature}), self.SETTINGS)


class TestZadarma:
    ADAPTER = ZadarmaAdapter()
    # call_start is read in the account's zone: ahead of UTC, year 1 falls before it; behind, 9999 after it.
    ZONES = [
        ExplicitSettings(zadarma_api_secret=ZADARMA_SECRET, zadarma_timezone=zone)
        for zone in ("Europe/Moscow", "America/Los_Angeles", "Pacific/Kiritimati", "UTC")
    ]
    SEEDS = [
        fields
        for name in ("inbound_answered", "inbound_missed", "outbound_answered")
        for fields in load_payloads("zadarma", name)
    ]
    FIELDS = [
        *("pbx_call_id", "call_start", "caller_id", "called_did", "destination", "internal", "duration"),
        *("disposition", "is_recorded", "call_id_with_rec"),
    ]

    def check(self, fields: dict[str, Any], settings: Settings) -> None:
        parses_or_refuses(self.ADAPTER, zadarma_request(fields), settings)

    @HOSTILE
    @given(st.data(), st.sampled_from(ZONES))
    def test_mutated_recorded_notification(self, data, settings):
        seed = data.draw(st.sampled_from(self.SEEDS))
        self.check(data.draw(mutated(seed, form_value, keep=frozenset({"event"}))), settings)

    @HOSTILE
    @given(st.sampled_from(sorted(SIGNED_FIELDS)), with_fields(FIELDS, form_value), st.sampled_from(ZONES))
    def test_notification_from_scratch(self, event, fields, settings):
        self.check({"event": event, **fields}, settings)


def test_a_recording_url_longer_than_any_real_one_is_refused_by_name(client, session):
    event = {
        **answered_call("long-url")[0],
        "type": "call.recording",
        "recording_url": "https://r.example/" + "a" * 9000,
    }
    response = post_generic(client, event)
    assert (response.status_code, response.json()["field"]) == (422, "recording_url")
