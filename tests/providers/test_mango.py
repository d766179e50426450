"""Mango Office events through the real app, signed sha256(api_key + json + salt) as the VPBX API documents."""

import hashlib
import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from sqlmodel import select

from callsvc.calls.models import CallEventRecord
from callsvc.ingestion.models import ProviderEvent
from tests.factories import SEEDS, calls_in_db, create_manager, load_payloads, scrambled

API_KEY = "5f4dcc3b5aa765d61d8327deb882cf99"
SALT = "q7w8e9r0t1y2u3i4o5p6"


@pytest.fixture
def settings_overrides() -> dict:
    return {"mango_api_key": API_KEY, "mango_api_salt": SALT}


def post(client, delivery: dict, *, key: str = API_KEY, salt: str = SALT, sign: str | None = None):
    """POST one event to <URL>/events/<type> in Mango's envelope."""
    payload = json.dumps(delivery["json"], ensure_ascii=False, separators=(",", ":"))
    body = {
        "vpbx_api_key": key,
        "sign": sign if sign is not None else hashlib.sha256((key + payload + salt).encode()).hexdigest(),
        "json": payload,
    }
    return client.post(
        f"/webhooks/mango/events/{delivery['event']}",
        content=urlencode(body),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )


class TestInboundCall:
    @pytest.mark.parametrize("seed", SEEDS)
    def test_legs_fold_into_one_call_owned_by_the_employee_who_answered(self, client, session, seed):
        anna = create_manager(session, name="Anna", provider="mango", extensions=("101",))
        create_manager(session, name="Boris", provider="mango", extensions=("102",))
        for delivery in scrambled(load_payloads("mango", "inbound_answered"), seed):
            assert post(client, delivery).status_code == 200

        [call] = calls_in_db(session)
        assert call.provider_call_id == "MTAxOjU3NTc2NjM0OjE3OTUzNDUyMDA="
        assert (call.direction, call.status, call.manager_id) == ("inbound", "completed", anna.id)
        assert (call.client_number, call.line_number) == ("+79161234567", "+74951112233")
        assert call.started_at == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
        assert (call.wait_seconds, call.talk_seconds) == (10, 95)
        assert call.recording_ref == "MToxMDE3NjQ0ODoxOTk5NjQ5NTI6MA=="

    def test_call_is_in_progress_once_an_employee_leg_connects(self, client, session):
        anna = create_manager(session, name="Anna", provider="mango", extensions=("101",))
        deliveries = load_payloads("mango", "inbound_answered")
        for delivery in (deliveries[4], deliveries[0]):
            post(client, delivery)
        [call] = calls_in_db(session)
        assert (call.status, call.manager_id) == ("in_progress", anna.id)

    @pytest.mark.parametrize("seed", SEEDS)
    def test_missed_call_is_owned_by_the_one_employee_it_rang(self, client, session, seed):
        anna = create_manager(session, name="Anna", provider="mango", extensions=("101",))
        for delivery in scrambled(load_payloads("mango", "inbound_missed"), seed):
            post(client, delivery)

        [call] = calls_in_db(session)
        assert (call.status, call.manager_id, call.talk_seconds) == ("missed", anna.id, None)
        assert (call.client_number, call.line_number) == ("+79161234567", "+74951112233")
        assert call.wait_seconds == 32

    def test_missed_group_call_belongs_to_the_line(self, client, session):
        create_manager(session, name="Anna", provider="mango", extensions=("101",))
        create_manager(session, name="Boris", provider="mango", extensions=("102",))
        deliveries = load_payloads("mango", "inbound_missed")
        boris_leg = json.loads(json.dumps(deliveries[1]))
        boris_leg["json"].update(call_id="MjoxMDA6Mw==", seq="5", to={"extension": "102", "line_number": "74951112233"})
        for delivery in [*deliveries, boris_leg]:
            post(client, delivery)
        [call] = calls_in_db(session)
        assert (call.status, call.manager_id) == ("missed", None)


class TestOutboundCall:
    @pytest.mark.parametrize("seed", SEEDS)
    def test_outbound_call_is_owned_by_the_employee_who_dials(self, client, session, seed):
        anna = create_manager(session, name="Anna", provider="mango", extensions=("101",))
        for delivery in scrambled(load_payloads("mango", "outbound_answered"), seed):
            post(client, delivery)

        [call] = calls_in_db(session)
        assert (call.direction, call.status, call.manager_id) == ("outbound", "completed", anna.id)
        assert (call.client_number, call.line_number) == ("+79161234567", "+74951112233")
        assert call.talk_seconds == 42

    def test_outbound_call_nobody_answered_failed(self, client, session):
        anna = create_manager(session, name="Anna", provider="mango", extensions=("101",))
        appeared, _, _, summary = load_payloads("mango", "outbound_answered")
        unanswered = {**summary, "json": {**summary["json"], "entry_result": "0", "talk_time": "0"}}
        for delivery in (unanswered, appeared):
            post(client, delivery)
        [call] = calls_in_db(session)
        assert (call.status, call.manager_id) == ("failed", anna.id)


def with_numbers(delivery: dict, *, client: str, line: str) -> dict:
    """The delivery with the caller's and the line's numbers written as given."""
    payload = json.loads(json.dumps(delivery["json"]))
    if "from" in payload:
        payload["from"]["number"] = client
    if "line_number" in payload.get("to", {}):
        payload["to"]["line_number"] = line
    if "line_number" in payload:
        payload["line_number"] = line
    return {**delivery, "json": payload}


class TestNumbers:
    @pytest.mark.parametrize("seed", SEEDS)
    def test_national_format_numbers_are_read_in_the_default_region_and_kept_as_sent(self, client, session, seed):
        deliveries = [
            with_numbers(delivery, client="8 (495) 111-22-33", line="88001234567")
            for delivery in load_payloads("mango", "inbound_answered")
        ]
        for delivery in scrambled(deliveries, seed):
            assert post(client, delivery).status_code == 200

        [call] = calls_in_db(session)
        assert (call.client_number, call.line_number) == ("+74951112233", "+78001234567")
        started = session.exec(select(CallEventRecord).where(CallEventRecord.kind == "started")).all()
        assert {(event.from_number, event.to_number) for event in started} == {("8 (495) 111-22-33", "88001234567")}

    @pytest.mark.parametrize("number", ["", "anonymous", "Anonymous", "0", "Unknown", "private", "+"])
    def test_withheld_caller_has_no_client_number(self, client, session, number):
        appeared = load_payloads("mango", "inbound_missed")[0]
        assert post(client, with_numbers(appeared, client=number, line="74951112233")).status_code == 200
        [call] = calls_in_db(session)
        assert (call.client_number, call.line_number) == (None, "+74951112233")


class TestOtherEvents:
    def test_event_types_not_tracked_are_kept_and_change_nothing(self, client, session):
        dtmf = {"event": "dtmf", "json": {"seq": "3", "dtmf": "1", "timestamp": "1795345210", "entry_id": "x"}}
        assert post(client, dtmf).json() == {"status": "accepted"}
        [kept] = session.exec(select(ProviderEvent)).all()
        assert (kept.type, kept.status) == ("dtmf", "applied")
        assert calls_in_db(session) == []

    def test_signed_event_without_entry_id_is_422_and_kept_as_rejected(self, client, session):
        leg = load_payloads("mango", "inbound_missed")[0]
        del leg["json"]["entry_id"]
        response = post(client, leg)
        assert (response.status_code, response.json()["field"]) == (422, "json.entry_id")
        [kept] = session.exec(select(ProviderEvent)).all()
        assert kept.status == "rejected"

    def test_post_to_the_base_url_without_an_event_type_is_422(self, client, session):
        payload = json.dumps({"entry_id": "x"})
        body = {"vpbx_api_key": API_KEY, "sign": hashlib.sha256((API_KEY + payload + SALT).encode()).hexdigest()}
        response = client.post(
            "/webhooks/mango",
            content=urlencode({**body, "json": payload}),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert (response.status_code, response.json()["field"]) == (422, "url")


# A recording saved and ready to fetch. Mango posts it to <URL>/events/record/added with entry_id, product_id,
# user_id, recording_id and timestamp (Unix seconds, a JSON number): the fields an open-source Mango receiver
# validates it against (its zod mangoRecordAddedPayloadSchema); the v1.10 API PDF of PROVIDERS.md §3.6 predates
# the event (§3.5). The ids are inbound_answered's call with another recording.
RECORD_ADDED = {
    "event": "record/added",
    "json": {
        "entry_id": "MTAxOjU3NTc2NjM0OjE3OTUzNDUyMDA=",
        "product_id": 400123456,
        "user_id": 400654321,
        "recording_id": "MToxMDE3NjQ0ODoxOTk5NjQ5NzA6MQ==",
        "timestamp": 1795345330,
    },
}


class TestNestedEventPaths:
    def test_record_added_stores_the_recording_on_the_call(self, client, session):
        summary = load_payloads("mango", "inbound_answered")[-1]
        assert post(client, summary).json() == {"status": "accepted"}
        assert calls_in_db(session)[0].recording_ref is None

        assert post(client, RECORD_ADDED).json() == {"status": "accepted"}
        [call] = calls_in_db(session)
        assert call.recording_ref == "MToxMDE3NjQ0ODoxOTk5NjQ5NzA6MQ=="
        kept = session.exec(select(ProviderEvent).where(ProviderEvent.type == "record/added")).one()
        assert (kept.status, kept.url) == ("applied", "http://testserver/webhooks/mango/events/record/added")

    @pytest.mark.parametrize("event", ["record/tagged", "recognized/offline", "some/future/event"])
    def test_an_unknown_nested_path_is_kept_and_changes_nothing(self, client, session, event):
        summary = load_payloads("mango", "inbound_answered")[-1]
        post(client, summary)
        before = _columns(calls_in_db(session)[0])

        delivery = {"event": event, "json": {**RECORD_ADDED["json"], "recording_id": "another"}}
        assert post(client, delivery).json() == {"status": "accepted"}
        kept = session.exec(select(ProviderEvent).where(ProviderEvent.type == event)).one()
        assert kept.status == "applied"
        assert session.exec(select(CallEventRecord).where(CallEventRecord.provider_event_id == kept.id)).all() == []
        assert _columns(calls_in_db(session)[0]) == before


def _columns(row) -> dict:
    return {name: value for name, value in vars(row).items() if not name.startswith("_")}


class TestRefused:
    @pytest.mark.parametrize(
        "send",
        [
            pytest.param(lambda c, d: post(c, d, salt="another-salt"), id="wrong-salt"),
            pytest.param(lambda c, d: post(c, d, key="0" * 32), id="wrong-api-key"),
            pytest.param(lambda c, d: post(c, d, sign="0" * 64), id="forged"),
            pytest.param(lambda c, d: post(c, d, sign=""), id="unsigned"),
        ],
    )
    def test_inauthentic_event_is_401_and_stores_nothing(self, client, session, send):
        response = send(client, load_payloads("mango", "inbound_missed")[-1])
        assert (response.status_code, response.json()["code"]) == (401, "invalid_signature")
        assert session.exec(select(ProviderEvent)).all() == []
        assert calls_in_db(session) == []

    def test_json_changed_after_signing_is_401(self, client, session):
        summary = load_payloads("mango", "inbound_missed")[-1]
        payload = json.dumps(summary["json"])
        sign = hashlib.sha256((API_KEY + payload + SALT).encode()).hexdigest()
        body = {"vpbx_api_key": API_KEY, "sign": sign, "json": payload.replace('"0"', '"1"')}
        response = client.post(
            "/webhooks/mango/events/summary",
            content=urlencode(body),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 401
        assert calls_in_db(session) == []


def test_a_captured_event_resent_with_an_unsigned_field_added_is_a_duplicate(client, session):
    delivery = load_payloads("mango", "inbound_answered")[0]
    post(client, delivery)
    payload = json.dumps(delivery["json"], ensure_ascii=False, separators=(",", ":"))
    sign = hashlib.sha256((API_KEY + payload + SALT).encode()).hexdigest()
    body = urlencode({"vpbx_api_key": API_KEY, "sign": sign, "json": payload, "padding": "x"})
    response = client.post(
        f"/webhooks/mango/events/{delivery['event']}",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.json() == {"status": "duplicate"}
    assert len(session.exec(select(ProviderEvent)).all()) == 1


def test_a_captured_event_resent_to_another_event_path_is_a_duplicate(client, session):
    delivery = load_payloads("mango", "inbound_answered")[0]
    post(client, delivery)
    assert post(client, {**delivery, "event": "x1"}).json() == {"status": "duplicate"}
    assert len(session.exec(select(ProviderEvent)).all()) == 1
