"""What every /v1 route shares: bounded input types, text a database can store, and the errors all may answer."""

from datetime import UTC, date, datetime
from functools import cache
from typing import Annotated
from zoneinfo import available_timezones

from fastapi import Depends, Query
from pydantic import AwareDatetime, Field

from callsvc.errors import Invalid
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
