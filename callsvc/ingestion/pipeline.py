"""Webhook ingestion: verify → keep the exact bytes → parse → apply → after-apply hook; never calls out."""

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlmodel import Session, col

from callsvc.calls import service as calls_service
from callsvc.calls.events import EventStatus
from callsvc.clock import Clock
from callsvc.db import insert_ignoring_conflict, is_transient
from callsvc.errors import Conflict, NotFound
from callsvc.ingestion import hooks
from callsvc.ingestion.models import ProviderEvent
from callsvc.ingestion.schemas import ReplayRequest
from callsvc.ops import metrics
from callsvc.providers import registry
from callsvc.providers.base import PayloadInvalid, ProviderAdapter, SignatureInvalid, WebhookRequest, check_events
from callsvc.settings import Settings

log = logging.getLogger(__name__)

# Kept with the raw body so a replay can parse it again; credentials a proxy may add are not.
UNKEPT_HEADERS = {"authorization", "cookie", "proxy-authorization"}
DEDUPE_KEY_LENGTH = 200
CALL_ID_LENGTH = 200
EVENT_TYPE_LENGTH = 100
ERROR_LENGTH = 2000
# A delivery that failed for a passing reason is applied again after these delays, then left for an admin.
RETRY_DELAYS = tuple(timedelta(seconds=seconds) for seconds in (5, 15, 45, 135, 405, 1215, 3600, 3600))


@dataclass(frozen=True)
class Receipt:
    """What ingestion tells the PBX."""

    status: Literal["accepted", "duplicate", "rejected"]
    error: PayloadInvalid | None = None


def _text(value: str, length: int) -> str:
    # PostgreSQL's text refuses NUL; what a hostile body put in a label must not lose the delivery.
    return value.replace("\x00", "\ufffd")[:length]


def _storable(dedupe_key: str) -> str:
    # A key longer than the column (a PBX is free to choose its ids) is kept as its digest.
    if len(dedupe_key) <= DEDUPE_KEY_LENGTH and "\x00" not in dedupe_key:
        return dedupe_key
    return "sha256:" + hashlib.sha256(dedupe_key.encode(errors="surrogatepass")).hexdigest()


def _raw_row(
    adapter: ProviderAdapter, request: WebhookRequest, *, dedupe_key: str, settings: Settings
) -> dict[str, object]:
    headers = {name: value for name, value in request.headers.items() if name not in UNKEPT_HEADERS}
    return {
        "provider": adapter.name,
        "dedupe_key": dedupe_key,
        "status": EventStatus.unprocessed,
        "method": request.method,
        "url": request.url,
        "headers": json.dumps(headers, sort_keys=True),
        "body": adapter.redact(request.body, settings),
        "received_at": request.received_at,
        "attempts": 0,
    }


def receive(
    session: Session, *, adapter: ProviderAdapter, request: WebhookRequest, settings: Settings, clock: Clock
) -> Receipt:
    """Take one webhook delivery: once it is authentic it is kept, whatever parsing or applying it does."""
    try:
        adapter.verify(request, settings)
    except SignatureInvalid:
        metrics.webhooks.labels(adapter.name, "unauthorized").inc()
        raise
    dedupe_key = _storable(adapter.dedupe_key(request))
    event_id = insert_ignoring_conflict(
        session,
        ProviderEvent.__table__,
        _raw_row(adapter, request, dedupe_key=dedupe_key, settings=settings),
        ["provider", "dedupe_key"],
    )
    if event_id is None:
        return _repeated(session, adapter.name, dedupe_key)
    raw = session.get_one(ProviderEvent, event_id)
    refused = process(session, raw=raw, adapter=adapter, request=request, settings=settings, clock=clock)
    metrics.webhooks.labels(adapter.name, "accepted" if raw.status == EventStatus.applied else raw.status).inc()
    if refused is not None:
        log.warning("rejected %s webhook: %s", adapter.name, refused.detail)
        return Receipt("rejected", refused)
    return Receipt("accepted")


def _repeated(session: Session, provider: str, dedupe_key: str) -> Receipt:
    """A delivery seen before: answered as it was the first time, and changing nothing."""
    metrics.webhooks.labels(provider, "duplicate").inc()
    status, error = session.execute(
        select(ProviderEvent.status, ProviderEvent.error).where(
            ProviderEvent.provider == provider, ProviderEvent.dedupe_key == dedupe_key
        )
    ).one()
    if status == EventStatus.rejected:
        return Receipt("rejected", PayloadInvalid(f"this delivery was refused when it first came: {error}"))
    return Receipt("duplicate")


def process(
    session: Session,
    *,
    raw: ProviderEvent,
    adapter: ProviderAdapter,
    request: WebhookRequest,
    settings: Settings,
    clock: Clock,
) -> PayloadInvalid | None:
    """Parse a kept delivery and apply it in a savepoint; record on the row what became of it.

    Return the validation error of a body that is not the provider's format (the row is then
    `rejected`). Any other failure leaves the row `unprocessed` with its error, to be applied
    again: by the retry job when the failure may pass by itself, else by an admin after a fix.
    """
    now = clock.now()
    try:
        parsed = adapter.parse(request, settings)
        check_events(parsed)
    except PayloadInvalid as exc:
        _settle(raw, EventStatus.rejected, error=exc.detail)
        return exc
    except Exception as exc:  # noqa: BLE001 - a parser's bug must not lose an authentic delivery
        _fail(raw, exc, transient=False, now=now)
        return None
    raw.type = _text(parsed.type, EVENT_TYPE_LENGTH)
    raw.provider_call_id = _text(parsed.provider_call_id, CALL_ID_LENGTH) if parsed.provider_call_id else None
    try:
        with session.begin_nested():
            changes = [
                calls_service.apply_event(
                    session,
                    provider=raw.provider,
                    event=event,
                    provider_event_id=raw.id,
                    tie_break=f"{raw.dedupe_key}:{index}",
                    settings=settings,
                    clock=clock,
                )
                for index, event in enumerate(parsed.events)
            ]
            hooks.after_apply(session, changes, settings=settings, now=clock.now())
    except Exception as exc:  # noqa: BLE001 - whatever breaks, the authentic delivery must be kept
        _fail(raw, exc, transient=is_transient(exc), now=now)
        return None
    _settle(raw, EventStatus.applied, applied_at=clock.now())
    return None


def _settle(raw: ProviderEvent, status: EventStatus, *, error: str | None = None, applied_at: datetime | None = None):
    raw.status = status
    raw.error = _text(error, ERROR_LENGTH) if error else None
    raw.applied_at = applied_at
    raw.next_attempt_at = None
    raw.lease_until = None


def _fail(raw: ProviderEvent, exc: Exception, *, transient: bool, now: datetime) -> None:
    # The message may quote the payload: it is kept on the row for admins, and only its type is logged.
    log.error("could not apply %s event %s: %s", raw.provider, raw.id, type(exc).__name__)
    _settle(raw, EventStatus.unprocessed, error=f"{type(exc).__name__}: {exc}")
    if transient and raw.attempts < len(RETRY_DELAYS):
        raw.next_attempt_at = now + RETRY_DELAYS[raw.attempts]


def request_of(raw: ProviderEvent) -> WebhookRequest:
    """The delivery as it was received, rebuilt from what was kept."""
    return WebhookRequest(
        method=raw.method, url=raw.url, headers=json.loads(raw.headers), body=raw.body, received_at=raw.received_at
    )


def replay(session: Session, *, event_id: int, settings: Settings, clock: Clock) -> ProviderEvent:
    """Parse and apply a kept delivery again, after a fix; an applied one is 409."""
    # Locked, so two admins (or an admin and the retry job) replaying one delivery apply it once.
    raw = session.exec(select(ProviderEvent).where(ProviderEvent.id == event_id).with_for_update()).scalars().first()
    if raw is None:
        raise NotFound(f"event {event_id} does not exist", code="event_not_found")
    if raw.status == EventStatus.applied:
        raise Conflict(f"event {event_id} is already applied", code="event_already_applied")
    _replay(session, raw, settings=settings, clock=clock)
    return raw


def _replay(session: Session, raw: ProviderEvent, *, settings: Settings, clock: Clock) -> None:
    adapter = registry.get_adapter(raw.provider, settings)
    process(session, raw=raw, adapter=adapter, request=request_of(raw), settings=settings, clock=clock)
    log.info("replayed %s event %s: %s", raw.provider, raw.id, raw.status)


def replay_matching(
    session: Session, *, where: ReplayRequest, settings: Settings, clock: Clock
) -> list[tuple[int, EventStatus]]:
    """Replay every unapplied delivery the filter matches, oldest first, up to its limit; return each id and status."""
    query = select(ProviderEvent.id).where(col(ProviderEvent.status) != EventStatus.applied)
    if where.status is not None:
        query = query.where(ProviderEvent.status == where.status)
    if where.provider is not None:
        query = query.where(ProviderEvent.provider == where.provider)
    if where.received_from is not None:
        query = query.where(col(ProviderEvent.received_at) >= where.received_from)
    if where.received_to is not None:
        query = query.where(col(ProviderEvent.received_at) < where.received_to)
    if where.after_id is not None:
        query = query.where(col(ProviderEvent.id) > where.after_id)
    # Rows the retry job holds are skipped: it is applying them already.
    query = query.order_by(col(ProviderEvent.id)).limit(where.limit).with_for_update(skip_locked=True)
    replayed = []
    for event_id in session.execute(query).scalars().all():
        raw = session.get_one(ProviderEvent, event_id)
        _replay(session, raw, settings=settings, clock=clock)
        unload(session, raw)
        replayed.append((event_id, EventStatus(raw.status)))
    return replayed


def unload(session: Session, raw: ProviderEvent) -> None:
    """Write a replayed row and let go of it and its body, so a batch holds one body at a time."""
    session.flush()
    session.expunge(raw)
