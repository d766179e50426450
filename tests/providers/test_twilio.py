"""Twilio status callbacks through the real app, signed by Twilio's own validator code."""

import hashlib
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from sqlmodel import select
from twilio.request_validator import RequestValidator

from callsvc.calls.models import CallEventRecord
from callsvc.ingestion.models import ProviderEvent
from callsvc.providers.base import SignatureInvalid, WebhookRequest
from callsvc.providers.twilio import TwilioAdapter
from tests.factories import (
    NOW,
    SEEDS,
    ExplicitSettings,
    calls_in_db,
    create_manager,
    events_of_each_delivery,
    load_payloads,
    scrambled,
)

TOKEN = "f2a3b4c5d6e7f8091a2b3c4d5e6f7081"
PUBLIC_URL = "https://calls.example.com"
WEBHOOK_URL = f"{PUBLIC_URL}/webhooks/twilio"


@pytest.fixture
def settings_overrides() -> dict:
    return {"twilio_auth_token": TOKEN, "public_url": PUBLIC_URL}


def post(client, fields: dict[str, str], *, token: str = TOKEN, url: str = WEBHOOK_URL, headers: dict | None = None):
    """POST a status callback signed the way Twilio signs it."""
    signature = RequestValidator(token).compute_signature(url, fields)
    return client.post(
        "/webhooks/twilio",
        content=urlencode(fields),
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": signature,
            **(headers or {}),
        },
    )


def get(client, fields: dict[str, str], *, token: str = TOKEN):
    """GET a callback configured with StatusCallbackMethod=GET: Twilio signs the URL with its query, no parameters."""
    query = urlencode(fields)
    signature = RequestValidator(token).compute_signature(f"{WEBHOOK_URL}?{query}", {})
    return client.get(f"/webhooks/twilio?{query}", headers={"x-twilio-signature": signature})


def send_signed(client, fields: dict[str, str], signature: str | None):
    """POST a callback with whatever signature header is given (None: no header)."""
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["x-twilio-signature"] = signature
    return client.post("/webhooks/twilio", content=urlencode(fields), headers=headers)


def replay(client, name: str, seed: int, send=post) -> None:
    for fields in scrambled(load_payloads("twilio", name), seed):
        assert send(client, fields).status_code == 200


class TestInboundCall:
    @pytest.mark.parametrize("seed", SEEDS)
    def test_ring_all_answered_by_one_agent_is_completed_and_owned_by_that_agent(self, client, session, seed):
        anna = create_manager(session, name="Anna", provider="twilio", extensions=("client:anna",))
        create_manager(session, name="Boris", provider="twilio", extensions=("+14155550123",))
        replay(client, "inbound_answered", seed)

        [call] = calls_in_db(session)
        assert call.provider_call_id == "CA7d1e2f3a4b5c6d7e8f9a0b1c2d3e4f50"
        assert (call.direction, call.status, call.manager_id) == ("inbound", "completed", anna.id)
        assert (call.client_number, call.line_number) == ("+14155550100", "+14155550199")
        assert call.started_at == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
        assert call.answered_at == datetime(2026, 11, 22, 10, 0, 9, tzinfo=UTC)
        # The call ends when the caller's leg does, a second after the agent's leg: legs' sequences don't mix.
        assert call.ended_at == datetime(2026, 11, 22, 10, 1, 45, tzinfo=UTC)
        assert (call.talk_seconds, call.wait_seconds) == (95, 9)
        assert call.recording_url.endswith("/Recordings/RE0123456789abcdef0123456789abcdef")

    @pytest.mark.parametrize("seed", SEEDS)
    def test_call_no_agent_answered_is_missed_and_owned_by_the_one_agent_it_rang(self, client, session, seed):
        anna = create_manager(session, name="Anna", provider="twilio", extensions=("client:anna",))
        replay(client, "inbound_missed", seed)

        [call] = calls_in_db(session)
        assert (call.status, call.manager_id, call.talk_seconds) == ("missed", anna.id, None)
        assert (call.client_number, call.line_number) == ("+14155550100", "+14155550199")
        assert call.wait_seconds == 40

    def test_losing_leg_of_a_ring_all_does_not_end_the_call(self, client, session):
        deliveries = load_payloads("twilio", "inbound_answered")
        boris_cancelled = deliveries[5]
        assert post(client, boris_cancelled).status_code == 200
        assert post(client, deliveries[4]).status_code == 200  # Anna answers
        [call] = calls_in_db(session)
        assert (call.status, call.ended_at) == ("in_progress", None)

    def test_agent_leg_answered_by_a_machine_is_not_an_answer(self, client, session):
        create_manager(session, name="Anna", provider="twilio", extensions=("client:anna",))
        *legs, parent_completed = load_payloads("twilio", "inbound_missed")
        voicemail = {**legs[0], "CallStatus": "in-progress", "AnsweredBy": "machine_end_beep", "SequenceNumber": "2"}
        for fields in (voicemail, parent_completed):
            post(client, fields)
        [call] = calls_in_db(session)
        assert call.status == "missed"

    def test_twilio_picking_up_the_call_alone_is_not_an_answer(self, client, session):
        parent_completed = load_payloads("twilio", "inbound_answered")[-1]
        post(client, parent_completed)
        [call] = calls_in_db(session)
        assert (call.status, call.manager_id, call.talk_seconds) == ("missed", None, None)


class TestWithheldCaller:
    @pytest.mark.parametrize(
        "caller",
        [
            "anonymous",
            "Anonymous",
            "UNAVAILABLE",
            "UNKNOWN",
            "Restricted",
            "private",
            "+266696687",
            "+7378742833",
            "+2562533",
            "+8656696",
            "+86282452253",
        ],
    )
    def test_withheld_caller_has_no_client_number_and_is_kept_as_sent(self, client, session, caller):
        parent = next(f for f in load_payloads("twilio", "inbound_missed") if "ParentCallSid" not in f)
        assert post(client, {**parent, "From": caller, "Caller": caller}).status_code == 200

        [call] = calls_in_db(session)
        assert (call.client_number, call.line_number) == (None, "+14155550199")
        events = session.exec(select(CallEventRecord)).all()
        assert {event.from_number for event in events if event.from_number} == {caller}


class TestOutboundCall:
    @pytest.mark.parametrize("seed", SEEDS)
    def test_api_call_is_completed_and_owned_by_who_dials(self, client, session, seed):
        anna = create_manager(session, name="Anna", provider="twilio", extensions=("+14155550150",))
        replay(client, "outbound_answered", seed)

        [call] = calls_in_db(session)
        assert (call.direction, call.status, call.manager_id) == ("outbound", "completed", anna.id)
        assert (call.client_number, call.line_number) == ("+79161234567", "+14155550150")
        assert (call.talk_seconds, call.wait_seconds) == (42, 8)

    def test_api_call_nobody_picked_up_failed(self, client, session):
        anna = create_manager(session, name="Anna", provider="twilio", extensions=("+14155550150",))
        initiated, ringing, _, completed = load_payloads("twilio", "outbound_answered")
        no_answer = {**completed, "CallStatus": "no-answer", "CallDuration": "0"}
        for fields in (no_answer, ringing, initiated):
            post(client, fields)
        [call] = calls_in_db(session)
        assert (call.status, call.manager_id, call.talk_seconds) == ("failed", anna.id, None)


class TestSipTrunking:
    @pytest.mark.parametrize(
        ("direction", "expected"),
        [("trunking-originating", ("inbound", "missed")), ("trunking-terminating", ("outbound", "failed"))],
    )
    def test_trunk_calls_take_the_direction_twilio_documents(self, client, session, direction, expected):
        completed = load_payloads("twilio", "outbound_answered")[-1]
        post(client, {**completed, "Direction": direction, "CallStatus": "no-answer", "CallDuration": "0"})
        [call] = calls_in_db(session)
        assert (call.direction, call.status) == expected


class TestRecording:
    def test_recording_status_callback_sets_the_recording_url(self, client, session):
        parent_completed = load_payloads("twilio", "inbound_answered")[-1]
        post(client, {name: value for name, value in parent_completed.items() if name != "RecordingUrl"})
        assert calls_in_db(session)[0].recording_url is None
        [recording] = load_payloads("twilio", "recording_completed")
        assert post(client, recording).json() == {"status": "accepted"}
        [call] = calls_in_db(session)
        assert call.recording_url == recording["RecordingUrl"]


class TestGetCallback:
    """StatusCallbackMethod=GET: the same callbacks, their parameters in the signed query string."""

    @pytest.mark.parametrize("seed", SEEDS)
    def test_a_call_reported_by_get_is_the_call_reported_by_post(self, client, session, seed):
        anna = create_manager(session, name="Anna", provider="twilio", extensions=("client:anna",))
        replay(client, "inbound_answered", seed, send=get)

        [call] = calls_in_db(session)
        assert (call.direction, call.status, call.manager_id) == ("inbound", "completed", anna.id)
        assert (call.client_number, call.line_number) == ("+14155550100", "+14155550199")
        assert (call.talk_seconds, call.wait_seconds) == (95, 9)
        assert call.recording_url.endswith("/Recordings/RE0123456789abcdef0123456789abcdef")

    def test_each_callback_sent_as_get_maps_to_the_events_of_the_posted_one(self, client, session):
        for fields in load_payloads("twilio", "inbound_answered"):
            assert get(client, fields).json() == {"status": "accepted"}
            assert post(client, fields).json() == {"status": "accepted"}
        by_method: dict[str, list[tuple]] = {"GET": [], "POST": []}
        for raw, events in events_of_each_delivery(session):
            by_method[raw.method].append((raw.type, events))
        assert by_method["GET"] == by_method["POST"]
        assert all(events for _, events in by_method["GET"])

    def test_a_tampered_query_is_401_and_stores_nothing(self, client, session):
        fields = load_payloads("twilio", "inbound_missed")[-1]
        query = urlencode(fields)
        signature = RequestValidator(TOKEN).compute_signature(f"{WEBHOOK_URL}?{query}", {})
        tampered = urlencode({**fields, "CallStatus": "busy"})
        response = client.get(f"/webhooks/twilio?{tampered}", headers={"x-twilio-signature": signature})
        assert (response.status_code, response.json()["code"]) == (401, "invalid_signature")
        assert session.exec(select(ProviderEvent)).all() == []

    def test_the_same_get_twice_is_a_duplicate(self, client, session):
        fields = load_payloads("twilio", "inbound_missed")[-1]
        assert get(client, fields).json() == {"status": "accepted"}
        assert get(client, fields).json() == {"status": "duplicate"}
        assert len(session.exec(select(ProviderEvent)).all()) == 1


class TestExactlyOnce:
    def test_a_replay_with_a_new_idempotency_token_is_still_a_duplicate(self, client, session):
        # The token is unsigned: anyone holding a captured callback could send it with a fresh one.
        fields = load_payloads("twilio", "inbound_missed")[-1]
        first = post(client, fields, headers={"i-twilio-idempotency-token": "a1b2c3d4-first"})
        replayed = post(client, fields, headers={"i-twilio-idempotency-token": "e5f6a7b8-forged"})
        assert (first.json(), replayed.json()) == ({"status": "accepted"}, {"status": "duplicate"})
        assert len(session.exec(select(ProviderEvent)).all()) == 1

    def test_the_same_signed_callback_with_its_parameters_reordered_is_a_duplicate(self, client, session):
        fields = load_payloads("twilio", "inbound_missed")[-1]
        assert post(client, fields).json() == {"status": "accepted"}
        assert post(client, dict(reversed(fields.items()))).json() == {"status": "duplicate"}
        assert len(session.exec(select(ProviderEvent)).all()) == 1

    def test_key_is_the_sha256_of_the_signed_url_and_sorted_parameters(self):
        fields = {"CallSid": "CA1", "CallStatus": "completed", "To": "+14155550199"}
        signature = RequestValidator(TOKEN).compute_signature(WEBHOOK_URL, fields)
        delivery = _delivery(WEBHOOK_URL, urlencode(fields).encode(), signature, **{"i-twilio-idempotency-token": "t"})
        signed = f"{WEBHOOK_URL}CallSidCA1CallStatuscompletedTo+14155550199"
        assert TwilioAdapter().dedupe_key(delivery) == hashlib.sha256(signed.encode()).hexdigest()

    def test_callbacks_that_differ_in_a_signed_parameter_have_different_keys(self):
        fields = load_payloads("twilio", "inbound_missed")[-1]
        keys = {
            TwilioAdapter().dedupe_key(_delivery(WEBHOOK_URL, urlencode({**fields, "CallStatus": status}).encode(), ""))
            for status in ("completed", "busy")
        }
        assert len(keys) == 2


class TestSignature:
    def test_signature_over_the_url_with_the_default_port_is_accepted(self, client, session):
        fields = load_payloads("twilio", "inbound_missed")[-1]
        response = post(client, fields, url="https://calls.example.com:443/webhooks/twilio")
        assert response.status_code == 200

    @pytest.mark.parametrize(
        "send",
        [
            pytest.param(lambda c, f: post(c, f, token="0" * 32), id="wrong-token"),
            pytest.param(lambda c, f: send_signed(c, f, "RSOYDt4T1cUTdK1PDd93/VVr8B8="), id="forged"),
            pytest.param(lambda c, f: send_signed(c, f, None), id="unsigned"),
            pytest.param(lambda c, f: post(c, f, url="http://testserver/webhooks/twilio"), id="internal-url"),
        ],
    )
    def test_inauthentic_callback_is_401_and_stores_nothing(self, client, session, send):
        response = send(client, load_payloads("twilio", "inbound_missed")[-1])
        assert (response.status_code, response.json()["code"]) == (401, "invalid_signature")
        assert session.exec(select(ProviderEvent)).all() == []
        assert calls_in_db(session) == []

    def test_tampered_parameter_is_401(self, client, session):
        fields = load_payloads("twilio", "inbound_missed")[-1]
        signature = RequestValidator(TOKEN).compute_signature(WEBHOOK_URL, fields)
        response = send_signed(client, {**fields, "CallStatus": "busy"}, signature)
        assert response.status_code == 401
        assert calls_in_db(session) == []

    def test_unconfigured_twilio_answers_404(self, client, session, settings):
        fields = load_payloads("twilio", "inbound_missed")[-1]
        client.app.state.settings = settings.model_copy(update={"twilio_auth_token": None})
        response = post(client, fields)
        assert (response.status_code, response.json()["code"]) == (404, "provider_not_configured")


class TestOutOfRange:
    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("Timestamp", "Fri, 31 Dec 9999 23:59:59 -0100"),
            ("Timestamp", "Fri, 31 Dec 99999999999999999999 23:59:59 +0000"),
            ("Timestamp", "Thu, 01 Jan 1970 00:00:00 +0100"),
            ("CallDuration", "9" * 30),
            ("CallDuration", "-1"),
            ("SequenceNumber", "9" * 20),
        ],
    )
    def test_signed_callback_with_a_value_no_column_holds_is_422_and_kept_as_rejected(
        self, client, session, field, value
    ):
        response = post(client, {**load_payloads("twilio", "outbound_answered")[-1], field: value})
        assert (response.status_code, response.json()["field"]) == (422, field)
        [kept] = session.exec(select(ProviderEvent)).all()
        assert kept.status == "rejected"


def _delivery(url: str, body: bytes, signature: str, **headers: str) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url=url,
        headers={"x-twilio-signature": signature, **headers},
        body=body,
        received_at=NOW,
    )


class TestDocumentedVectors:
    """The test vector of PROVIDERS.md (token 12345), checked against TwilioAdapter.verify."""

    URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
    PARAMS = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    SETTINGS = ExplicitSettings(twilio_auth_token="12345")

    @pytest.mark.parametrize("signature", ["RSOYDt4T1cUTdK1PDd93/VVr8B8=", "kvajT1Ptam85bY51eRf/AJRuM3w="])
    def test_form_callback_vector_verifies_with_and_without_the_port(self, signature):
        TwilioAdapter().verify(_delivery(self.URL, urlencode(self.PARAMS).encode(), signature), self.SETTINGS)

    def test_json_body_vector_verifies_through_body_sha256(self):
        body = b'{"property": "value", "boolean": true}'
        url = f"{self.URL}&bodySHA256={hashlib.sha256(body).hexdigest()}"
        TwilioAdapter().verify(_delivery(url, body, "a9nBmqA0ju/hNViExpshrM61xv4="), self.SETTINGS)

    def test_json_body_that_does_not_match_body_sha256_is_refused(self):
        body = b'{"property": "value", "boolean": true}'
        url = f"{self.URL}&bodySHA256={hashlib.sha256(body).hexdigest()}"
        with pytest.raises(SignatureInvalid):
            TwilioAdapter().verify(_delivery(url, body + b" ", "a9nBmqA0ju/hNViExpshrM61xv4="), self.SETTINGS)

    def test_shared_key_signature_with_hmac_sha256_verifies(self):
        validator = RequestValidator("shared-key-secret")
        signature = validator.compute_signature(self.URL, self.PARAMS, "HMAC_SHA256")
        delivery = _delivery(
            self.URL,
            urlencode(self.PARAMS).encode(),
            signature,
            **{"x-twilio-webhooks-signature-settings": "key=webhooks_sharedkey_01,algorithm=HMAC_SHA256"},
        )
        TwilioAdapter().verify(delivery, ExplicitSettings(twilio_auth_token="shared-key-secret"))


class TestBehindNoPublicUrl:
    """With CALLSVC_PUBLIC_URL unset the URL comes from the Host header, which a sender controls."""

    @pytest.fixture
    def settings_overrides(self) -> dict:
        return {"twilio_auth_token": TOKEN}

    @pytest.mark.parametrize("port", [":80", ":1", ":0080", ":8443"])
    def test_a_callback_sent_again_through_another_port_is_a_duplicate(self, client, session, port):
        fields = load_payloads("twilio", "inbound_missed")[0]
        signed_url = "http://calls.example.com/webhooks/twilio"
        first = post(client, fields, url=signed_url, headers={"host": "calls.example.com"})
        again = post(client, fields, url=signed_url, headers={"host": f"calls.example.com{port}"})
        assert (first.json(), again.json()) == ({"status": "accepted"}, {"status": "duplicate"})
        assert len(session.exec(select(ProviderEvent)).all()) == 1
