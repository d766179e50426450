"""Webhook ingestion: verify → keep the raw delivery → parse → apply, and replay; never calls out."""

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlmodel import Session

from callsvc.calls import service as calls_service
from callsvc.calls.events import EventStatus, ParsedDelivery
from callsvc.clock import Clock
from callsvc.db import insert_ignoring_conflict
from callsvc.errors import Conflict, NotFound
from callsvc.ingestion.models import ProviderEvent
from callsvc.ops import metrics
from callsvc.providers import registry
from callsvc.providers.base import PayloadInvalid, ProviderAdapter, SignatureInvalid, WebhookRequest
from callsvc.settings import Settings

log = logging.getLogger(__name__)

# Kept with the raw body so a replay can parse it again; credentials a proxy may add are not.
UNKEPT_HEADERS = {"authorization", "cookie", "proxy-authorization"}
DEDUPE_KEY_LENGTH = 200
CALL_ID_LENGTH = 200
EVENT_TYPE_LENGTH = 100


@dataclass(frozen=True)
class Receipt:
    """What ingestion tells the PBX."""

    status: Literal["accepted", "duplicate", "rejected"]
    error: PayloadInvalid | None = None


def _raw_row(provider: str, delivery: WebhookRequest, **fields: object) -> dict[str, object]:
    headers = {name: value for name, value in delivery.headers.items() if name not in UNKEPT_HEADERS}
    return {
        "provider": provider,
        "method": delivery.method,
        "url": delivery.url,
        "headers": json.dumps(headers, sort_keys=True),
        "body": delivery.body.decode(errors="replace"),
        "received_at": delivery.received_at,
        **fields,
    }


def _storable(dedupe_key: str) -> str:
    # A key longer than the column (a PBX is free to choose its ids) is kept as its digest.
    if len(dedupe_key) <= DEDUPE_KEY_LENGTH:
        return dedupe_key
    return "sha256:" + hashlib.sha256(dedupe_key.encode()).hexdigest()


def _check_call_ids(parsed: ParsedDelivery) -> None:
    for event in parsed.events:
        if len(event.provider_call_id) > CALL_ID_LENGTH:
            raise PayloadInvalid(f"the call id is longer than {CALL_ID_LENGTH} characters", field="call_id")


def receive(
    session: Session, *, adapter: ProviderAdapter, delivery: WebhookRequest, settings: Settings, clock: Clock
) -> Receipt:
    """Take one webhook delivery; an authentic one is kept whatever happens when it is applied."""
    try:
        adapter.verify(delivery, settings)
    except SignatureInvalid:
        metrics.webhooks.labels(adapter.name, "unauthorized").inc()
        raise
    try:
        parsed = adapter.parse(delivery, settings)
        _check_call_ids(parsed)
    except PayloadInvalid as exc:
        session.execute(
            ProviderEvent.__table__.insert().values(
                _raw_row(adapter.name, delivery, status=EventStatus.rejected, error=exc.detail)
            )
        )
        metrics.webhooks.labels(adapter.name, "rejected").inc()
        log.warning("rejected %s webhook: %s", adapter.name, exc.detail)
        return Receipt("rejected", exc)

    dedupe_key = _storable(adapter.dedupe_key(delivery))
    event_id = insert_ignoring_conflict(
        session,
        ProviderEvent.__table__,
        _raw_row(
            adapter.name,
            delivery,
            dedupe_key=dedupe_key,
            type=parsed.type[:EVENT_TYPE_LENGTH],
            provider_call_id=parsed.provider_call_id,
            status=EventStatus.unprocessed,
        ),
        ["provider", "dedupe_key"],
    )
    if event_id is None:
        metrics.webhooks.labels(adapter.name, "duplicate").inc()
        return Receipt("duplicate")
    raw = session.get_one(ProviderEvent, event_id)
    applied = apply_delivery(session, raw=raw, parsed=parsed, settings=settings, clock=clock)
    metrics.webhooks.labels(adapter.name, "accepted" if applied else "unprocessed").inc()
    return Receipt("accepted")


def apply_delivery(
    session: Session, *, raw: ProviderEvent, parsed: ParsedDelivery, settings: Settings, clock: Clock
) -> bool:
    """Apply a kept delivery's events in a savepoint; on failure keep it unprocessed with the error."""
    try:
        with session.begin_nested():
            for index, event in enumerate(parsed.events):
                calls_service.apply_event(
                    session,
                    provider=raw.provider,
                    event=event,
                    provider_event_id=raw.id,
                    tie_break=f"{raw.dedupe_key}:{index}",
                    settings=settings,
                    clock=clock,
                )
    except Exception as exc:  # noqa: BLE001 - whatever breaks, the authentic delivery must be kept
        # The message may quote the payload; it is kept on the row, and only its type is logged.
        log.error("could not apply %s event %s: %s", raw.provider, raw.id, type(exc).__name__)
        raw.status = EventStatus.unprocessed
        raw.error = f"{type(exc).__name__}: {exc}"[:2000]
        session.add(raw)
        return False
    raw.status = EventStatus.applied
    raw.error = None
    raw.applied_at = clock.now()
    session.add(raw)
    return True


def replay(session: Session, *, event_id: int, settings: Settings, clock: Clock) -> ProviderEvent:
    """Parse a kept unprocessed delivery again and apply it; it stays unprocessed, with the error, if it fails."""
    # Locked, so two admins replaying one delivery apply it once.
    raw = session.exec(select(ProviderEvent).where(ProviderEvent.id == event_id).with_for_update()).scalars().first()
    if raw is None:
        raise NotFound(f"event {event_id} does not exist", code="event_not_found")
    if raw.status == EventStatus.applied:
        raise Conflict(f"event {event_id} is already applied", code="event_already_applied")
    if raw.status == EventStatus.rejected:
        raise Conflict(
            f"event {event_id} was rejected: its body is not the provider's format, so there is nothing to apply",
            code="event_rejected",
        )
    adapter = registry.get_adapter(raw.provider, settings)
    delivery = WebhookRequest(
        method=raw.method,
        url=raw.url,
        headers=json.loads(raw.headers),
        body=raw.body.encode(),
        received_at=raw.received_at,
    )
    try:
        parsed = adapter.parse(delivery, settings)
    except PayloadInvalid as exc:
        raw.error = exc.detail
        session.add(raw)
        return raw
    apply_delivery(session, raw=raw, parsed=parsed, settings=settings, clock=clock)
    log.info("replayed %s event %s: %s", raw.provider, raw.id, raw.status)
    return raw
