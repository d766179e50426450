"""The forcing ladder: untagged calls go overdue, then escalate, each recorded once."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, update
from sqlalchemy.orm import InstrumentedAttribute
from sqlmodel import Session, col, select

from callsvc.calls.models import Call
from callsvc.outcomes.service import PENDING
from callsvc.settings import Settings

# Rows claimed per run; the scheduler's next tick takes the rest.
BATCH_SIZE = 500


@dataclass(frozen=True)
class Transitions:
    """The calls that went overdue and that escalated in one run, for the events a run reports."""

    overdue: list[int]
    escalated: list[int]


def _claim(session: Session, *, stamp: InstrumentedAttribute, due: ColumnElement[bool], now: datetime) -> list[int]:
    """Stamp due pending calls once each, safe with several processes running the job together."""
    unstamped_and_due = and_(PENDING, col(stamp).is_(None), due)
    # SKIP LOCKED lets concurrent runs split the rows on PostgreSQL (SQLite renders no lock
    # clause and has one writer); re-testing the stamp in the UPDATE keeps each transition single.
    claimable = select(Call.id).where(unstamped_and_due).limit(BATCH_SIZE).with_for_update(skip_locked=True)
    statement = (
        update(Call)
        .where(col(Call.id).in_(claimable.scalar_subquery()), unstamped_and_due)
        .values({stamp.key: now, "updated_at": now})
        .returning(Call.id)
    )
    return sorted(session.execute(statement).scalars())


def mark_overdue_and_escalate(session: Session, *, settings: Settings, now: datetime) -> Transitions:
    """Record overdue_at past tag_due_at and escalated_at past the escalation deadline; return who moved."""
    overdue = _claim(session, stamp=Call.overdue_at, due=col(Call.tag_due_at) <= now, now=now)
    escalate_before = now - timedelta(minutes=settings.escalate_after_minutes)
    escalated = _claim(session, stamp=Call.escalated_at, due=col(Call.ended_at) <= escalate_before, now=now)
    return Transitions(overdue=overdue, escalated=escalated)
