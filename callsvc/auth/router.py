"""/v1/keys: admins create, list and revoke API keys."""

from typing import Annotated

from fastapi import APIRouter, Query

from callsvc.auth import service
from callsvc.auth.dependencies import AdminKey
from callsvc.auth.models import ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from callsvc.clock import ClockDep
from callsvc.db import SessionDep
from callsvc.errors import Forbidden, Invalid, NotFound, error_responses
from callsvc.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, by_id, decode_cursor, make_page

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.post("", status_code=201, response_model=ApiKeyCreated, responses=error_responses(Forbidden, Invalid))
def create_key(data: ApiKeyCreate, session: SessionDep, clock: ClockDep, _: AdminKey) -> ApiKeyCreated:
    """Create a key; the key itself is in this answer and nowhere else."""
    key, token = service.create_key(session, data=data, now=clock.now())
    return ApiKeyCreated(**ApiKeyRead.model_validate(key, from_attributes=True).model_dump(), key=token)


@router.get("", response_model=Page[ApiKeyRead], responses=error_responses(Forbidden, Invalid))
def list_keys(
    session: SessionDep,
    _: AdminKey,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page:
    """List keys with when each was last used."""
    after_id = decode_cursor(cursor, int)[0] if cursor else None
    rows = service.list_keys(session, after_id=after_id, limit=limit)
    return make_page(rows, limit=limit, position=by_id, to_item=ApiKeyRead.model_validate)


@router.delete("/{key_id}", response_model=ApiKeyRead, responses=error_responses(Forbidden, NotFound))
def revoke_key(key_id: int, session: SessionDep, clock: ClockDep, _: AdminKey) -> ApiKey:
    """Revoke a key at once."""
    return service.revoke_key(session, key_id=key_id, now=clock.now())
