"""Several processes at once (PostgreSQL): each transition is recorded once, If-Match is checked atomically."""

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import and_, text
from sqlalchemy.orm import sessionmaker
from sqlmodel import col, select

from callsvc.app import create_app
from callsvc.auth.models import ApiKey, Role
from callsvc.calls.models import Call
from callsvc.db import build_session_factory
from callsvc.errors import PreconditionFailed
from callsvc.jobs import LEASE, JobContext, claim_due
from callsvc.outcomes import service
from callsvc.outcomes.jobs import mark_overdue_and_escalate, stamp_claimed
from callsvc.outcomes.schemas import TagRequest
from callsvc.outcomes.service import PENDING
from tests.conftest import FrozenClock
from tests.factories import CALLS_START, answered_call, create_key, create_manager, record_call

pytestmark = pytest.mark.skipif(
    not os.environ.get("CALLSVC_TEST_DATABASE_URL"),
    reason="needs row locks across connections: PostgreSQL (SQLite lets one writer in at a time)",
)

PAST_DEADLINE = CALLS_START + timedelta(minutes=30)


@dataclass
class Committed:
    factory: sessionmaker
    call_id: int
    key_id: int


@pytest.fixture
def committed(engine, settings, clock) -> Iterator[Committed]:
    """A call and a rep key committed for real, as separate processes would see them; removed afterwards."""
    factory = build_session_factory(engine)
    try:
        with factory() as session:
            anna = create_manager(session, extensions=("101",))
            create_key(session, role=Role.rep, manager_id=anna.id)
            key_id = session.exec(select(ApiKey.id)).one()
            app = create_app(settings, clock=clock)
            app.state.session_factory = factory
            with TestClient(app) as client:
                call_id = record_call(client, session, answered_call("x1", extension="101"))
        yield Committed(factory=factory, call_id=call_id, key_id=key_id)
    finally:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "TRUNCATE outcome_change, call_event, call, provider_event, api_key, manager_identity, manager"
                    " RESTART IDENTITY"
                )
            )


def claim(session, now) -> list[int]:
    due = and_(PENDING, col(Call.overdue_at).is_(None), col(Call.tag_due_at) <= now)
    return claim_due(session, Call, due=due, now=now, order_by=col(Call.id))


def claim_and_commit(committed: Committed, now) -> list[int]:
    with committed.factory() as session:
        claimed = claim(session, now)
        session.commit()
        return claimed


def test_concurrent_claims_take_each_due_row_once(committed):
    with ThreadPoolExecutor(1) as pool, committed.factory() as first:
        claimed = claim(first, PAST_DEADLINE)
        # The second claim skips the rows the first holds instead of waiting for them.
        assert pool.submit(claim_and_commit, committed, PAST_DEADLINE).result(timeout=5) == []
        first.commit()
    assert claimed == [committed.call_id]
    # Leased now: nobody else takes it until the lease runs out (a crashed worker's rows come back).
    assert claim_and_commit(committed, PAST_DEADLINE + LEASE - timedelta(seconds=1)) == []
    assert claim_and_commit(committed, PAST_DEADLINE + LEASE) == [committed.call_id]


def test_runs_in_several_processes_record_each_transition_once(committed, settings):
    ctx = JobContext(session_factory=committed.factory, settings=settings, clock=FrozenClock(PAST_DEADLINE))
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda _: mark_overdue_and_escalate(ctx), range(4)))
    assert sorted(call_id for run in runs for call_id in run.overdue) == [committed.call_id]


def tag(session, committed: Committed, outcome: str, settings, clock) -> None:
    call = session.get(Call, committed.call_id)
    key = session.get(ApiKey, committed.key_id)
    request = TagRequest(outcome=outcome)
    service.tag_call(session, call=call, request=request, key=key, if_match='"1"', settings=settings, clock=clock)


def tag_and_commit(committed: Committed, outcome: str, settings, clock) -> None:
    with committed.factory() as session:
        tag(session, committed, outcome, settings, clock)
        session.commit()


def test_two_tags_made_from_the_same_etag_cannot_both_win(committed, settings, clock):
    with ThreadPoolExecutor(1) as pool, committed.factory() as first:
        tag(first, committed, "no_need", settings, clock)
        second = pool.submit(tag_and_commit, committed, "meeting", settings, clock)
        time.sleep(0.5)
        assert not second.done(), "the second tag must wait for the first one's row lock"
        first.commit()
        with pytest.raises(PreconditionFailed):
            second.result(timeout=10)
    with committed.factory() as session:
        call = session.get(Call, committed.call_id)
        assert (call.outcome, call.version) == ("no_need", 2)


def test_a_call_a_delivery_holds_is_skipped_by_the_overdue_stamp_not_waited_for(committed, engine):
    """Waiting for it while holding the rest of the batch could deadlock with a batch of deliveries."""
    [claimed] = claim_and_commit(committed, PAST_DEADLINE)
    with engine.connect() as holder:
        holder.execute(text("SELECT id FROM call WHERE id = :id FOR UPDATE"), {"id": claimed})
        started = time.monotonic()
        with committed.factory() as session:
            session.execute(text("SET LOCAL lock_timeout = '5s'"))
            assert stamp_claimed(session, Call.overdue_at, [claimed], now=PAST_DEADLINE) == []
            session.commit()
        assert time.monotonic() - started < 1
        holder.rollback()
    with committed.factory() as session:
        call = session.get(Call, claimed)
        assert (call.overdue_at, call.lease_until) == (None, PAST_DEADLINE + LEASE)
        assert stamp_claimed(session, Call.overdue_at, [claimed], now=PAST_DEADLINE) == [claimed]
