"""Path dependencies of the managers API."""

from typing import Annotated

from fastapi import Depends

from callsvc.api import RowId
from callsvc.auth.dependencies import CurrentKey
from callsvc.db import SessionDep
from callsvc.managers import service
from callsvc.managers.models import Manager


def visible_manager(manager_id: RowId, session: SessionDep, key: CurrentKey) -> Manager:
    """Return the manager in the path if the key may see it; 404 otherwise."""
    return service.get_visible_manager(session, manager_id=manager_id, actor=key)


ManagerFromPath = Annotated[Manager, Depends(visible_manager)]
