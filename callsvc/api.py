"""What every /v1 route shares: bounded input types, text a database can store, and the errors all may answer."""

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from functools import cache
from typing import Annotated, Any
from urllib.parse import unquote_to_bytes
from zoneinfo import available_timezones

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import AwareDatetime, Field
from starlette.types import Scope

from callsvc.errors import DatabaseUnavailable, Invalid, Unauthorized, error_responses
from callsvc.settings import SettingsDep

# Ids are INTEGER columns (int4 on PostgreSQL); a larger number names no row and overflows the driver.
INT4_MAX = 2**31 - 1
EARLIEST_DAY = date(1970, 1, 1)
# A day short of the calendar's end, so a day's end or a zone's offset still fits in a datetime.
LATEST_DAY = date(9998, 12, 31)

RowId = Annotated[int, Field(ge=1, le=INT4_MAX)]
"""The id of a row, in a path, a query or a body."""

ColumnInt = Annotated[int, Field(ge=0, le=INT4_MAX)]
"""A count or a number of seconds stored in an INTEGER column."""

Day = Annotated[
    date,
    Field(ge=EARLIEST_DAY, le=LATEST_DAY, description=f"A calendar date from {EARLIEST_DAY} to {LATEST_DAY}."),
]
"""A calendar date within the range the service computes with."""

Instant = Annotated[
    AwareDatetime,
    Field(
        ge=datetime.combine(EARLIEST_DAY, datetime.min.time(), UTC),
        le=datetime.combine(LATEST_DAY, datetime.max.time(), UTC),
        description=f"An RFC 3339 time with its UTC offset, from {EARLIEST_DAY} to {LATEST_DAY}.",
    ),
]
"""A moment with its UTC offset, within the range the service computes with."""


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def requested_time_zone(
    settings: SettingsDep,
    tz: Annotated[
        str | None, Query(max_length=64, description="IANA time zone that cuts the days; CALLSVC_TIMEZONE if unset")
    ] = None,
) -> str:
    """Return the caller's time zone, or the configured one; 422 for a name that is not an IANA zone."""
    if tz is None:
        return settings.timezone
    # Looked up in the zone list rather than opened: ZoneInfo reads files named by the caller,
    # and answers odd names with OSError or IsADirectoryError as well as ValueError.
    if tz not in _zone_names():
        raise Invalid(f"unknown time zone {tz!r}", code="invalid_timezone", field="tz")
    return tz


TimeZoneDep = Annotated[str, Depends(requested_time_zone)]


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
                body = await request.body()
                if body:
                    _check_body(body)
            return await handler(request)

        return checked_handler


def api_router(**options: Any) -> APIRouter:
    """A /v1 router: its routes check their text and document the 401, 422 and 503 every one of them may answer."""
    return APIRouter(
        route_class=CheckedRoute, responses=error_responses(Unauthorized, Invalid, DatabaseUnavailable), **options
    )
