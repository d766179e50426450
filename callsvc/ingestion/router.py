"""The PBX webhook routes and /v1/events, the admin's view of what they delivered."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from callsvc.api import RowId
from callsvc.auth.dependencies import AdminKey
from callsvc.calls.events import EventStatus
from callsvc.clock import ClockDep
from callsvc.db import SessionDep
from callsvc.errors import (
    BodyReadTimeout,
    Conflict,
    ContentTooLarge,
    DatabaseUnavailable,
    Forbidden,
    Invalid,
    NotFound,
    error_responses,
)
from callsvc.ingestion import pipeline, service
from callsvc.ingestion.schemas import ProviderEventRead, ReplayReport, ReplayRequest, WebhookReceipt
from callsvc.pagination import Page, PageParams, by_id, make_page
from callsvc.providers import registry
from callsvc.providers.base import PayloadInvalid, SignatureInvalid, WebhookRequest
from callsvc.routing import api_router
from callsvc.settings import Settings, SettingsDep

# Its routes take the raw request alone: `routing.WebhookLane` calls them ahead of the router.
webhooks_router = APIRouter(tags=["webhooks"])
# The check a PBX makes when its webhook URL is saved takes ordinary parameters, through the router.
webhook_checks_router = APIRouter(tags=["webhooks"])
events_router = api_router(prefix="/v1/events", tags=["events"])


def public_url(request: Request, settings: Settings, headers: dict[str, str]) -> str:
    """The URL the provider called, as it was sent: CALLSVC_PUBLIC_URL behind a proxy, else the request's own."""
    # The path as it came on the wire, percent-escapes kept: that is what URL-signing providers sign,
    # and a decoded %00 would be a NUL that PostgreSQL refuses to keep.
    raw_path = request.scope.get("raw_path")
    path = (raw_path if raw_path is not None else request.url.path.encode()).decode("latin-1")
    query = request.scope.get("query_string", b"").decode("latin-1")
    if settings.public_url:
        base = settings.public_url.rstrip("/")
    elif "host" in headers:
        base = f"{request.scope['scheme']}://{headers['host']}"
    else:
        base = f"{request.url.scheme}://{request.url.netloc}"
    return base + path + (f"?{query}" if query else "")


async def read_webhook_request(request: Request) -> WebhookRequest:
    """Read the raw request once, before any parsing, for the signature check."""
    # From the app's state and the ASGI scope, not through Starlette's wrappers: this runs for every delivery.
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in request.scope["headers"]}
    return WebhookRequest(
        method=request.method,
        url=public_url(request, request.app.state.settings, headers),
        headers=headers,
        body=await request.body(),
        received_at=request.app.state.clock.now(),
        client_host=request.client.host if request.client else None,
    )


async def _receive(provider: str, request: Request) -> JSONResponse:
    settings = request.app.state.settings
    adapter = registry.get_adapter(provider, settings)
    delivery = pipeline.authenticate(adapter, await read_webhook_request(request), settings)
    receipt = await request.app.state.writer.submit(delivery)
    if receipt.error is not None:
        return JSONResponse(status_code=receipt.error.status_code, content=receipt.error.to_body())
    return JSONResponse({"status": receipt.status})


WEBHOOK_ERRORS = error_responses(
    SignatureInvalid, NotFound, BodyReadTimeout, ContentTooLarge, PayloadInvalid, DatabaseUnavailable
)


@webhooks_router.post("/webhooks/{provider}", response_model=WebhookReceipt, responses=WEBHOOK_ERRORS)
async def receive_webhook(provider: str, request: Request) -> JSONResponse:
    """Take a PBX's call event: 200 once it is kept, 401 if it is not authentic, 422 if it is not the format."""
    return await _receive(provider, request)


@webhooks_router.get("/webhooks/twilio", response_model=WebhookReceipt, responses=WEBHOOK_ERRORS)
async def receive_twilio_get(request: Request) -> JSONResponse:
    """Take a Twilio callback configured with StatusCallbackMethod=GET: its parameters are in the signed query."""
    return await _receive("twilio", request)


@webhooks_router.post(
    "/webhooks/mango/events/{event_type:path}", response_model=WebhookReceipt, responses=WEBHOOK_ERRORS
)
async def receive_mango_event(event_type: str, request: Request) -> JSONResponse:
    """Take a Mango Office event: Mango appends /events/call, /events/summary, /events/record/added… to the URL."""
    return await _receive("mango", request)


@webhook_checks_router.get(
    "/webhooks/zadarma",
    # A bare Response class, so the spec files only the echo under text/plain and the errors under JSON.
    response_class=Response,
    responses={
        200: {"description": "The zd_echo value", "content": {"text/plain": {"schema": {"type": "string"}}}},
        **error_responses(NotFound, Invalid),
    },
)
def echo_zadarma(zd_echo: Annotated[str, Query(max_length=200)], settings: SettingsDep) -> PlainTextResponse:
    """Answer the check Zadarma makes when the notification URL is saved: the zd_echo value, as plain text."""
    registry.get_adapter("zadarma", settings)
    return PlainTextResponse(zd_echo)


@events_router.get("", response_model=Page[ProviderEventRead], responses=error_responses(Forbidden))
def list_events(
    session: SessionDep,
    _: AdminKey,
    page: PageParams,
    status: EventStatus | None = None,
    provider: str | None = None,
) -> Page[ProviderEventRead]:
    """The raw webhook deliveries, oldest first; `status=unprocessed` lists those waiting for a replay."""
    after = page.after(int)
    rows = service.list_events(
        session, status=status, provider=provider, after_id=after[0] if after else None, limit=page.limit
    )
    return make_page(rows, limit=page.limit, position=by_id, to_item=ProviderEventRead.model_validate)


@events_router.post(
    "/{event_id}/replay",
    response_model=ProviderEventRead,
    responses=error_responses(Forbidden, NotFound, Conflict),
)
def replay_event(
    event_id: RowId, session: SessionDep, settings: SettingsDep, clock: ClockDep, _: AdminKey
) -> ProviderEventRead:
    """Parse and apply a kept delivery again, after a fix; its status tells whether it applied now."""
    event = pipeline.replay(session, event_id=event_id, settings=settings, clock=clock)
    return ProviderEventRead.model_validate(event)


@events_router.post(
    "/replay",
    response_model=ReplayReport,
    responses=error_responses(Forbidden, NotFound),
)
def replay_events(
    data: ReplayRequest, session: SessionDep, settings: SettingsDep, clock: ClockDep, _: AdminKey
) -> ReplayReport:
    """Replay every unapplied delivery matching the filter, oldest first, up to `limit`; call again from `last_id`."""
    replayed = pipeline.replay_matching(session, where=data, settings=settings, clock=clock)
    return ReplayReport.of(replayed)
