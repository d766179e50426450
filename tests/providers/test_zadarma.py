"""Zadarma notifications through the real app, signed by the rule of Zadarma's SDK."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from pydantic import ValidationError
from sqlmodel import select

from callsvc.calls.models import CallEventRecord
from callsvc.ingestion.models import ProviderEvent
from callsvc.managers.models import Manager
from callsvc.providers.base import MAX_FORM_FIELDS, PayloadInvalid, WebhookRequest
from callsvc.providers.zadarma import ZadarmaAdapter
from tests.factories import (
    NOW,
    PAYLOADS,
    SEEDS,
    ExplicitSettings,
    calls_in_db,
    create_manager,
    events_of_each_delivery,
    load_payloads,
    scrambled,
)

SECRET = "9c1b7e5a3d2f4a6b8c0d"
# PHP's getSignatureString in zadarma/user-api-v1: the fields each event signs, in order.
SIGNED = {
    "NOTIFY_START": ("caller_id", "called_did", "call_start"),
    "NOTIFY_INTERNAL": ("caller_id", "called_did", "call_start"),
    "NOTIFY_END": ("caller_id", "called_did", "call_start"),
    "NOTIFY_IVR": ("caller_id", "called_did", "call_start"),
    "NOTIFY_ANSWER": ("caller_id", "destination", "call_start"),
    "NOTIFY_OUT_START": ("internal", "destination", "call_start"),
    "NOTIFY_OUT_END": ("internal", "destination", "call_start"),
    "NOTIFY_RECORD": ("pbx_call_id", "call_id_with_rec"),
}


@pytest.fixture
def settings_overrides() -> dict:
    return {"zadarma_api_secret": SECRET, "timezone": "Europe/Moscow"}


def sign(fields: dict[str, str], secret: str = SECRET) -> str:
    """base64_encode(hash_hmac('sha1', $string, $secret)), as PHP computes it."""
    string = "".join(fields.get(name, "") for name in SIGNED[fields["event"]])
    return base64.b64encode(hmac.new(secret.encode(), string.encode(), hashlib.sha1).hexdigest().encode()).decode()


def post(client, fields: dict[str, str], *, signature: str | None = "", **kwargs):
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["signature"] = signature or sign(fields)
    return client.post("/webhooks/zadarma", content=urlencode(fields), headers=headers, **kwargs)


def post_multipart(client, fields: dict[str, str], *, signature: str = "", boundary: str = "zd4f1c2b9e"):
    """POST a notification as multipart/form-data, signed over the same fields as a form-encoded one."""
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    return client.post(
        "/webhooks/zadarma",
        content="".join(parts).encode() + f"--{boundary}--\r\n".encode(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}", "signature": signature or sign(fields)},
    )


def _transferred_call() -> list[dict[str, str]]:
    """The corpus's call Anna (101) answered and handed to Boris (102): start, offers, answers and end."""
    corpus = json.loads((PAYLOADS / "corpus" / "zadarma.json").read_text())
    return corpus["scenarios"]["transferred"]["deliveries"]


class TestInboundCall:
    @pytest.mark.parametrize("seed", SEEDS)
    def test_answered_call_is_completed_with_zadarmas_talk_time(self, client, session, seed):
        create_manager(session, name="Anna", provider="zadarma", extensions=("100",))
        boris = create_manager(session, name="Boris", provider="zadarma", extensions=("101",))
        for fields in scrambled(load_payloads("zadarma", "inbound_answered"), seed):
            assert post(client, fields).status_code == 200

        [call] = calls_in_db(session)
        assert (call.direction, call.status, call.manager_id) == ("inbound", "completed", boris.id)
        assert (call.client_number, call.line_number) == ("+79161234567", "+74951112233")
        assert call.talk_seconds == 95
        assert call.recording_ref == "1795345200.1115107"

    def test_call_start_is_read_in_the_accounts_time_zone(self, client, session):
        post(client, load_payloads("zadarma", "inbound_answered")[0])
        [call] = calls_in_db(session)
        assert call.started_at == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)

    @pytest.mark.parametrize("settings_overrides", [{"zadarma_api_secret": SECRET, "zadarma_timezone": "Asia/Dubai"}])
    def test_zadarma_time_zone_overrides_the_service_time_zone(self, client, session):
        post(client, load_payloads("zadarma", "inbound_answered")[0])
        [call] = calls_in_db(session)
        assert call.started_at == datetime(2026, 11, 22, 9, 0, tzinfo=UTC)

    def test_answered_at_is_when_the_answer_notification_arrived(self, client, session, clock):
        start, _, _, _, answer, *_ = load_payloads("zadarma", "inbound_answered")
        post(client, start)
        clock.advance(seconds=7)
        post(client, answer)
        [call] = calls_in_db(session)
        assert (call.status, call.answered_at) == ("in_progress", clock.now())

    @pytest.mark.parametrize(("destination", "owner"), [("74951112233#101", "Boris"), ("+7 495 111 22 33", None)])
    def test_an_answer_without_internal_is_the_extension_closing_destination(self, client, session, destination, owner):
        create_manager(session, name="Boris", provider="zadarma", extensions=("101",))
        create_manager(session, name="Vera", provider="zadarma", extensions=("33",))
        start, _, _, _, answer, *_ = load_payloads("zadarma", "inbound_answered")
        post(client, start)
        post(client, {**answer, "internal": "", "destination": destination})
        [call] = calls_in_db(session)
        manager = session.get(Manager, call.manager_id) if call.manager_id else None
        assert (call.status, manager and manager.name) == ("in_progress", owner)

    @pytest.mark.parametrize("seed", SEEDS)
    def test_missed_call_is_owned_by_the_one_extension_it_rang(self, client, session, seed):
        anna = create_manager(session, name="Anna", provider="zadarma", extensions=("100",))
        for fields in scrambled(load_payloads("zadarma", "inbound_missed"), seed):
            post(client, fields)

        [call] = calls_in_db(session)
        assert (call.status, call.manager_id, call.talk_seconds) == ("missed", anna.id, None)
        assert (call.client_number, call.line_number) == ("+79161234567", "+74951112233")

    def test_a_late_answer_of_the_extension_that_transferred_the_call_leaves_it_with_the_one_it_went_to(
        self, client, session, clock
    ):
        create_manager(session, name="Anna", provider="zadarma", extensions=("101",))
        boris = create_manager(session, name="Boris", provider="zadarma", extensions=("102",))
        start, to_anna, anna_answers, to_boris, boris_answers, _ = _transferred_call()
        # Anna's answer reaches us only after she handed the call to Boris, and before the call ends.
        for fields in (start, to_anna, to_boris, boris_answers, anna_answers):
            clock.advance(seconds=5)
            assert post(client, fields).status_code == 200

        [call] = calls_in_db(session)
        assert (call.status, call.manager_id) == ("in_progress", boris.id)

    def test_a_transfer_nobody_took_leaves_the_call_with_the_one_who_transferred_it(self, client, session):
        anna = create_manager(session, name="Anna", provider="zadarma", extensions=("101",))
        create_manager(session, name="Boris", provider="zadarma", extensions=("102",))
        start, to_anna, anna_answers, to_boris, *_ = _transferred_call()
        for fields in (start, to_anna, anna_answers, to_boris):
            assert post(client, fields).status_code == 200

        [call] = calls_in_db(session)
        assert (call.status, call.manager_id) == ("in_progress", anna.id)

    def test_ivr_notification_is_kept_and_changes_nothing(self, client, session):
        ivr = load_payloads("zadarma", "inbound_answered")[1]
        assert post(client, ivr).json() == {"status": "accepted"}
        [kept] = session.exec(select(ProviderEvent)).all()
        assert (kept.type, kept.status) == ("NOTIFY_IVR", "applied")
        assert calls_in_db(session) == []


class TestOutboundCall:
    @pytest.mark.parametrize("seed", SEEDS)
    def test_outbound_call_is_owned_by_the_extension_that_dials(self, client, session, seed):
        anna = create_manager(session, name="Anna", provider="zadarma", extensions=("100",))
        for fields in scrambled(load_payloads("zadarma", "outbound_answered"), seed):
            post(client, fields)

        [call] = calls_in_db(session)
        assert (call.direction, call.status, call.manager_id) == ("outbound", "completed", anna.id)
        assert (call.client_number, call.line_number) == ("+79161234567", "+74951112233")
        assert call.talk_seconds == 42
        # Zadarma sends no answer for outbound calls: the answer is the end less the talk time.
        assert call.answered_at == call.ended_at - timedelta(seconds=42)

    def test_outbound_call_nobody_answered_failed(self, client, session):
        start, end = load_payloads("zadarma", "outbound_answered")
        post(client, {**end, "disposition": "busy", "duration": "0"})
        post(client, start)
        [call] = calls_in_db(session)
        assert (call.status, call.talk_seconds) == ("failed", None)


class TestNumbers:
    def test_national_format_numbers_are_read_in_the_default_region_and_kept_as_sent(self, client, session):
        start = load_payloads("zadarma", "inbound_answered")[0]
        assert post(client, {**start, "caller_id": "84951112233", "called_did": "88001234567"}).status_code == 200

        [call] = calls_in_db(session)
        # Not Vietnam's +84 95 111 2233 nor Bangladesh's +880 1234567.
        assert (call.client_number, call.line_number) == ("+74951112233", "+78001234567")
        [event] = session.exec(select(CallEventRecord)).all()
        assert (event.from_number, event.to_number) == ("84951112233", "88001234567")

    def test_international_number_without_its_plus_is_that_countrys(self, client, session):
        start = load_payloads("zadarma", "inbound_answered")[0]
        post(client, {**start, "caller_id": "380931775529"})
        [call] = calls_in_db(session)
        assert call.client_number == "+380931775529"

    @pytest.mark.parametrize("caller_id", ["", "anonymous", "Anonymous", "0", "00000", "Unknown", "+"])
    def test_withheld_caller_has_no_client_number(self, client, session, caller_id):
        start = load_payloads("zadarma", "inbound_answered")[0]
        assert post(client, {**start, "caller_id": caller_id}).status_code == 200
        [call] = calls_in_db(session)
        assert (call.client_number, call.line_number) == (None, "+74951112233")


class TestRefused:
    @pytest.mark.parametrize(
        "send",
        [
            pytest.param(lambda c, f: post(c, f, signature=sign(f, "another-secret")), id="wrong-secret"),
            pytest.param(lambda c, f: post(c, f, signature=sign({**f, "caller_id": "74950000000"})), id="forged"),
            pytest.param(lambda c, f: post(c, f, signature=None), id="unsigned"),
            pytest.param(lambda c, f: post(c, {**f, "event": "NOTIFY_UNKNOWN"}, signature=sign(f)), id="unknown-event"),
        ],
    )
    def test_inauthentic_notification_is_401_and_stores_nothing(self, client, session, send):
        fields = load_payloads("zadarma", "inbound_missed")[0]
        response = send(client, fields)
        assert (response.status_code, response.json()["code"]) == (401, "invalid_signature")
        assert session.exec(select(ProviderEvent)).all() == []
        assert calls_in_db(session) == []

    @pytest.mark.parametrize(
        "settings_overrides", [{"zadarma_api_secret": SECRET, "zadarma_allowed_ips": "185.45.152.40/30"}]
    )
    def test_notification_from_outside_the_allowed_addresses_is_401(self, client, session):
        response = post(client, load_payloads("zadarma", "inbound_missed")[0])
        assert response.status_code == 401
        assert calls_in_db(session) == []

    def test_notification_from_an_allowed_address_is_accepted(self):
        fields = load_payloads("zadarma", "inbound_missed")[0]
        delivery = WebhookRequest(
            method="POST",
            url="https://calls.example.com/webhooks/zadarma",
            headers={"signature": sign(fields)},
            body=urlencode(fields).encode(),
            received_at=NOW,
            client_host="185.45.152.42",
        )
        settings = ExplicitSettings(zadarma_api_secret=SECRET, zadarma_allowed_ips="185.45.152.40/30")
        ZadarmaAdapter().verify(delivery, settings)

    def test_allow_list_that_is_not_addresses_is_refused_at_startup(self):
        with pytest.raises(ValidationError, match="zadarma_allowed_ips"):
            ExplicitSettings(zadarma_allowed_ips="185.45.152.42, zadarma.com")

    def test_signed_notification_with_an_unreadable_call_start_is_422_and_kept_as_rejected(self, client, session):
        fields = {**load_payloads("zadarma", "inbound_missed")[0], "call_start": "22.11.2026 13:00"}
        response = post(client, fields)
        assert (response.status_code, response.json()["field"]) == (422, "call_start")
        [kept] = session.exec(select(ProviderEvent)).all()
        assert kept.status == "rejected"

    @pytest.mark.parametrize(
        ("call_start", "zone"),
        [("0001-01-01 00:00:00", "Europe/Moscow"), ("9999-12-31 23:59:59", "America/Los_Angeles")],
    )
    def test_call_start_whose_utc_time_is_past_the_calendar_is_refused(self, call_start, zone):
        fields = {**load_payloads("zadarma", "inbound_missed")[0], "call_start": call_start}
        delivery = WebhookRequest(
            method="POST",
            url="https://calls.example.com/webhooks/zadarma",
            headers={},
            body=urlencode(fields).encode(),
            received_at=NOW,
        )
        with pytest.raises(PayloadInvalid) as caught:
            ZadarmaAdapter().parse(delivery, ExplicitSettings(zadarma_api_secret=SECRET, zadarma_timezone=zone))
        assert caught.value.field == "call_start"


class TestMultipart:
    @pytest.mark.parametrize("seed", SEEDS)
    def test_a_call_notified_as_multipart_is_the_call_notified_form_encoded(self, client, session, seed):
        boris = create_manager(session, name="Boris", provider="zadarma", extensions=("101",))
        for fields in scrambled(load_payloads("zadarma", "inbound_answered"), seed):
            assert post_multipart(client, fields).status_code == 200

        [call] = calls_in_db(session)
        assert (call.direction, call.status, call.manager_id) == ("inbound", "completed", boris.id)
        assert (call.client_number, call.line_number) == ("+79161234567", "+74951112233")
        assert (call.talk_seconds, call.recording_ref) == (95, "1795345200.1115107")

    def test_each_notification_sent_as_multipart_maps_to_the_events_of_the_form_encoded_one(self, client, session):
        for fields in load_payloads("zadarma", "inbound_answered"):
            assert post_multipart(client, fields).json() == {"status": "accepted"}
            assert post(client, fields).json() == {"status": "accepted"}
        multipart, form_encoded = [], []
        for raw, events in events_of_each_delivery(session):
            is_multipart = json.loads(raw.headers)["content-type"].startswith("multipart/")
            (multipart if is_multipart else form_encoded).append((raw.type, events))
        assert multipart == form_encoded
        assert len(multipart) == len(load_payloads("zadarma", "inbound_answered"))

    def test_a_multipart_body_with_a_wrong_signature_is_401_and_stores_nothing(self, client, session):
        fields = load_payloads("zadarma", "inbound_missed")[0]
        response = post_multipart(client, fields, signature=sign({**fields, "caller_id": "74950000000"}))
        assert (response.status_code, response.json()["code"]) == (401, "invalid_signature")
        assert session.exec(select(ProviderEvent)).all() == []

    def test_a_notification_resent_with_a_fresh_boundary_is_a_duplicate(self, client, session):
        fields = load_payloads("zadarma", "inbound_answered")[-1]
        assert post_multipart(client, fields, boundary="first0a1b").json() == {"status": "accepted"}
        assert post_multipart(client, fields, boundary="again2c3d").json() == {"status": "duplicate"}
        assert len(session.exec(select(ProviderEvent)).all()) == 1

    def test_a_multipart_body_of_too_many_parts_is_401(self, client, session):
        fields = load_payloads("zadarma", "inbound_missed")[0]
        padding = {f"x{index}": "" for index in range(MAX_FORM_FIELDS)}
        response = post_multipart(client, {**fields, **padding}, signature=sign(fields))
        assert response.status_code == 401
        assert session.exec(select(ProviderEvent)).all() == []


class TestEcho:
    def test_echo_answers_the_value_as_plain_text(self, client):
        response = client.get("/webhooks/zadarma", params={"zd_echo": "f4d5e6a7"})
        assert (response.status_code, response.text) == (200, "f4d5e6a7")
        assert response.headers["content-type"].startswith("text/plain")

    @pytest.mark.parametrize("settings_overrides", [{}])
    def test_echo_of_an_unconfigured_zadarma_is_404(self, client):
        assert client.get("/webhooks/zadarma", params={"zd_echo": "x"}).status_code == 404
