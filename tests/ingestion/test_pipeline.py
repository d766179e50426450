"""Nothing authentic is lost: kept byte for byte before parsing, refused with 422, or kept to apply later."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import psycopg.errors
import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from callsvc.calls import apply as service
from callsvc.ingestion.jobs import retry_transient
from callsvc.ingestion.models import ProviderEvent
from callsvc.ingestion.pipeline import RETRY_DELAYS, replay_matching
from callsvc.ingestion.schemas import ReplayRequest
from callsvc.ops import metrics
from callsvc.providers.base import MAX_FORM_FIELDS, SignatureInvalid, WebhookRequest
from callsvc.providers.generic import GenericAdapter
from tests.factories import (
    GENERIC_SECRET,
    NOW,
    answered_call,
    calls_in_db,
    create_key,
    missed_call,
    post_generic,
    signed_headers,
)


def signed_bytes(body: bytes, msg_id: str = "msg_bytes") -> dict[str, str]:
    """Standard Webhooks headers computed over the raw bytes, as the specification defines the signature."""
    timestamp = str(int(datetime.now(UTC).timestamp()))
    key = base64.b64decode(GENERIC_SECRET.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    signature = "v1," + base64.b64encode(mac).decode()
    return {"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": signature}


def kept(session) -> list[ProviderEvent]:
    session.expire_all()
    return list(session.exec(select(ProviderEvent).order_by(ProviderEvent.id)))


def lock_timeout() -> OperationalError:
    """What the driver raises when a row lock is not granted in time."""
    return OperationalError(
        "UPDATE call …", {}, psycopg.errors.LockNotAvailable("canceling statement due to lock timeout")
    )


@pytest.fixture
def failing_apply(monkeypatch):
    """Applying any delivery fails with `error` until the `heal` this returns is called."""
    real = service.apply_events

    def fail(error: Exception):
        failing = [True]

        def apply_events(*args, **kwargs):
            if failing[0]:
                raise error
            return real(*args, **kwargs)

        monkeypatch.setattr(service, "apply_events", apply_events)
        return lambda: failing.__setitem__(0, False)

    return fail


class TestKeptAsReceived:
    def test_a_body_that_is_not_utf8_is_kept_byte_for_byte_and_refused(self, client, session):
        body = b'{"type": "call.started", "call_id": "\xff\xfe", "occurred_at": "2026-11-22T10:00:00Z"}'
        response = client.post("/webhooks/generic", content=body, headers=signed_bytes(body))
        assert (response.status_code, response.json()["code"]) == (422, "invalid_payload")
        [row] = kept(session)
        assert (row.status, row.body) == ("rejected", body)

    def test_the_exact_bytes_are_kept_whitespace_and_key_order_included(self, client, session):
        event = answered_call("b1")[0]
        body = "{\n  " + ",\n  ".join(f'"{k}" :  {json.dumps(v)}' for k, v in reversed(list(event.items()))) + "\n}"
        assert client.post("/webhooks/generic", content=body, headers=signed_headers(body)).status_code == 200
        [row] = kept(session)
        assert (row.status, row.body) == ("applied", body.encode())

    def test_a_parser_crash_keeps_the_delivery_unprocessed_and_answers_200(self, client, session, monkeypatch):
        def crash(self, request, settings):
            raise OverflowError("date value out of range")

        monkeypatch.setattr(GenericAdapter, "parse", crash)
        response = post_generic(client, answered_call("b2")[0])
        assert response.json() == {"status": "accepted"}
        [row] = kept(session)
        assert (row.status, row.error, row.next_attempt_at) == (
            "unprocessed",
            "OverflowError: date value out of range",
            None,
        )

        monkeypatch.undo()
        replayed = client.post(f"/v1/events/{row.id}/replay", headers=create_key(session))
        assert replayed.json()["status"] == "applied"
        assert [call.provider_call_id for call in calls_in_db(session)] == ["b2"]


class TestTransientFailures:
    def test_a_lock_timeout_is_kept_and_applied_by_the_retry_job_once_due(
        self, client, session, clock, job_context, failing_apply
    ):
        heal = failing_apply(lock_timeout())
        assert post_generic(client, answered_call("t1")[0]).json() == {"status": "accepted"}
        heal()
        [row] = kept(session)
        assert row.status == "unprocessed"
        assert row.error.startswith("OperationalError")
        assert row.next_attempt_at == clock.now() + RETRY_DELAYS[0]
        assert row.next_attempt_at - clock.now() < timedelta(minutes=1)  # heals within a minute

        clock.advance(seconds=1)
        assert retry_transient(job_context) == []  # not due yet
        clock.current = row.next_attempt_at
        assert retry_transient(job_context) == [row.id]

        [row] = kept(session)
        assert (row.status, row.error, row.attempts, row.next_attempt_at) == ("applied", None, 1, None)
        assert [call.provider_call_id for call in calls_in_db(session)] == ["t1"]

    def test_the_retries_back_off_and_stop_after_the_last_delay(
        self, client, session, clock, job_context, failing_apply
    ):
        failing_apply(lock_timeout())
        post_generic(client, answered_call("t2")[0])
        waits = []
        for _ in RETRY_DELAYS:
            [row] = kept(session)
            waits.append(row.next_attempt_at - clock.now())
            clock.current = row.next_attempt_at
            assert retry_transient(job_context) == []
        [row] = kept(session)
        assert waits == list(RETRY_DELAYS)
        assert (row.status, row.attempts, row.next_attempt_at) == ("unprocessed", len(RETRY_DELAYS), None)
        clock.advance(days=1)
        assert retry_transient(job_context) == []
        assert kept(session)[0].attempts == len(RETRY_DELAYS)

    def test_a_bug_is_not_retried_by_the_job(self, client, session, clock, job_context, failing_apply):
        failing_apply(RuntimeError("simulated bug"))
        post_generic(client, answered_call("t3")[0])
        clock.advance(hours=1)
        assert retry_transient(job_context) == []
        assert kept(session)[0].status == "unprocessed"

    def test_metrics_count_deliveries_waiting_for_a_retry_and_those_left_for_an_admin(self, client, failing_apply):
        failing_apply(lock_timeout())
        post_generic(client, answered_call("t5")[0])
        failing_apply(RuntimeError("simulated bug"))
        post_generic(client, answered_call("t6")[0])
        text = client.get("/metrics").text
        assert 'callsvc_events_unprocessed{retrying="true"} 1.0' in text
        assert 'callsvc_events_unprocessed{retrying="false"} 1.0' in text

    def test_retries_are_counted_in_metrics(self, client, session, clock, job_context, failing_apply):
        before = metrics.webhook_retries.labels("applied")._value.get()
        heal = failing_apply(lock_timeout())
        post_generic(client, answered_call("t4")[0])
        heal()
        clock.advance(minutes=1)
        retry_transient(job_context)
        assert metrics.webhook_retries.labels("applied")._value.get() == before + 1
        assert 'callsvc_webhook_retries_total{result="applied"}' in client.get("/metrics").text


class TestBulkReplay:
    def test_every_matching_unprocessed_delivery_is_replayed_in_pages(self, client, session, failing_apply):
        admin = create_key(session)
        heal = failing_apply(RuntimeError("simulated bug"))
        for event in missed_call("r1"):
            post_generic(client, event)
        heal()
        assert [row.status for row in kept(session)] == ["unprocessed"] * 3

        first = client.post("/v1/events/replay", json={"status": "unprocessed", "limit": 2}, headers=admin).json()
        rest = client.post("/v1/events/replay", json={"after_id": first["last_id"]}, headers=admin).json()
        done = client.post("/v1/events/replay", json={"after_id": rest["last_id"]}, headers=admin).json()

        assert (first["replayed"], first["applied"], rest["replayed"], rest["applied"]) == (2, 2, 1, 1)
        assert done == {"replayed": 0, "applied": 0, "unprocessed": 0, "rejected": 0, "last_id": None}
        [call] = calls_in_db(session)
        assert call.status == "missed"

    def test_bulk_replay_is_for_admins(self, client, session):
        response = client.post("/v1/events/replay", json={}, headers=create_key(session, role="crm"))
        assert response.status_code == 403


def test_the_after_apply_hook_sees_a_missed_call_turn_answered(client, session):
    unmissed = metrics.call_transitions.labels("unmissed")
    before = unmissed._value.get()
    started, offered, answered, _ = answered_call("h1")
    for event in (started, offered, {**missed_call("h1")[-1], "occurred_at": "2026-11-22T10:01:00Z"}):
        post_generic(client, event)
    assert calls_in_db(session)[0].status == "missed"
    post_generic(client, answered)
    assert calls_in_db(session)[0].status == "completed"
    assert unmissed._value.get() == before + 1


def test_a_form_of_more_fields_than_any_pbx_sends_is_refused_before_it_is_split():
    body = "&".join(f"f{index}=x" for index in range(MAX_FORM_FIELDS + 1)).encode()
    request = WebhookRequest(method="POST", url="https://calls.example.com/", headers={}, body=body, received_at=NOW)
    with pytest.raises(SignatureInvalid, match="more than"):
        request.form()


def test_a_bulk_replay_holds_no_delivery_once_it_is_done(client, session, settings, clock, failing_apply):
    heal = failing_apply(RuntimeError("simulated bug"))
    for event in answered_call("held")[:2]:
        post_generic(client, event)
    heal()
    replayed = replay_matching(session, where=ReplayRequest(limit=10), settings=settings, clock=clock)
    assert [status for _, status in replayed] == ["applied", "applied"]
    # Bodies are up to CALLSVC_MAX_BODY_BYTES each: none may stay loaded once replayed.
    assert not [row for row in session.identity_map.values() if isinstance(row, ProviderEvent)]
