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
from callsvc.store import Store


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
        store = Store.of(session)
        applied = []
        for event_id in ids:
            raw = store.kept_delivery(event_id, lock=True)
            if raw is None or raw["status"] != EventStatus.unprocessed:
                continue  # an admin replayed it meanwhile
            try:
                adapter = registry.get_adapter(raw["provider"], ctx.settings)
            except NotFound:
                # The provider was switched off since: nothing to apply it with until it is back.
                store.update("provider_event", event_id, {"next_attempt_at": None, "lease_until": None})
                continue
            settled = pipeline.process(store, raw, adapter=adapter, settings=ctx.settings, clock=ctx.clock)
            applied_now = settled["status"] == EventStatus.applied
            metrics.webhook_retries.labels(
                "applied" if applied_now else "retrying" if settled["next_attempt_at"] else "gave_up"
            ).inc()
            if applied_now:
                applied.append(event_id)
        return applied

    return in_batches(ctx, claim=claim, work=work)
