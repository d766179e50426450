"""Keyset pagination: opaque cursors and the page every list returns."""

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

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


def decode_cursor(cursor: str, *kinds: type) -> tuple[Any, ...]:
    """Unpack a cursor made by encode_cursor, checking each value's type."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(kinds):
            raise ValueError("wrong length")
        return tuple(
            datetime.fromisoformat(value) if kind is datetime else kind(value)
            for value, kind in zip(values, kinds, strict=True)
        )
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
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
