"""The forcing ladder: untagged calls go overdue, then escalate, each recorded once."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.orm import InstrumentedAttribute
from sqlmodel import Session, col

from callsvc.calls.models import Call
from callsvc.jobs import JobContext, claim_due, in_batches
from callsvc.outcomes.service import PENDING


@dataclass(frozen=True)
class Transitions:
    """The calls that went overdue and that escalated in one run, for the events a run reports."""

    overdue: list[int]
    escalated: list[int]


def _stamp_once(ctx: JobContext, stamp: InstrumentedAttribute, due: ColumnElement[bool]) -> list[int]:
    """Record `stamp` on every pending call that is due for it, once each, however many processes run."""
    unstamped = and_(PENDING, col(stamp).is_(None))

    def claim(session: Session, now: datetime) -> list[int]:
        return claim_due(session, Call, due=and_(unstamped, due), now=now, order_by=col(Call.id))

    def work(session: Session, ids: list[int], now: datetime) -> list[int]:
        return stamp_claimed(session, stamp, ids, now=now)

    return in_batches(ctx, claim=claim, work=work)


def stamp_claimed(session: Session, stamp: InstrumentedAttribute, ids: list[int], *, now: datetime) -> list[int]:
    """Stamp the claimed calls still pending and unstamped; return those stamped.

    A call another transaction holds (a delivery being applied to it) is skipped, not waited
    for: waiting while holding the rest could deadlock with a batch of deliveries, which locks
    its calls in another order. It keeps its lease and is stamped by a run after the lease ends.
    """
    # A call tagged since it was claimed is no longer pending: the condition is tested again.
    unstamped = and_(PENDING, col(stamp).is_(None))
    # Two statements, each found by primary key: as one, PostgreSQL may plan the locking subquery
    # to run for every row of the table, holding the locks it took meanwhile for hundreds of ms.
    free = select(Call.id).where(col(Call.id).in_(ids), unstamped).with_for_update(skip_locked=True)
    locked = list(session.execute(free).scalars())
    if not locked:
        return []
    statement = (
        update(Call)
        .where(col(Call.id).in_(locked))
        .values({stamp.key: now, "updated_at": now, "lease_until": None})
        .returning(Call.id)
    )
    return sorted(session.execute(statement).scalars())


def mark_overdue_and_escalate(ctx: JobContext) -> Transitions:
    """Record overdue_at past tag_due_at and escalated_at past the escalation deadline; return who moved."""
    now = ctx.clock.now()
    overdue = _stamp_once(ctx, Call.overdue_at, col(Call.tag_due_at) <= now)
    escalate_before = now - timedelta(minutes=ctx.settings.escalate_after_minutes)
    escalated = _stamp_once(ctx, Call.escalated_at, col(Call.ended_at) <= escalate_before)
    return Transitions(overdue=overdue, escalated=escalated)
