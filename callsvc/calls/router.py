"""The PBX webhook routes, /v1/calls and /v1/events."""

from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlmodel import Session

from callsvc.auth.dependencies import AdminKey, CurrentKey, managers_visible_to
from callsvc.calls import ingest, service
from callsvc.calls.events import Direction
from callsvc.calls.models import Call, CallStatus, DeliveryStatus
from callsvc.calls.schemas import CallAssign, CallDetail, CallRead, ProviderEventRead, WebhookReceipt
from callsvc.clock import Clock, ClockDep
from callsvc.db import SessionDep
from callsvc.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized, error_responses
from callsvc.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, by_id, decode_cursor, make_page
from callsvc.providers import registry
from callsvc.providers.base import Delivery, PayloadInvalid, SignatureInvalid
from callsvc.settings import Settings, SettingsDep

webhooks_router = APIRouter(tags=["webhooks"])
router = APIRouter(prefix="/v1/calls", tags=["calls"])
events_router = APIRouter(prefix="/v1/events", tags=["events"])


def public_url(request: Request, settings: SettingsDep) -> str:
    """The URL the provider called: CALLSVC_PUBLIC_URL behind a proxy, else the request's own."""
    if not settings.public_url:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return settings.public_url.rstrip("/") + request.url.path + query


async def read_delivery(request: Request, settings: SettingsDep, clock: ClockDep) -> Delivery:
    """Read the raw request once, before any parsing, for the signature check."""
    return Delivery(
        method=request.method,
        url=public_url(request, settings),
        headers={name.lower(): value for name, value in request.headers.items()},
        body=await request.body(),
        received_at=clock.now(),
        client_host=request.client.host if request.client else None,
    )


DeliveryDep = Annotated[Delivery, Depends(read_delivery)]


def _receive(provider: str, delivery: Delivery, session: Session, settings: Settings, clock: Clock) -> JSONResponse:
    adapter = registry.get_adapter(provider, settings)
    receipt = ingest.receive(session, adapter=adapter, delivery=delivery, settings=settings, clock=clock)
    if receipt.error is not None:
        return JSONResponse(status_code=receipt.error.status_code, content=receipt.error.to_body())
    return JSONResponse({"status": receipt.status})


WEBHOOK_ERRORS = error_responses(SignatureInvalid, NotFound, PayloadInvalid)


@webhooks_router.post("/webhooks/{provider}", response_model=WebhookReceipt, responses=WEBHOOK_ERRORS)
def receive_webhook(
    provider: str, delivery: DeliveryDep, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> JSONResponse:
    """Take a PBX's call event: 200 once it is kept, 401 if it is not authentic, 422 if it is not the format."""
    return _receive(provider, delivery, session, settings, clock)


@webhooks_router.post("/webhooks/mango/events/{event_type}", response_model=WebhookReceipt, responses=WEBHOOK_ERRORS)
def receive_mango_event(
    event_type: str, delivery: DeliveryDep, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> JSONResponse:
    """Take a Mango Office event: Mango appends /events/call, /events/summary, /events/recording… to the URL."""
    return _receive("mango", delivery, session, settings, clock)


@webhooks_router.get(
    "/webhooks/zadarma", response_class=PlainTextResponse, responses=error_responses(NotFound, Invalid)
)
def echo_zadarma(zd_echo: Annotated[str, Query(max_length=200)], settings: SettingsDep) -> str:
    """Answer the check Zadarma makes when the notification URL is saved: the zd_echo value, as plain text."""
    registry.get_adapter("zadarma", settings)
    return zd_echo


def visible_call(call_id: int, session: SessionDep, key: CurrentKey) -> Call:
    """Return the call in the path if the key may see it; 404 otherwise."""
    return service.get_visible_call(session, call_id=call_id, visible=managers_visible_to(key, Call.manager_id))


CallFromPath = Annotated[Call, Depends(visible_call)]


def call_filter(
    settings: SettingsDep,
    updated_since: datetime | None = None,
    started_from: date | None = None,
    started_to: date | None = None,
    tz: str | None = Query(None, description="IANA time zone of started_from/started_to; CALLSVC_TIMEZONE if unset"),
    manager: int | None = None,
    team: str | None = None,
    line: str | None = None,
    direction: Direction | None = None,
    status: CallStatus | None = None,
    outcome: str | None = None,
    needs_outcome: bool | None = None,
    unassigned: bool | None = None,
    stale: bool | None = None,
) -> service.CallFilter:
    """Collect the feed's filters from the query string."""
    timezone = tz or settings.timezone
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid(f"unknown time zone {timezone!r}", code="invalid_timezone", field="tz") from exc
    if updated_since is not None and updated_since.tzinfo is None:
        raise Invalid("updated_since needs a UTC offset, e.g. 2026-11-22T10:00:00Z", field="updated_since")
    return service.CallFilter(
        updated_since=updated_since,
        started_from=started_from,
        started_to=started_to,
        tz=timezone,
        manager=manager,
        team=team,
        line=line,
        direction=direction,
        status=status,
        outcome=outcome,
        needs_outcome=needs_outcome,
        unassigned=unassigned,
        stale=stale,
    )


@router.get("", response_model=Page[CallRead], responses=error_responses(Unauthorized, Invalid))
def list_calls(
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    key: CurrentKey,
    filters: Annotated[service.CallFilter, Depends(call_filter)],
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[CallRead]:
    """The change feed: every call the key may see, by (updated_at, id); a changed call comes again."""
    now = clock.now()
    after = decode_cursor(cursor, datetime, int) if cursor else None
    rows = service.list_calls(
        session,
        filters=filters,
        visible=managers_visible_to(key, Call.manager_id),
        after=after,
        limit=limit,
        settings=settings,
        now=now,
    )
    return make_page(
        rows,
        limit=limit,
        position=lambda call: (call.updated_at, call.id),
        to_item=lambda call: service.to_read(call, settings=settings, now=now),
    )


@router.get("/{call_id}", response_model=CallDetail, responses=error_responses(Unauthorized, NotFound))
def get_call(
    call: CallFromPath, response: Response, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> CallDetail:
    """One call with its outcome history and the raw deliveries it was built from; its ETag in the header."""
    response.headers["ETag"] = service.etag(call)
    return service.to_detail(session, call, settings=settings, now=clock.now())


@router.patch(
    "/{call_id}",
    response_model=CallRead,
    responses=error_responses(Unauthorized, Forbidden, NotFound, Invalid),
)
def assign_call(
    key: AdminKey, call: CallFromPath, data: CallAssign, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> CallRead:
    """Give a call (typically an unassigned one) to a manager."""
    # The role is checked first (key before call): a crm key gets 403 whether or not the call exists.
    now = clock.now()
    service.assign_manager(session, call=call, manager_id=data.manager_id, actor=f"key:{key.id}", now=now)
    return service.to_read(call, settings=settings, now=now)


@events_router.get(
    "", response_model=Page[ProviderEventRead], responses=error_responses(Unauthorized, Forbidden, Invalid)
)
def list_events(
    session: SessionDep,
    _: AdminKey,
    status: DeliveryStatus | None = None,
    provider: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[ProviderEventRead]:
    """The raw webhook deliveries, oldest first; `status=unprocessed` lists those waiting for a replay."""
    after_id = decode_cursor(cursor, int)[0] if cursor else None
    rows = ingest.list_events(session, status=status, provider=provider, after_id=after_id, limit=limit)
    return make_page(rows, limit=limit, position=by_id, to_item=ProviderEventRead.model_validate)


@events_router.post(
    "/{event_id}/replay",
    response_model=ProviderEventRead,
    responses=error_responses(Unauthorized, Forbidden, NotFound, Conflict),
)
def replay_event(
    event_id: int, session: SessionDep, settings: SettingsDep, clock: ClockDep, _: AdminKey
) -> ProviderEventRead:
    """Parse and apply an unprocessed delivery again, after a fix; its status tells whether it applied now."""
    event = ingest.replay(session, event_id=event_id, settings=settings, clock=clock)
    return ProviderEventRead.model_validate(event)
