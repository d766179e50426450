"""The delivery writer: one commit for every delivery waiting, and a bounded wait."""

import asyncio
import json
import random
from collections import Counter

import pytest
from sqlalchemy import text
from sqlmodel import func, select

from callsvc.calls import apply
from callsvc.ingestion import pipeline, writer
from callsvc.ingestion.models import ProviderEvent
from callsvc.providers import registry
from callsvc.providers.base import WebhookRequest
from tests.conftest import TEST_DATABASE_URL
from tests.factories import (
    NOW,
    SEEN,
    answered_call,
    calls_in_db,
    create_manager,
    missed_call,
    post_generic,
    signed_headers,
)


def test_a_delivery_past_the_queue_limit_is_refused_with_503_and_not_kept(client, session, monkeypatch):
    monkeypatch.setattr(writer, "MAX_WAITING", 0)
    response = post_generic(client, answered_call("busy")[0])
    assert (response.status_code, response.json()["code"]) == (503, "ingest_busy")
    assert response.headers["retry-after"] == "5"
    assert session.exec(select(func.count()).select_from(ProviderEvent)).one() == 0


def test_deliveries_waiting_together_share_one_commit(session_factory, session, settings, clock):
    transactions = []

    def counted_session():
        transactions.append(1)
        return session_factory()

    adapter = registry.get_adapter("generic", settings)
    events = answered_call("one") + answered_call("two")
    deliveries = [pipeline.authenticate(adapter, generic_request(event), settings) for event in events]
    receipts = submit_together(writer.DeliveryWriter(counted_session, settings=settings, clock=clock), deliveries)
    assert {receipt.status for receipt in receipts} == {"accepted"}
    assert len(transactions) == 1
    assert sorted((call.provider_call_id, call.status) for call in calls_in_db(session)) == [
        ("one", "completed"),
        ("two", "completed"),
    ]


def test_a_delivery_failing_in_a_batch_undoes_only_itself(session_factory, session, settings, clock, monkeypatch):
    real = apply.apply_events

    def fails_on_bad_call(store, deliveries, **kwargs):
        if any(kept.parsed.provider_call_id == "bad" for kept in deliveries):
            raise RuntimeError("simulated bug")
        return real(store, deliveries, **kwargs)

    monkeypatch.setattr(apply, "apply_events", fails_on_bad_call)
    adapter = registry.get_adapter("generic", settings)
    events = answered_call("good-1") + answered_call("bad")[:1] + answered_call("good-2")
    deliveries = [pipeline.authenticate(adapter, generic_request(event), settings) for event in events]
    receipts = submit_together(writer.DeliveryWriter(session_factory, settings=settings, clock=clock), deliveries)
    assert {receipt.status for receipt in receipts} == {"accepted"}
    kept = {row.provider_call_id: row.status for row in session.exec(select(ProviderEvent))}
    assert kept == {"good-1": "applied", "bad": "unprocessed", "good-2": "applied"}
    assert sorted((call.provider_call_id, call.status) for call in calls_in_db(session)) == [
        ("good-1", "completed"),
        ("good-2", "completed"),
    ]


def submit_together(delivery_writer: writer.DeliveryWriter, deliveries: list[pipeline.Delivery]) -> list:
    """Queue every delivery before the writer starts, so they make one batch; return their receipts."""

    async def submit_all_then_start():
        waiting = [asyncio.create_task(delivery_writer.submit(delivery)) for delivery in deliveries]
        await asyncio.sleep(0)
        delivery_writer.start()
        return await asyncio.gather(*waiting, return_exceptions=True)

    try:
        return asyncio.run(submit_all_then_start())
    finally:
        delivery_writer.stop()


@pytest.mark.skipif(
    not TEST_DATABASE_URL, reason="a statement failing after its delivery's reads: PostgreSQL's pipeline"
)
def test_a_call_update_failing_late_in_the_pipeline_refuses_no_other_delivery(
    connection, session_factory, session, settings, clock
):
    connection.execute(
        text(
            "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'poisoned call'; END $$"
        )
    )
    connection.execute(
        text(
            "CREATE TRIGGER refuse_poison BEFORE UPDATE ON call FOR EACH ROW "
            "WHEN (NEW.provider_call_id = 'poison' AND NEW.status <> OLD.status) EXECUTE FUNCTION refuse_poison()"
        )
    )
    adapter = registry.get_adapter("generic", settings)
    events = answered_call("good-1")[:2] + answered_call("poison")[:3] + answered_call("good-2")[:2]
    deliveries = [pipeline.authenticate(adapter, generic_request(event), settings) for event in events]

    receipts = submit_together(writer.DeliveryWriter(session_factory, settings=settings, clock=clock), deliveries)

    assert [getattr(receipt, "status", receipt) for receipt in receipts] == ["accepted"] * len(events)
    kept = [
        (row.provider_call_id, row.status) for row in session.exec(select(ProviderEvent).order_by(ProviderEvent.id))
    ]
    assert sorted(kept).count(("poison", "unprocessed")) == 1
    assert len(kept) == len(events)
    assert {call.provider_call_id for call in calls_in_db(session)} == {"good-1", "good-2", "poison"}


def generic_request(event: dict, *, msg_id: str | None = None) -> WebhookRequest:
    body = json.dumps(event)
    return WebhookRequest(
        method="POST",
        url="http://testserver/webhooks/generic",
        headers=signed_headers(body, msg_id=msg_id),
        body=body.encode(),
        received_at=NOW,
    )


def test_a_delivery_not_kept_in_time_is_answered_503_and_is_still_kept_once(client, session, monkeypatch):
    monkeypatch.setattr(writer, "ANSWER_WITHIN_SECONDS", 0)
    event = answered_call("late")[0]
    response = post_generic(client, event, msg_id="msg_late")
    assert (response.status_code, response.json()["code"]) == (503, "ingest_timeout")
    monkeypatch.undo()
    assert post_generic(client, event, msg_id="msg_late").json() == {"status": "duplicate"}
    assert [call.provider_call_id for call in calls_in_db(session)] == ["late"]


def test_a_batch_leaves_each_call_as_its_deliveries_leave_it_one_at_a_time(
    client, session, session_factory, settings, clock
):
    """Many calls, their events shuffled, repeats inside the batch and of deliveries kept before it."""
    create_manager(session, name="Anna", extensions=("101",))
    create_manager(session, name="Boris", extensions=("102",))
    late_answer = {**answered_call("{}")[2], "occurred_at": "2026-11-22T10:00:40Z"}

    def calls(prefix: str) -> list[tuple[str, dict]]:
        scenarios = {
            "answered": answered_call(f"{prefix}answered", extension="102"),
            "missed": missed_call(f"{prefix}missed", offered=("101", "102")),
            "turned-around": [*missed_call(f"{prefix}turned-around"), late_answer],
        }
        events = []
        for name, scenario in scenarios.items():
            for number, event in enumerate(scenario):
                event = {**event, "call_id": f"{prefix}{name}"}
                events.append((f"msg_{prefix}{name}_{number}", event))
        return events

    for msg_id, event in calls("one-"):
        assert post_generic(client, event, msg_id=msg_id).status_code == 200
    together = calls("batch-")
    kept_before = together[0]
    assert post_generic(client, kept_before[1], msg_id=kept_before[0]).json() == {"status": "accepted"}
    batch = [*together, together[3], kept_before]
    random.Random(7).shuffle(batch)
    adapter = registry.get_adapter("generic", settings)
    deliveries = [
        pipeline.authenticate(adapter, generic_request(event, msg_id=msg_id), settings) for msg_id, event in batch
    ]

    receipts = submit_together(writer.DeliveryWriter(session_factory, settings=settings, clock=clock), deliveries)

    statuses = Counter(receipt.status for receipt in receipts)
    assert statuses == {"accepted": len(together) - 1, "duplicate": 3}
    stored = Counter(row.dedupe_key for row in session.exec(select(ProviderEvent)))
    assert set(stored.values()) == {1}
    by_call = {call.provider_call_id: call for call in calls_in_db(session)}
    for name in ("answered", "missed", "turned-around"):
        one, batched = by_call[f"one-{name}"], by_call[f"batch-{name}"]
        seen = {field: getattr(one, field) for field in SEEN}
        assert {field: getattr(batched, field) for field in SEEN} == seen, name
    assert by_call["batch-turned-around"].status == "completed"
    assert by_call["batch-missed"].status == "missed"
