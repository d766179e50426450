"""Deliveries are kept with the credentials a provider puts in the body overwritten, and still replay."""

import hashlib
import json
from dataclasses import replace
from urllib.parse import urlencode

import pytest

from callsvc.providers.aircall import AircallAdapter
from callsvc.providers.base import WebhookRequest
from callsvc.providers.generic import GenericAdapter
from callsvc.providers.mango import MangoAdapter
from callsvc.providers.twilio import TwilioAdapter
from callsvc.providers.zadarma import ZadarmaAdapter
from tests.factories import GENERIC_SECRET, NOW, ExplicitSettings, answered_call, load_payloads
from tests.providers.test_aircall import TOKEN as AIRCALL_TOKEN
from tests.providers.test_mango import API_KEY as MANGO_KEY
from tests.providers.test_mango import SALT as MANGO_SALT
from tests.providers.test_twilio import TOKEN as TWILIO_TOKEN

SETTINGS = ExplicitSettings(
    aircall_token=AIRCALL_TOKEN, mango_api_key=MANGO_KEY, mango_api_salt=MANGO_SALT, twilio_auth_token=TWILIO_TOKEN
)
CALLS = ("inbound_answered", "inbound_missed", "outbound_answered")


def delivery(url: str, body: bytes) -> WebhookRequest:
    return WebhookRequest(method="POST", url=url, headers={}, body=body, received_at=NOW)


def aircall_deliveries() -> list[WebhookRequest]:
    return [
        delivery(
            "https://calls.example.com/webhooks/aircall", json.dumps({**envelope, "token": AIRCALL_TOKEN}).encode()
        )
        for name in CALLS
        for envelope in load_payloads("aircall", name)
    ]


def mango_deliveries() -> list[WebhookRequest]:
    deliveries = []
    for name in CALLS:
        for recorded in load_payloads("mango", name):
            payload = json.dumps(recorded["json"], ensure_ascii=False)
            sign = hashlib.sha256((MANGO_KEY + payload + MANGO_SALT).encode()).hexdigest()
            body = urlencode({"vpbx_api_key": MANGO_KEY, "sign": sign, "json": payload}).encode()
            deliveries.append(delivery(f"https://calls.example.com/webhooks/mango/events/{recorded['event']}", body))
    return deliveries


class TestCredentialsInTheBody:
    @pytest.mark.parametrize("original", aircall_deliveries())
    def test_aircall_token_is_overwritten_and_the_body_replays_to_the_same_events(self, original):
        kept = replace(original, body=AircallAdapter().redact(original.body, SETTINGS))
        assert AIRCALL_TOKEN.encode() not in kept.body
        assert kept.body == original.body.replace(f'"{AIRCALL_TOKEN}"'.encode(), b'"REDACTED"')
        assert AircallAdapter().parse(kept, SETTINGS) == AircallAdapter().parse(original, SETTINGS)

    def test_aircall_tokens_nested_in_the_call_data_are_not_credentials(self):
        body = json.dumps({"token": AIRCALL_TOKEN, "data": {"token": "kept"}}).encode()
        assert AircallAdapter().redact(body, SETTINGS) == b'{"token": "REDACTED", "data": {"token": "kept"}}'

    @pytest.mark.parametrize("original", mango_deliveries())
    def test_mango_api_key_is_overwritten_and_the_body_replays_to_the_same_events(self, original):
        kept = replace(original, body=MangoAdapter().redact(original.body, SETTINGS))
        assert MANGO_KEY.encode() not in kept.body
        assert kept.body == original.body.replace(f"vpbx_api_key={MANGO_KEY}".encode(), b"vpbx_api_key=REDACTED")
        assert MangoAdapter().parse(kept, SETTINGS) == MangoAdapter().parse(original, SETTINGS)


class TestNoCredentialsInTheBody:
    """Twilio, Zadarma and the generic format sign with a secret that never travels: their bodies are kept whole."""

    @pytest.mark.parametrize(
        ("adapter", "body"),
        [
            (TwilioAdapter(), urlencode(load_payloads("twilio", "inbound_answered")[-1]).encode()),
            (ZadarmaAdapter(), urlencode(load_payloads("zadarma", "inbound_answered")[-1]).encode()),
            (GenericAdapter(), json.dumps(answered_call("c1")[0]).encode()),
        ],
        ids=["twilio", "zadarma", "generic"],
    )
    def test_body_is_kept_byte_for_byte(self, adapter, body):
        settings = ExplicitSettings(
            generic_secret=GENERIC_SECRET, zadarma_api_secret="s", twilio_auth_token=TWILIO_TOKEN
        )
        assert adapter.redact(body, settings) == body
