"""/v1/managers."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from callsvc.auth.dependencies import AdminKey, CurrentKey, managers_visible_to, may_see_manager
from callsvc.clock import ClockDep
from callsvc.db import SessionDep
from callsvc.errors import Conflict, Forbidden, Invalid, NotFound, error_responses
from callsvc.managers import service
from callsvc.managers.models import Manager, ManagerCreate, ManagerRead, ManagerUpdate
from callsvc.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, by_id, decode_cursor, make_page

router = APIRouter(prefix="/v1/managers", tags=["managers"])


def visible_manager(manager_id: int, session: SessionDep, key: CurrentKey) -> Manager:
    """Return the manager in the path if the key may see it; 404 otherwise."""
    manager = service.get_manager(session, manager_id)
    if not may_see_manager(key, manager):
        raise NotFound(f"manager {manager_id} does not exist", code="manager_not_found")
    return manager


ManagerFromPath = Annotated[Manager, Depends(visible_manager)]


@router.post("", status_code=201, response_model=ManagerRead, responses=error_responses(Forbidden, Conflict))
def create_manager(data: ManagerCreate, session: SessionDep, clock: ClockDep, _: AdminKey) -> Manager:
    """Register a manager with the identities each PBX knows them by."""
    return service.create_manager(session, data=data, now=clock.now())


@router.get("", response_model=Page[ManagerRead], responses=error_responses(Invalid))
def list_managers(
    session: SessionDep,
    key: CurrentKey,
    team: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page:
    """List the managers the key may see."""
    after_id = decode_cursor(cursor, int)[0] if cursor else None
    rows = service.list_managers(
        session, visible=managers_visible_to(key, Manager.id), team=team, after_id=after_id, limit=limit
    )
    return make_page(rows, limit=limit, position=by_id, to_item=ManagerRead.model_validate)


@router.get("/{manager_id}", response_model=ManagerRead, responses=error_responses(NotFound))
def get_manager(manager: ManagerFromPath) -> Manager:
    """Show one manager."""
    return manager


@router.patch("/{manager_id}", response_model=ManagerRead, responses=error_responses(Forbidden, NotFound, Conflict))
def update_manager(data: ManagerUpdate, manager_id: int, session: SessionDep, clock: ClockDep, _: AdminKey) -> Manager:
    """Change a manager's name, team, activity or identities."""
    manager = service.get_manager(session, manager_id)
    return service.update_manager(session, manager=manager, data=data, now=clock.now())
