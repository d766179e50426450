"""Webhook ingestion: verify → keep the exact bytes → parse → apply → after-apply hook; never calls out.

`authenticate` runs on the event loop (CPU only: the signature, the dedupe key, the parse).
`keep_all` and `keep_alone` run in the writer's transaction, `process` in a job's or an admin's.
"""

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlmodel import Session, col

from callsvc.calls import apply
from callsvc.calls.events import EventStatus, ParsedDelivery
from callsvc.clock import Clock
from callsvc.db import is_transient
from callsvc.errors import Conflict, NotFound
from callsvc.ingestion import hooks
from callsvc.ingestion.models import ProviderEvent
from callsvc.ingestion.schemas import ReplayRequest
from callsvc.ops import metrics
from callsvc.providers import registry
from callsvc.providers.base import PayloadInvalid, ProviderAdapter, SignatureInvalid, WebhookRequest, check_events
from callsvc.settings import Settings
from callsvc.store import Store

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
    """What ingestion tells the PBX, and what became of the delivery (`result`, as /metrics counts it)."""

    status: Literal["accepted", "duplicate", "rejected"]
    result: str
    error: PayloadInvalid | None = None
    retrying: bool = False


@dataclass(frozen=True)
class Parse:
    """What reading a delivery gave: its events, the provider-format error, or the parser's crash."""

    parsed: ParsedDelivery | None = None
    invalid: PayloadInvalid | None = None
    crash: Exception | None = None


@dataclass(frozen=True)
class Delivery:
    """An authentic delivery on its way to the database."""

    adapter: ProviderAdapter
    request: WebhookRequest
    dedupe_key: str
    parse: Parse

    @property
    def order(self) -> tuple[str, str, str]:
        """Where it goes in a batch: by call, so concurrent batches lock calls in one order and never deadlock."""
        parsed = self.parse.parsed
        return self.adapter.name, (parsed.provider_call_id or "") if parsed else "", self.dedupe_key


def _text(value: str, length: int) -> str:
    # PostgreSQL's text refuses NUL; what a hostile body put in a label must not lose the delivery.
    return value.replace("\x00", "\ufffd")[:length]


def _storable(dedupe_key: str) -> str:
    # A key longer than the column (a PBX is free to choose its ids) is kept as its digest.
    if len(dedupe_key) <= DEDUPE_KEY_LENGTH and "\x00" not in dedupe_key:
        return dedupe_key
    return "sha256:" + hashlib.sha256(dedupe_key.encode(errors="surrogatepass")).hexdigest()


def parse(adapter: ProviderAdapter, request: WebhookRequest, settings: Settings) -> Parse:
    """Map a delivery to call events, catching what any body can make a parser do."""
    try:
        parsed = adapter.parse(request, settings)
        check_events(parsed)
    except PayloadInvalid as exc:
        return Parse(invalid=exc)
    except Exception as exc:  # noqa: BLE001 - a parser's bug must not lose an authentic delivery
        return Parse(crash=exc)
    return Parse(parsed=parsed)


def authenticate(adapter: ProviderAdapter, request: WebhookRequest, settings: Settings) -> Delivery:
    """Check the delivery is the provider's, then read it; raise SignatureInvalid if it is not."""
    try:
        adapter.verify(request, settings)
    except SignatureInvalid:
        metrics.webhooks.labels(adapter.name, "unauthorized").inc()
        raise
    return Delivery(adapter, request, _storable(adapter.dedupe_key(request)), parse(adapter, request, settings))


def keep_all(store: Store, deliveries: Sequence[Delivery], *, settings: Settings, clock: Clock) -> list[Receipt]:
    """Keep authentic deliveries and apply the new ones, in the caller's transaction; return each one's receipt.

    Each stage is one statement for them all: one keeps every body, then one creates or locks
    every call, one stores every event and one reads them back (on PostgreSQL, in one round
    trip), then each call changed is updated. Any failure raises and fails them all: the caller
    rolls back and keeps them one at a time with `keep_alone`.
    """
    now = clock.now()
    settled = [_on_arrival(delivery, now) for delivery in deliveries]
    kept = store.insert_deliveries(
        [_raw_row(delivery, settings, arrival) for delivery, arrival in zip(deliveries, settled, strict=True)]
    )
    applying, repeats = [], {}
    for number, delivery in enumerate(deliveries):
        row_id = kept.pop((delivery.adapter.name, delivery.dedupe_key), None)  # a key twice: the first is new
        if row_id is None:
            repeats[number] = store.send_delivery_status(delivery.adapter.name, delivery.dedupe_key)
        elif delivery.parse.parsed is not None:
            parsed = delivery.parse.parsed
            applying.append(apply.KeptDelivery(row_id, delivery.adapter.name, delivery.dedupe_key, parsed))
    changes = apply.apply_events(store, applying, settings=settings, clock=clock)
    hooks.after_apply(store, [change for done in changes for change in done], settings=settings, now=clock.now())
    return [
        _repeated(*repeats[number].fetchone()) if number in repeats else _receipt(delivery, arrival)
        for number, (delivery, arrival) in enumerate(zip(deliveries, settled, strict=True))
    ]


def keep_alone(
    store: Store, delivery: Delivery, *, failure: Exception | None, settings: Settings, clock: Clock
) -> Receipt:
    """Keep one delivery and apply it, in a savepoint; if applying fails, keep it unapplied, to try again.

    `failure` is set when applying it is known to fail already; a `CallHeld` one is kept to apply
    once its call is free. Raises only when the delivery could not be kept at all: the caller
    must not acknowledge it then.
    """
    if failure is None and delivery.parse.parsed is not None:
        try:
            with store.savepoint():
                [receipt] = keep_all(store, [delivery], settings=settings, clock=clock)
            return receipt
        except Exception as exc:  # noqa: BLE001 - whatever breaks, the authentic delivery must be kept
            failure = exc
    if isinstance(failure, CallHeld):
        settled = _settled(EventStatus.unprocessed, error=CALL_HELD)
        settled["next_attempt_at"] = clock.now() + RETRY_DELAYS[0]
    elif failure is not None:
        settled = _failed(delivery.adapter.name, failure, attempts=0, now=clock.now())
    else:
        settled = _on_arrival(delivery, clock.now())
    with store.savepoint():
        if not store.insert_deliveries([_raw_row(delivery, settings, settled)]):
            return _repeated(*store.send_delivery_status(delivery.adapter.name, delivery.dedupe_key).fetchone())
    return _receipt(delivery, settled)


class CallHeld(Exception):
    """The delivery's call is held by another transaction: it is kept, to apply once the call is free."""


CALL_HELD = "its call was held by another transaction; applied again shortly"


def _on_arrival(delivery: Delivery, now: datetime) -> dict[str, Any]:
    """What a new delivery is kept as: applied if it parsed, else rejected or kept for a fix."""
    if delivery.parse.parsed is not None:
        return _applied(now)
    return _unparsed(delivery.adapter, delivery.parse, attempts=0, now=now)


def _receipt(delivery: Delivery, settled: Mapping[str, Any]) -> Receipt:
    invalid = delivery.parse.invalid
    if invalid is not None:
        log.warning("rejected %s webhook: %s", delivery.adapter.name, invalid.detail)
        return Receipt("rejected", settled["status"], invalid)
    result = "accepted" if settled["status"] == EventStatus.applied else settled["status"]
    return Receipt("accepted", result, retrying=settled["next_attempt_at"] is not None)


def _raw_row(delivery: Delivery, settings: Settings, settled: Mapping[str, Any]) -> dict[str, Any]:
    request = delivery.request
    headers = {name: value for name, value in request.headers.items() if name not in UNKEPT_HEADERS}
    return {
        "provider": delivery.adapter.name,
        "dedupe_key": delivery.dedupe_key,
        "method": request.method,
        "url": request.url,
        "headers": json.dumps(headers, sort_keys=True),
        "body": delivery.adapter.redact(request.body, settings),
        "received_at": request.received_at,
        "attempts": 0,
        **_labels(delivery.parse.parsed),
        **settled,
    }


def _labels(parsed: ParsedDelivery | None) -> dict[str, str | None]:
    if parsed is None:
        return {"type": None, "provider_call_id": None}
    call_id = parsed.provider_call_id
    return {
        "type": _text(parsed.type, EVENT_TYPE_LENGTH),
        "provider_call_id": _text(call_id, CALL_ID_LENGTH) if call_id else None,
    }


def _repeated(status: str, error: str | None) -> Receipt:
    """A delivery seen before, kept with this status and error: answered as it was the first time, changing nothing."""
    if status == EventStatus.rejected:
        return Receipt(
            "rejected", "duplicate", PayloadInvalid(f"this delivery was refused when it first came: {error}")
        )
    return Receipt("duplicate", "duplicate")


def _settled(status: EventStatus, *, error: str | None = None, applied_at: datetime | None = None) -> dict[str, Any]:
    return {
        "status": status,
        "error": _text(error, ERROR_LENGTH) if error else None,
        "applied_at": applied_at,
        "next_attempt_at": None,
        "lease_until": None,
    }


def _unparsed(adapter: ProviderAdapter, outcome: Parse, *, attempts: int, now: datetime) -> dict[str, Any]:
    """What becomes of a delivery that gave no events: refused if not the format, else kept for a fix."""
    if outcome.invalid is not None:
        return _settled(EventStatus.rejected, error=outcome.invalid.detail)
    return _failed(adapter.name, outcome.crash, attempts=attempts, now=now, transient=False)


def _applied(now: datetime) -> dict[str, Any]:
    return _settled(EventStatus.applied, applied_at=now)


def _failed(
    provider: str, exc: Exception, *, attempts: int, now: datetime, transient: bool | None = None
) -> dict[str, Any]:
    # The message may quote the payload: it is kept on the row for admins, and only its type is logged.
    log.error("could not apply a %s event: %s", provider, type(exc).__name__)
    settled = _settled(EventStatus.unprocessed, error=f"{type(exc).__name__}: {exc}")
    if (is_transient(exc) if transient is None else transient) and attempts < len(RETRY_DELAYS):
        settled["next_attempt_at"] = now + RETRY_DELAYS[attempts]
    return settled


def request_of(raw: Mapping[str, Any]) -> WebhookRequest:
    """The delivery as it was received, rebuilt from its kept row."""
    return WebhookRequest(
        method=raw["method"],
        url=raw["url"],
        headers=json.loads(raw["headers"]),
        body=bytes(raw["body"]),
        received_at=raw["received_at"],
    )


def process(
    store: Store, raw: Mapping[str, Any], *, adapter: ProviderAdapter, settings: Settings, clock: Clock
) -> dict[str, Any]:
    """Parse a kept delivery again and apply it in a savepoint; record on its row, and return, what became of it.

    A body that is not the provider's format becomes `rejected`. Any other failure leaves it
    `unprocessed` with its error: the retry job applies it again when the failure may pass by
    itself, else an admin does after a fix.
    """
    outcome = parse(adapter, request_of(raw), settings)
    if outcome.parsed is not None:
        try:
            with store.savepoint():
                kept = apply.KeptDelivery(raw["id"], raw["provider"], raw["dedupe_key"], outcome.parsed)
                [changes] = apply.apply_events(store, [kept], settings=settings, clock=clock)
                hooks.after_apply(store, changes, settings=settings, now=clock.now())
            settled = {**_applied(clock.now()), **_labels(outcome.parsed)}
        except Exception as exc:  # noqa: BLE001 - whatever breaks, the authentic delivery must be kept
            settled = {
                **_failed(adapter.name, exc, attempts=raw["attempts"], now=clock.now()),
                **_labels(outcome.parsed),
            }
    else:
        settled = _unparsed(adapter, outcome, attempts=raw["attempts"], now=clock.now())
    store.update("provider_event", raw["id"], settled)
    log.info("processed %s event %s: %s", raw["provider"], raw["id"], settled["status"])
    return settled


def replay(session: Session, *, event_id: int, settings: Settings, clock: Clock) -> ProviderEvent:
    """Parse and apply a kept delivery again, after a fix; an applied one is 409."""
    store = Store.of(session)
    # Locked, so two admins (or an admin and the retry job) replaying one delivery apply it once.
    raw = store.kept_delivery(event_id, lock=True)
    if raw is None:
        raise NotFound(f"event {event_id} does not exist", code="event_not_found")
    if raw["status"] == EventStatus.applied:
        raise Conflict(f"event {event_id} is already applied", code="event_already_applied")
    process(store, raw, adapter=registry.get_adapter(raw["provider"], settings), settings=settings, clock=clock)
    return session.get_one(ProviderEvent, event_id, populate_existing=True)


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
    store = Store.of(session)
    replayed = []
    for event_id in session.execute(query).scalars().all():
        raw = store.kept_delivery(event_id)
        adapter = registry.get_adapter(raw["provider"], settings)
        settled = process(store, raw, adapter=adapter, settings=settings, clock=clock)
        replayed.append((event_id, EventStatus(settled["status"])))
    return replayed
