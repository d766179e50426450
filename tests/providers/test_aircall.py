"""Aircall webhooks through the real app, authenticated by the webhook token in the body."""

import json

import pytest
from sqlmodel import select

from callsvc.ingestion.models import ProviderEvent
from callsvc.providers.aircall import AircallAdapter
from callsvc.providers.base import SignatureInvalid, WebhookRequest
from tests.factories import NOW, SEEDS, ExplicitSettings, calls_in_db, create_manager, load_payloads, scrambled

TOKEN = "cebcaac65d3e4f5a6b7c8d9e0f1a2b3c"


@pytest.fixture
def settings_overrides() -> dict:
    return {"aircall_token": TOKEN}


def post(client, envelope: dict, *, token: str | None = TOKEN):
    body = {**envelope, "token": token} if token is not None else {k: v for k, v in envelope.items() if k != "token"}
    return client.post("/webhooks/aircall", content=json.dumps(body), headers={"content-type": "application/json"})


class TestInboundCall:
    @pytest.mark.parametrize("seed", SEEDS)
    def test_answered_call_is_completed_with_talk_time_from_answer_to_end(self, client, session, seed):
        anna = create_manager(session, name="Anna", provider="aircall", extensions=("501",))
        create_manager(session, name="Boris", provider="aircall", extensions=("502",))
        for envelope in scrambled(load_payloads("aircall", "inbound_answered"), seed):
            assert post(client, envelope).status_code == 200

        [call] = calls_in_db(session)
        assert call.provider_call_id == "812345678"
        assert (call.direction, call.status, call.manager_id) == ("inbound", "completed", anna.id)
        assert (call.client_number, call.line_number) == ("+79161234567", "+74951112233")
        # Aircall's duration is 110 s, ringing included; the talk was 98 s.
        assert (call.wait_seconds, call.talk_seconds) == (12, 98)
        assert call.recording_url.startswith("https://aircall-recordings.s3.amazonaws.com/calls/812345678/")

    @pytest.mark.parametrize("seed", SEEDS)
    def test_missed_call_is_owned_by_the_one_agent_it_rang(self, client, session, seed):
        anna = create_manager(session, name="Anna", provider="aircall", extensions=("501",))
        for envelope in scrambled(load_payloads("aircall", "inbound_missed"), seed):
            post(client, envelope)

        [call] = calls_in_db(session)
        assert (call.status, call.manager_id, call.talk_seconds, call.wait_seconds) == ("missed", anna.id, None, 30)
        assert (call.client_number, call.line_number) == ("+79161234567", "+74951112233")

    def test_call_rung_on_two_agents_and_missed_belongs_to_the_line(self, client, session):
        create_manager(session, name="Anna", provider="aircall", extensions=("501",))
        create_manager(session, name="Boris", provider="aircall", extensions=("502",))
        answered = load_payloads("aircall", "inbound_answered")
        missed = load_payloads("aircall", "inbound_missed")
        boris_rung = {**answered[2], "data": {**answered[2]["data"], "id": missed[0]["data"]["id"]}}
        for envelope in [*missed, boris_rung]:
            post(client, envelope)
        [call] = calls_in_db(session)
        assert (call.status, call.manager_id) == ("missed", None)

    def test_tagging_is_kept_and_changes_nothing(self, client, session):
        tagged = load_payloads("aircall", "inbound_answered")[-1]
        assert post(client, tagged).json() == {"status": "accepted"}
        [kept] = session.exec(select(ProviderEvent)).all()
        assert (kept.type, kept.status) == ("call.tagged", "applied")
        assert calls_in_db(session) == []


class TestOutboundCall:
    @pytest.mark.parametrize("seed", SEEDS)
    def test_outbound_call_is_owned_by_the_agent_who_dials(self, client, session, seed):
        anna = create_manager(session, name="Anna", provider="aircall", extensions=("501",))
        for envelope in scrambled(load_payloads("aircall", "outbound_answered"), seed):
            post(client, envelope)

        [call] = calls_in_db(session)
        assert (call.direction, call.status, call.manager_id) == ("outbound", "completed", anna.id)
        assert (call.client_number, call.line_number) == ("+79161234567", "+74951112233")
        assert call.talk_seconds == 42

    def test_outbound_call_nobody_answered_failed(self, client, session):
        anna = create_manager(session, name="Anna", provider="aircall", extensions=("501",))
        created, _, _, ended = load_payloads("aircall", "outbound_answered")
        unanswered = {**ended, "data": {**ended["data"], "answered_at": None}}
        for envelope in (unanswered, created):
            post(client, envelope)
        [call] = calls_in_db(session)
        assert (call.status, call.manager_id) == ("failed", anna.id)


class TestRefused:
    @pytest.mark.parametrize("token", [pytest.param("0" * 32, id="wrong-token"), pytest.param(None, id="no-token")])
    def test_delivery_without_this_webhooks_token_is_401_and_stores_nothing(self, client, session, token):
        response = post(client, load_payloads("aircall", "inbound_missed")[0], token=token)
        assert (response.status_code, response.json()["code"]) == (401, "invalid_signature")
        assert session.exec(select(ProviderEvent)).all() == []
        assert calls_in_db(session) == []

    def test_body_that_is_not_json_is_401(self, client, session):
        response = client.post("/webhooks/aircall", content=f"token={TOKEN}")
        assert response.status_code == 401

    def test_correctly_tokened_body_nested_a_thousand_levels_deep_is_422_and_kept_as_rejected(self, client, session):
        body = '{"resource":"call","event":"call.created","data":' + "[" * 1000 + "]" * 1000 + f',"token":"{TOKEN}"}}'
        response = client.post("/webhooks/aircall", content=body, headers={"content-type": "application/json"})
        assert (response.status_code, response.json()["field"]) == (422, "body")
        [kept] = session.exec(select(ProviderEvent)).all()
        assert kept.status == "rejected"

    def test_call_event_without_a_call_id_is_422_and_kept_as_rejected(self, client, session):
        created = load_payloads("aircall", "inbound_missed")[0]
        del created["data"]["id"]
        response = post(client, created)
        assert (response.status_code, response.json()["field"]) == (422, "data.id")
        [kept] = session.exec(select(ProviderEvent)).all()
        assert kept.status == "rejected"


def _delivery(body: bytes) -> WebhookRequest:
    return WebhookRequest(
        method="POST", url="https://calls.example.com/webhooks/aircall", headers={}, body=body, received_at=NOW
    )


class TestTokenCheck:
    """The token is read from the top level of the body alone: nothing else is parsed before it matches."""

    SETTINGS = ExplicitSettings(aircall_token=TOKEN)

    def test_token_after_the_call_data_is_found(self):
        envelope = load_payloads("aircall", "inbound_answered")[0]
        body = json.dumps({"data": envelope["data"], "event": envelope["event"], "token": TOKEN})
        AircallAdapter().verify(_delivery(body.encode()), self.SETTINGS)

    def test_unauthenticated_megabyte_nested_half_a_million_levels_deep_is_refused_unparsed(self):
        # json.loads would exhaust the stack on this body long before finding the token missing.
        body = b'{"data":' + b"[" * 500_000 + b"]" * 500_000 + b',"token":"' + b"0" * 32 + b'"}'
        with pytest.raises(SignatureInvalid):
            AircallAdapter().verify(_delivery(body), self.SETTINGS)

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param({"data": {"token": TOKEN}}, id="nested-only"),
            pytest.param({"token": [TOKEN]}, id="not-a-string"),
            pytest.param({"token": TOKEN.upper()}, id="another-token"),
        ],
    )
    def test_body_without_the_token_at_its_top_level_is_refused(self, body):
        with pytest.raises(SignatureInvalid):
            AircallAdapter().verify(_delivery(json.dumps(body).encode()), self.SETTINGS)

    def test_body_with_two_top_level_tokens_is_refused(self):
        body = f'{{"token":"{TOKEN}","event":"call.created","token":"{TOKEN}"}}'.encode()
        with pytest.raises(SignatureInvalid):
            AircallAdapter().verify(_delivery(body), self.SETTINGS)

    def test_a_body_without_the_token_as_written_is_refused_before_it_is_scanned(self):
        # Aircall writes its token as plain ASCII; a body that does not hold those bytes is not scanned at all.
        escaped = "".join(f"\\u{ord(char):04x}" for char in TOKEN)
        with pytest.raises(SignatureInvalid):
            AircallAdapter().verify(
                _delivery(f'{{"event":"call.created","token":"{escaped}"}}'.encode()), self.SETTINGS
            )
