"""Keyset pagination: opaque cursors and the page every list returns."""

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import AwareDatetime, BaseModel, Field, TypeAdapter

from callsvc.api import RowId
from callsvc.errors import Invalid

ItemT = TypeVar("ItemT")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class Page(BaseModel, Generic[ItemT]):
    """One page of a list; pass `next_cursor` back as `cursor` for the next one."""

    items: list[ItemT]
    next_cursor: str | None


def encode_cursor(*position: Any) -> str:
    """Pack a sort position into an opaque, URL-safe cursor."""
    values = [value.isoformat() if isinstance(value, datetime) else value for value in position]
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


# A position holds stored times, which may come from a PBX's clock rather than ours: any aware
# time that converts to UTC without overflowing may have been issued.
_SLACK = timedelta(days=1)
PositionTime = Annotated[
    AwareDatetime, Field(ge=datetime.min.replace(tzinfo=UTC) + _SLACK, le=datetime.max.replace(tzinfo=UTC) - _SLACK)
]
_POSITION_TYPES: dict[type, Any] = {datetime: PositionTime, int: RowId}


@cache
def _position_adapter(kinds: tuple[type, ...]) -> TypeAdapter[tuple[Any, ...]]:
    return TypeAdapter(tuple[tuple(_POSITION_TYPES[kind] for kind in kinds)])


def decode_cursor(cursor: str, *kinds: type) -> tuple[Any, ...]:
    """Unpack a cursor made by encode_cursor; 422 for anything it could not have made.

    Strict: a naive time, a bool or a float for an id, or an id no row can have is refused.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return _position_adapter(kinds).validate_json(raw, strict=True)
    except ValueError as exc:  # bad base64 (binascii.Error) and ValidationError are ValueErrors too
        raise Invalid("cursor is not one this service issued", code="invalid_cursor", field="cursor") from exc


@dataclass(frozen=True)
class PageQuery:
    """Where a list resumes and how long a page is, as the caller asked."""

    cursor: str | None
    limit: int

    def after(self, *kinds: type) -> tuple[Any, ...] | None:
        """The position the cursor points past, or None on the first page."""
        return decode_cursor(self.cursor, *kinds) if self.cursor else None


def page_query(
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> PageQuery:
    """Read the paging parameters every list takes."""
    return PageQuery(cursor=cursor, limit=limit)


PageParams = Annotated[PageQuery, Depends(page_query)]


def make_page(
    rows: list[Any],
    *,
    limit: int,
    position: Callable[[Any], tuple[Any, ...]],
    to_item: Callable[[Any], ItemT],
) -> Page[ItemT]:
    """Build a page; its cursor points past the last row of a full page, or is None when the list ends here."""
    cursor = encode_cursor(*position(rows[-1])) if len(rows) == limit else None
    return Page(items=[to_item(row) for row in rows], next_cursor=cursor)


def by_id(row: Any) -> tuple[int]:
    """The sort position of a list ordered by id."""
    return (row.id,)
