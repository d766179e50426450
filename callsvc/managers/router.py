"""/v1/managers."""

from callsvc.api import RowId
from callsvc.auth.dependencies import AdminKey, CurrentKey
from callsvc.clock import ClockDep
from callsvc.db import SessionDep
from callsvc.errors import Conflict, Forbidden, NotFound, error_responses
from callsvc.managers import service
from callsvc.managers.dependencies import ManagerFromPath
from callsvc.managers.models import Manager, ManagerCreate, ManagerRead, ManagerUpdate
from callsvc.pagination import Page, PageParams, by_id, make_page
from callsvc.routing import api_router

router = api_router(prefix="/v1/managers", tags=["managers"])


@router.post("", status_code=201, response_model=ManagerRead, responses=error_responses(Forbidden, Conflict))
def create_manager(data: ManagerCreate, session: SessionDep, clock: ClockDep, _: AdminKey) -> Manager:
    """Register a manager with the identities each PBX knows them by."""
    return service.create_manager(session, data=data, now=clock.now())


@router.get("", response_model=Page[ManagerRead])
def list_managers(
    session: SessionDep,
    key: CurrentKey,
    page: PageParams,
    team: str | None = None,
) -> Page:
    """List the managers the key may see."""
    after = page.after(int)
    rows = service.list_managers(session, actor=key, team=team, after_id=after[0] if after else None, limit=page.limit)
    return make_page(rows, limit=page.limit, position=by_id, to_item=ManagerRead.model_validate)


@router.get("/{manager_id}", response_model=ManagerRead, responses=error_responses(NotFound))
def get_manager(manager: ManagerFromPath) -> Manager:
    """Show one manager."""
    return manager


@router.patch(
    "/{manager_id}",
    response_model=ManagerRead,
    responses=error_responses(Forbidden, NotFound, Conflict),
)
def update_manager(
    data: ManagerUpdate, manager_id: RowId, session: SessionDep, clock: ClockDep, _: AdminKey
) -> Manager:
    """Change a manager's name, team, activity or identities."""
    manager = service.get_manager(session, manager_id)
    return service.update_manager(session, manager=manager, data=data, now=clock.now())
