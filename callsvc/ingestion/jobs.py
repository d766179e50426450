"""Deliveries that failed for a passing reason (a lock or statement timeout, a lost connection) heal themselves."""

from datetime import datetime

from sqlalchemy import and_
from sqlmodel import Session, col

from callsvc.calls.events import EventStatus
from callsvc.errors import NotFound
from callsvc.ingestion import pipeline
from callsvc.ingestion.models import ProviderEvent
from callsvc.jobs import JobContext, claim_due, in_batches
from callsvc.ops import metrics
from callsvc.providers import registry


def retry_transient(ctx: JobContext) -> list[int]:
    """Apply again every delivery whose retry time has come; return the ids that applied now."""

    def claim(session: Session, now: datetime) -> list[int]:
        due = and_(ProviderEvent.status == EventStatus.unprocessed, col(ProviderEvent.next_attempt_at) <= now)
        return claim_due(
            session,
            ProviderEvent,
            due=due,
            now=now,
            order_by=col(ProviderEvent.next_attempt_at),
            values={"attempts": col(ProviderEvent.attempts) + 1},
        )

    def work(session: Session, ids: list[int], now: datetime) -> list[int]:
        applied = []
        for event_id in ids:
            raw = session.get_one(ProviderEvent, event_id, with_for_update=True)
            if raw.status != EventStatus.unprocessed:
                continue  # an admin replayed it meanwhile
            try:
                adapter = registry.get_adapter(raw.provider, ctx.settings)
            except NotFound:
                # The provider was switched off since: nothing to apply it with until it is back.
                raw.next_attempt_at = raw.lease_until = None
                continue
            request = pipeline.request_of(raw)
            pipeline.process(session, raw=raw, adapter=adapter, request=request, settings=ctx.settings, clock=ctx.clock)
            result = (
                "applied" if raw.status == EventStatus.applied else "retrying" if raw.next_attempt_at else "gave_up"
            )
            metrics.webhook_retries.labels(result).inc()
            pipeline.unload(session, raw)
            if raw.status == EventStatus.applied:
                applied.append(event_id)
        return applied

    return in_batches(ctx, claim=claim, work=work)
