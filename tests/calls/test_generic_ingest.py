"""Generic webhooks through the real app: exactly once, in any order, signed or refused."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from callsvc.ingestion.models import ProviderEvent
from tests.factories import (
    answered_call,
    calls_in_db,
    create_key,
    create_manager,
    generic_event,
    missed_call,
    post_generic,
    signed_headers,
)


class TestAnsweredCall:
    def test_answered_inbound_call_is_completed_and_owned_by_who_answered(self, client, session):
        anna = create_manager(session, name="Anna", extensions=("101",))
        for event in answered_call("c1", client_number="89161234567", extension="101", talk=95):
            assert post_generic(client, event).json() == {"status": "accepted"}

        [call] = calls_in_db(session)
        assert call.status == "completed"
        assert call.manager_id == anna.id
        assert call.client_number == "+79161234567"
        assert call.line_number == "+74951112233"
        assert call.talk_seconds == 95
        assert call.wait_seconds == 5
        assert call.needs_outcome is True

    def test_answer_arriving_after_a_no_answer_end_still_makes_the_call_answered(self, client, session):
        anna = create_manager(session, extensions=("101",))
        started, _, answered, _ = answered_call("c2")
        no_answer_end = generic_event("call.ended", "c2", "2026-11-22T10:01:00Z", disposition="no_answer")
        for event in (no_answer_end, started, answered):
            post_generic(client, event)

        [call] = calls_in_db(session)
        assert (call.status, call.manager_id) == ("completed", anna.id)

    def test_after_a_transfer_the_call_belongs_to_the_last_manager_who_answered(self, client, session):
        create_manager(session, name="Anna", extensions=("101",))
        boris = create_manager(session, name="Boris", extensions=("102",))
        events = answered_call("c3", extension="101") + [
            generic_event("call.answered", "c3", "2026-11-22T10:00:40Z", extension="102")
        ]
        for event in reversed(events):
            post_generic(client, event)
        [call] = calls_in_db(session)
        assert call.manager_id == boris.id

    def test_a_call_handed_to_an_extension_no_manager_has_is_left_for_an_admin_to_assign(self, client, session):
        create_manager(session, name="Anna", extensions=("101",))
        events = answered_call("c5", extension="101") + [
            generic_event("call.answered", "c5", "2026-11-22T10:00:40Z", extension="555")
        ]
        for event in events:
            post_generic(client, event)
        [call] = calls_in_db(session)
        assert (call.status, call.manager_id) == ("completed", None)

    def test_call_from_unknown_extension_is_kept_unassigned_and_listed(self, client, session):
        headers = create_key(session)
        for event in answered_call("c4", extension="999"):
            post_generic(client, event)
        page = client.get("/v1/calls", params={"unassigned": "true"}, headers=headers).json()
        assert [(item["provider_call_id"], item["manager_id"]) for item in page["items"]] == [("c4", None)]


class TestMissedCall:
    def test_missed_call_offered_to_one_manager_belongs_to_that_manager(self, client, session):
        anna = create_manager(session, extensions=("101",))
        for event in missed_call("m1", offered=("101",)):
            post_generic(client, event)
        [call] = calls_in_db(session)
        assert (call.status, call.manager_id, call.wait_seconds, call.needs_outcome) == ("missed", anna.id, 30, False)

    def test_missed_call_offered_to_a_group_belongs_to_nobody(self, client, session):
        create_manager(session, name="Anna", extensions=("101",))
        create_manager(session, name="Boris", extensions=("102",))
        for event in missed_call("m2", offered=("101", "102")):
            post_generic(client, event)
        [call] = calls_in_db(session)
        assert (call.status, call.manager_id) == ("missed", None)

    def test_anonymous_caller_is_kept_without_a_client_number(self, client, session):
        for event in missed_call("m3", client_number="anonymous"):
            post_generic(client, event)
        [call] = calls_in_db(session)
        assert call.client_number is None
        assert session.exec(select(ProviderEvent)).first().body.count(b"anonymous") == 1


class TestOutboundCall:
    def test_unanswered_outbound_call_fails_and_belongs_to_the_dialler(self, client, session):
        anna = create_manager(session, extensions=("101",))
        post_generic(
            client,
            generic_event(
                "call.started",
                "o1",
                "2026-11-22T10:00:00Z",
                direction="outbound",
                extension="101",
                **{"from": "101", "to": "8 916 123-45-67"},
            ),
        )
        post_generic(client, generic_event("call.ended", "o1", "2026-11-22T10:00:40Z", disposition="no_answer"))
        [call] = calls_in_db(session)
        assert (call.status, call.manager_id, call.client_number, call.line_number) == (
            "failed",
            anna.id,
            "+79161234567",
            None,
        )


class TestExactlyOnce:
    def test_a_retried_delivery_is_a_duplicate_and_changes_nothing(self, client, session):
        create_manager(session, extensions=("101",))
        started = answered_call("d1")[0]
        assert post_generic(client, started, msg_id="msg_1").json() == {"status": "accepted"}
        updated_at = calls_in_db(session)[0].updated_at
        assert post_generic(client, started, msg_id="msg_1").json() == {"status": "duplicate"}
        assert len(session.exec(select(ProviderEvent)).all()) == 1
        assert calls_in_db(session)[0].updated_at == updated_at

    def test_the_same_event_under_a_new_id_changes_nothing_either(self, client, session, clock):
        started = answered_call("d2")[0]
        post_generic(client, started)
        first = calls_in_db(session)[0]
        clock.advance(seconds=30)
        post_generic(client, started)
        [again] = calls_in_db(session)
        assert (again.id, again.updated_at) == (first.id, first.updated_at)


class TestRefused:
    @pytest.mark.parametrize(
        "tamper",
        [
            pytest.param(lambda h: {**h, "webhook-signature": "v1,AAAA" + h["webhook-signature"][7:]}, id="forged"),
            pytest.param(lambda h: {k: v for k, v in h.items() if k != "webhook-signature"}, id="unsigned"),
            pytest.param(lambda h: {**h, "webhook-signature": "garbage"}, id="malformed-signature"),
        ],
    )
    def test_inauthentic_delivery_is_401_and_stores_nothing(self, client, session, tamper):
        body = json.dumps(answered_call("f1")[0])
        response = client.post("/webhooks/generic", content=body, headers=tamper(signed_headers(body)))
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_signature"
        assert calls_in_db(session) == []
        assert session.exec(select(ProviderEvent)).all() == []

    @pytest.mark.parametrize("age", [timedelta(minutes=6), timedelta(minutes=-6)], ids=["stale", "future"])
    def test_delivery_signed_more_than_five_minutes_off_is_401(self, client, session, age):
        body = json.dumps(answered_call("f2")[0])
        headers = signed_headers(body, timestamp=datetime.now(UTC) - age)
        assert client.post("/webhooks/generic", content=body, headers=headers).status_code == 401
        assert calls_in_db(session) == []

    def test_signed_with_another_key_is_401(self, client, session):
        body = json.dumps(answered_call("f3")[0])
        headers = signed_headers(body, secret="whsec_" + "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA==")
        assert client.post("/webhooks/generic", content=body, headers=headers).status_code == 401

    @pytest.mark.parametrize(
        ("event", "field"),
        [
            ({"type": "call.answered", "call_id": "x", "occurred_at": "2026-11-22T10:00:00Z"}, "extension"),
            ({"type": "call.started", "call_id": "x", "occurred_at": "2026-11-22T10:00:00Z"}, "direction"),
            ({"type": "call.recording", "call_id": "x", "occurred_at": "2026-11-22T10:00:00Z"}, "recording_url"),
            ({"type": "call.exploded", "call_id": "x", "occurred_at": "2026-11-22T10:00:00Z"}, "type"),
            ({"type": "call.ended", "call_id": "x", "occurred_at": "yesterday", "disposition": "busy"}, "occurred_at"),
            ({"type": "call.ended", "call_id": "x", "occurred_at": "2026-11-22T10:00:00"}, "occurred_at"),
            ({"type": "call.ended", "call_id": "x", "occurred_at": "2026-11-22T10:00:00Z"}, "disposition"),
            ({"type": "call.started", "occurred_at": "2026-11-22T10:00:00Z", "direction": "inbound"}, "call_id"),
        ],
    )
    def test_body_outside_the_format_is_422_with_the_field_and_kept_as_rejected(self, client, session, event, field):
        response = post_generic(client, event, msg_id="msg_refused")
        assert response.status_code == 422
        assert response.json()["code"] == "invalid_payload"
        assert response.json().get("field") == field
        [kept] = session.exec(select(ProviderEvent)).all()
        assert (kept.status, kept.dedupe_key, kept.body) == ("rejected", "msg_refused", json.dumps(event).encode())
        assert calls_in_db(session) == []

    def test_a_retry_of_a_refused_delivery_is_refused_again_and_kept_once(self, client, session):
        event = {"type": "call.exploded", "call_id": "x", "occurred_at": "2026-11-22T10:00:00Z"}
        first = post_generic(client, event, msg_id="msg_again")
        again = post_generic(client, event, msg_id="msg_again")
        assert (first.status_code, again.status_code, again.json()["code"]) == (422, 422, "invalid_payload")
        assert len(session.exec(select(ProviderEvent)).all()) == 1

    def test_unconfigured_provider_answers_404(self, client):
        response = client.post("/webhooks/nosuchpbx", content="{}")
        assert (response.status_code, response.json()["code"]) == (404, "unknown_provider")


class TestUnprocessed:
    def test_an_event_that_fails_to_apply_is_kept_and_the_pbx_still_gets_200(self, client, session, monkeypatch):
        from callsvc.calls import apply as service

        def broken(*args, **kwargs):
            raise RuntimeError("simulated bug")

        monkeypatch.setattr(service, "derive_call_state", broken)
        response = post_generic(client, answered_call("u1")[0])
        assert response.status_code == 200
        [kept] = session.exec(select(ProviderEvent)).all()
        assert kept.status == "unprocessed"
        assert "simulated bug" in kept.error
        assert calls_in_db(session) == []


class TestOversized:
    def test_a_webhook_id_longer_than_the_column_is_kept_by_its_digest_and_still_dedupes(self, client, session):
        started = answered_call("long-id")[0]
        msg_id = "msg_" + "x" * 300
        assert post_generic(client, started, msg_id=msg_id).json() == {"status": "accepted"}
        assert post_generic(client, started, msg_id=msg_id).json() == {"status": "duplicate"}
        [kept] = session.exec(select(ProviderEvent)).all()
        assert kept.dedupe_key.startswith("sha256:")
        assert len(calls_in_db(session)) == 1


class TestAbsurdTimes:
    def test_events_dated_decades_apart_apply_with_unknown_durations(self, client, session):
        started, _, answered, ended = answered_call("decades")
        post_generic(client, {**started, "occurred_at": "1970-01-01T00:00:00Z"})
        post_generic(client, {**answered, "occurred_at": "2040-01-01T00:00:00Z"})
        post_generic(client, {**ended, "occurred_at": "2040-01-01T00:01:00Z"})
        [call] = calls_in_db(session)
        assert (call.status, call.wait_seconds, call.talk_seconds) == ("completed", None, 60)
        assert {row.status for row in session.exec(select(ProviderEvent))} == {"applied"}

    def test_an_end_at_the_close_of_year_9999_applies_without_a_tagging_deadline(self, client, session):
        started, _, answered, ended = answered_call("late")
        for event, at in ((started, "9999-12-31T23:50:00Z"), (answered, "9999-12-31T23:55:00Z")):
            post_generic(client, {**event, "occurred_at": at})
        post_generic(client, {**ended, "occurred_at": "9999-12-31T23:59:00Z"})
        [call] = calls_in_db(session)
        assert (call.status, call.needs_outcome, call.tag_due_at) == ("completed", True, None)
