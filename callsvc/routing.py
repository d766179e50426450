"""The /v1 router: every route refuses callers without a key before reading a body, and text no column holds."""

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from callsvc.auth import service as auth_service
from callsvc.db import session_scope
from callsvc.errors import (
    BodyReadTimeout,
    ContentTooLarge,
    DatabaseUnavailable,
    Invalid,
    Unauthorized,
    error_responses,
)

# Every /v1 body is a small JSON object (a manager with its identities is the largest); webhooks keep the
# larger CALLSVC_MAX_BODY_BYTES.
API_BODY_BYTES = 64 * 1024

# Any /v1 request may carry a body too large or too slow (the limits apply before routing), a bad key,
# bad input, or find the database away.
ANY_REQUEST_ERRORS = error_responses(Unauthorized, BodyReadTimeout, ContentTooLarge, Invalid, DatabaseUnavailable)


def _storable(value: Any) -> bool:
    """Tell whether decoded JSON holds only text a database column accepts: no NUL, no lone surrogate."""
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode()
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_storable(key) and _storable(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_storable(item) for item in value)
    return True


def _decoded(raw: bytes) -> str | None:
    """Percent-decode a part of a URL; None when it is not UTF-8 text without NUL."""
    try:
        text = unquote_to_bytes(raw).decode()
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text


def _check_url(scope: Scope) -> None:
    raw_path = scope.get("raw_path") or scope["path"].encode()
    if _decoded(raw_path) is None:
        raise Invalid("the path holds a NUL character or bytes that are not UTF-8", code="invalid_text", field="path")
    for pair in scope.get("query_string", b"").split(b"&"):
        raw_name, _, raw_value = pair.replace(b"+", b" ").partition(b"=")
        name = _decoded(raw_name)
        if name is None or _decoded(raw_value) is None:
            field = "query" if name is None else f"query.{name}"
            raise Invalid(
                f"{field} holds a NUL character or bytes that are not UTF-8", code="invalid_text", field=field
            )


def _check_body(body: bytes) -> None:
    try:
        text = body.decode()
    except UnicodeDecodeError as exc:
        raise Invalid("the body is not UTF-8 text", code="invalid_text", field="body") from exc
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return  # not JSON: the route's own parsing answers 422 with the position at fault
    except (ValueError, RecursionError) as exc:
        # Numbers of thousands of digits and arrays nested thousands deep: valid JSON that the
        # route's parser would fail on with a 400 the API does not document.
        raise Invalid(
            "the body holds a number too long or nesting too deep to read", code="invalid_request", field="body"
        ) from exc
    if not _storable(value):
        raise Invalid(
            "the body holds a NUL character (\\u0000) or an unpaired surrogate", code="invalid_text", field="body"
        )


def _authenticate(request: Request) -> None:
    """Answer 401 unless the request carries a live API key; the route's own key check follows as usual."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'", code="missing_api_key")
    with session_scope(request.app.state.read_session_factory) as session:
        if auth_service.authenticate(session, token=token.strip()) is None:
            raise Unauthorized("the API key is unknown or revoked", code="invalid_api_key")


class CheckedRoute(APIRoute):
    """A route that refuses, with 422, text no database column can hold, before anything reads the request.

    NUL is refused by PostgreSQL's text columns, and broken UTF-8 by both databases' drivers;
    checking here covers every parameter and body field at once.
    """

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()
        has_body = self.body_field is not None

        async def checked_handler(request: Request) -> Response:
            _check_url(request.scope)
            if has_body:
                # The key first: a caller without one must not make us read, let alone parse, a body.
                await run_in_threadpool(_authenticate, request)
                body = await request.body()
                if len(body) > API_BODY_BYTES:
                    # FastAPI parses the body on the event loop: keep what any key can make it parse small.
                    raise ContentTooLarge(f"an API request body is at most {API_BODY_BYTES} bytes")
                if body:
                    await run_in_threadpool(_check_body, body)
            return await handler(request)

        return checked_handler


class WebhookLane:
    """The router's fast lane for PBX webhooks: a delivery's route is found, and called, ahead of the others.

    The router tries every route in turn and wraps each request for FastAPI's parameter and
    dependency solving; a webhook endpoint takes the raw request alone, and that machinery costs a
    delivery as much as the rest of its work on the event loop. In front of the router, behind
    the app's middleware and exception handlers, so a delivery is logged, limited and answered
    its errors as any request is. What is not a webhook route's goes on to the router.
    """

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]):
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in self.routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)
                    response = await scope["endpoint"](request=Request(scope, receive, send), **scope["path_params"])
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def api_router(**options: Any) -> APIRouter:
    """A /v1 router: its routes check their text and document the errors every one of them may answer."""
    return APIRouter(route_class=CheckedRoute, responses=ANY_REQUEST_ERRORS, **options)
