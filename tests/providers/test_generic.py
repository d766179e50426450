"""The generic format's signature check, at the adapter: whatever the headers hold, 401 or authentic."""

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime

import pytest

from callsvc.providers.base import SignatureInvalid, WebhookRequest
from callsvc.providers.generic import GenericAdapter
from tests.factories import GENERIC_SECRET, ExplicitSettings

SETTINGS = ExplicitSettings(generic_secret=GENERIC_SECRET)
BODY = b'{"type": "call.started", "call_id": "c1"}'


def headers(timestamp: str, body: bytes = BODY) -> dict[str, str]:
    """Standard Webhooks headers, signed over the bytes with the given webhook-timestamp."""
    key = base64.b64decode(GENERIC_SECRET.removeprefix("whsec_"))
    mac = hmac.new(key, f"msg_1.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


def verify(headers: dict[str, str], body: bytes = BODY) -> None:
    delivery = WebhookRequest(method="POST", url="", headers=headers, body=body, received_at=datetime.now(UTC))
    GenericAdapter().verify(delivery, SETTINGS)


class TestTimestamp:
    def test_signed_delivery_of_now_is_authentic(self):
        verify(headers(str(int(time.time()))))

    def test_body_that_is_not_utf8_is_verified_over_its_bytes(self):
        body = b'{"call_id": "\xff"}'
        verify(headers(str(int(time.time())), body), body)

    @pytest.mark.parametrize(
        "timestamp",
        [
            pytest.param("²", id="unicode-digit"),
            pytest.param("9" * 5000, id="past-int-digit-limit"),
            pytest.param("9" * 400, id="past-float-range"),
            pytest.param("-1", id="negative"),
            pytest.param(" 1", id="space"),
            pytest.param("1.5", id="fraction"),
            pytest.param("0", id="1970"),
        ],
    )
    def test_timestamp_that_is_not_recent_unix_seconds_is_refused(self, timestamp):
        with pytest.raises(SignatureInvalid):
            verify(headers(timestamp))
