"""/v1/keys: admins create, list and revoke API keys."""

from callsvc.api import RowId
from callsvc.auth import service
from callsvc.auth.dependencies import AdminKey
from callsvc.auth.models import ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from callsvc.clock import ClockDep
from callsvc.db import SessionDep
from callsvc.errors import Forbidden, NotFound, error_responses
from callsvc.pagination import Page, PageParams, by_id, make_page
from callsvc.routing import api_router

router = api_router(prefix="/v1/keys", tags=["keys"])


@router.post("", status_code=201, response_model=ApiKeyCreated, responses=error_responses(Forbidden))
def create_key(data: ApiKeyCreate, session: SessionDep, clock: ClockDep, _: AdminKey) -> ApiKeyCreated:
    """Create a key; the key itself is in this answer and nowhere else."""
    key, token = service.create_key(session, data=data, now=clock.now())
    return ApiKeyCreated(**ApiKeyRead.model_validate(key, from_attributes=True).model_dump(), key=token)


@router.get("", response_model=Page[ApiKeyRead], responses=error_responses(Forbidden))
def list_keys(
    session: SessionDep,
    _: AdminKey,
    page: PageParams,
) -> Page:
    """List keys with when each was last used."""
    after = page.after(int)
    rows = service.list_keys(session, after_id=after[0] if after else None, limit=page.limit)
    return make_page(rows, limit=page.limit, position=by_id, to_item=ApiKeyRead.model_validate)


@router.delete("/{key_id}", response_model=ApiKeyRead, responses=error_responses(Forbidden, NotFound))
def revoke_key(key_id: RowId, session: SessionDep, clock: ClockDep, _: AdminKey) -> ApiKey:
    """Revoke a key at once."""
    return service.revoke_key(session, key_id=key_id, now=clock.now())
