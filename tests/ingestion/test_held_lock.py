"""A row lock held elsewhere (PostgreSQL): the delivery times out, is kept, and heals itself."""

import os
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import select

from callsvc.app import create_app
from callsvc.calls.models import Call
from callsvc.db import build_engine, build_session_factory
from callsvc.ingestion import pipeline, writer
from callsvc.ingestion.jobs import retry_transient
from callsvc.ingestion.models import ProviderEvent
from callsvc.jobs import JobContext
from callsvc.providers import registry
from callsvc.store import Store
from tests.factories import answered_call, post_generic
from tests.ingestion.test_writer import generic_request, submit_together

pytestmark = pytest.mark.skipif(
    not os.environ.get("CALLSVC_TEST_DATABASE_URL"),
    reason="needs a row lock held by another connection: PostgreSQL",
)


@pytest.fixture
def factory(settings) -> Iterator:
    """Sessions that commit for real, with a short lock timeout; every table emptied afterwards."""
    engine = build_engine(settings.model_copy(update={"db_lock_timeout_ms": 300}))
    try:
        yield build_session_factory(engine)
    finally:
        with engine.begin() as connection:
            connection.execute(text("TRUNCATE call_event, call, provider_event RESTART IDENTITY CASCADE"))
        engine.dispose()


def test_a_delivery_blocked_by_a_held_lock_is_kept_and_applied_once_the_lock_is_gone(engine, factory, settings, clock):
    app = create_app(settings, clock=clock)
    app.state.session_factory = factory
    started, _, answered, _ = answered_call("held-1")
    with TestClient(app) as client:
        assert post_generic(client, started).json() == {"status": "accepted"}
        with engine.connect() as holder:
            holder.execute(text("SELECT id FROM call WHERE provider_call_id = 'held-1' FOR UPDATE"))
            response = post_generic(client, answered)
            holder.rollback()

    assert response.json() == {"status": "accepted"}
    with factory() as session:
        raw = session.exec(select(ProviderEvent).where(ProviderEvent.status == "unprocessed")).one()
        assert "LockNotAvailable" in raw.error
        assert session.exec(select(Call.status)).one() == "ringing"

    clock.current = raw.next_attempt_at
    assert retry_transient(JobContext(session_factory=factory, settings=settings, clock=clock)) == [raw.id]
    with factory() as session:
        assert session.exec(select(Call.status)).one() == "in_progress"
        assert session.get(ProviderEvent, raw.id).status == "applied"


def test_many_calls_held_elsewhere_cost_a_batch_one_wait_not_one_each(engine, factory, settings, clock):
    """A bulk transaction holding many calls must not stall every other call behind the sum of their waits."""
    held = [f"bulk-{number}" for number in range(20)]
    adapter = registry.get_adapter("generic", settings)
    with factory() as session:
        store = Store.of(session)
        pipeline.keep_all(
            store,
            [pipeline.authenticate(adapter, generic_request(answered_call(call_id)[0]), settings) for call_id in held],
            settings=settings,
            clock=clock,
        )
        session.commit()
    deliveries = [answered_call(call_id)[2] for call_id in held] + [answered_call("free")[0]]
    with engine.connect() as holder:
        holder.execute(text("SELECT id FROM call WHERE provider_call_id LIKE 'bulk-%' FOR UPDATE"))
        started = time.monotonic()
        receipts = submit_together(
            writer.DeliveryWriter(factory, settings=settings, clock=clock),
            [pipeline.authenticate(adapter, generic_request(event), settings) for event in deliveries],
        )
        waited = time.monotonic() - started
        holder.rollback()
    assert {receipt.status for receipt in receipts} == {"accepted"}
    assert waited < 2  # one lock timeout (300 ms here), not twenty
    with factory() as session:
        statuses = dict(session.exec(select(ProviderEvent.provider_call_id, ProviderEvent.status)).all())
    assert statuses["free"] == "applied"
    assert {statuses[call_id] for call_id in held} == {"unprocessed"}
