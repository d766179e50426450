"""Reading the kept deliveries: the admin's list, and the log shown with each call."""

from sqlalchemy import func, select
from sqlalchemy.orm import defer
from sqlmodel import Session

from callsvc.calls.events import EventStatus
from callsvc.calls.models import Call
from callsvc.calls.schemas import CallEventRead
from callsvc.ingestion.models import ProviderEvent

# A call takes a handful of deliveries; a sender repeating itself must not make one read of the call heavy.
DELIVERY_LOG_LENGTH = 200


def list_events(
    session: Session, *, status: EventStatus | None, provider: str | None, after_id: int | None, limit: int
) -> list[ProviderEvent]:
    """List kept deliveries by id, optionally only those of one status or provider."""
    # The bodies (up to CALLSVC_MAX_BODY_BYTES each) are not shown, so they are not read.
    query = select(ProviderEvent).options(defer(ProviderEvent.body)).order_by(ProviderEvent.id).limit(limit)
    if status is not None:
        query = query.where(ProviderEvent.status == status)
    if provider is not None:
        query = query.where(ProviderEvent.provider == provider)
    if after_id is not None:
        query = query.where(ProviderEvent.id > after_id)
    return list(session.exec(query).scalars())


def delivery_log(session: Session, call: Call) -> list[CallEventRead]:
    """The raw deliveries a call was built from, in the order they arrived (the first DELIVERY_LOG_LENGTH)."""
    rows = session.execute(
        select(
            ProviderEvent.id, ProviderEvent.type, ProviderEvent.received_at, ProviderEvent.status, ProviderEvent.error
        )
        .where(ProviderEvent.provider == call.provider, ProviderEvent.provider_call_id == call.provider_call_id)
        .order_by(ProviderEvent.received_at, ProviderEvent.id)
        .limit(DELIVERY_LOG_LENGTH)
    )
    return [CallEventRead.model_validate(row) for row in rows.mappings()]


def count_unprocessed(session: Session) -> tuple[int, int]:
    """Count kept deliveries not applied yet: those the retry job will try again, and those left for an admin."""
    retrying = ProviderEvent.next_attempt_at.is_not(None)
    query = select(func.count().filter(retrying), func.count().filter(~retrying)).where(
        ProviderEvent.status == EventStatus.unprocessed
    )
    waiting, stuck = session.execute(query).one()
    return waiting, stuck
