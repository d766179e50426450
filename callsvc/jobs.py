"""Due work: what every scheduled job is given, and the one way it claims rows so each fires once."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col

from callsvc.clock import Clock
from callsvc.db import session_scope
from callsvc.settings import Settings

# Rows claimed per batch; a run takes batch after batch until nothing is due. Few, so that a batch's
# transactions hold their rows briefly: a delivery to one of those calls waits for them.
BATCH_SIZE = 100
# How long a claimed row stays with the worker that claimed it; a crashed worker's rows come back after this.
LEASE = timedelta(minutes=2)


@dataclass(frozen=True)
class JobContext:
    """What a job run needs: its own transactions, the shared outbound HTTP client and the clock."""

    session_factory: sessionmaker[Session]
    settings: Settings
    clock: Clock
    http: httpx.Client | None = None


def claim_due(
    session: Session,
    model: Any,
    *,
    due: ColumnElement[bool],
    now: datetime,
    order_by: Any,
    limit: int = BATCH_SIZE,
    values: Mapping[str, Any] | None = None,
) -> list[int]:
    """Lease up to `limit` due rows to this run and return their ids, oldest first.

    Concurrent runs on PostgreSQL skip each other's locked rows, and a row changed while it was
    being locked is tested again, so none is leased twice (SQLite renders no lock clause and
    lets one writer in at a time). Commit before working on the rows, so the lease is seen.
    """
    free = or_(col(model.lease_until).is_(None), col(model.lease_until) <= now)
    claimable = select(model.id).where(due, free).order_by(order_by).limit(limit).with_for_update(skip_locked=True)
    # Locked first, then leased by primary key: as one statement, PostgreSQL may plan the locking
    # subquery to run for every row of the table, holding the rows it locked meanwhile.
    claimed = list(session.execute(claimable).scalars())
    if not claimed:
        return []
    lease = update(model).where(col(model.id).in_(claimed)).values({"lease_until": now + LEASE, **(values or {})})
    session.execute(lease)
    return sorted(claimed)


def in_batches(
    ctx: JobContext,
    *,
    claim: Callable[[Session, datetime], list[int]],
    work: Callable[[Session, list[int], datetime], list[int]],
) -> list[int]:
    """Claim due rows and work through them batch by batch, each step in its own transaction.

    `work` returns the ids it acted on (a row may have stopped being due since it was claimed);
    the run returns all of them.
    """
    done: list[int] = []
    while True:
        with session_scope(ctx.session_factory) as session:
            claimed = claim(session, ctx.clock.now())
        if not claimed:
            return done
        with session_scope(ctx.session_factory) as session:
            done.extend(work(session, claimed, ctx.clock.now()))
        if len(claimed) < BATCH_SIZE:
            return done
