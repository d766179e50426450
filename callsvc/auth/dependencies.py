"""Who is calling: the bearer key, the roles a route admits, and what each key may see."""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import ColumnElement, or_, select, true

from callsvc.auth import service
from callsvc.auth.models import ApiKey, Role
from callsvc.clock import ClockDep
from callsvc.db import SessionDep
from callsvc.errors import Forbidden, Unauthorized
from callsvc.managers.models import Manager

_bearer = HTTPBearer(auto_error=False, description="An API key made by `callsvc keys create` or `/v1/keys`.")


def current_key(
    session: SessionDep,
    clock: ClockDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """Return the caller's key, or answer 401."""
    if credentials is None:
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'", code="missing_api_key")
    key = service.authenticate(session, token=credentials.credentials, now=clock.now())
    if key is None:
        raise Unauthorized("the API key is unknown or revoked", code="invalid_api_key")
    return key


CurrentKey = Annotated[ApiKey, Depends(current_key)]


def require(*roles: Role) -> Callable[[ApiKey], ApiKey]:
    """Admit only keys of these roles; others get 403."""

    def _check(key: CurrentKey) -> ApiKey:
        if key.role not in roles:
            raise Forbidden(f"a {key.role} key may not use this route", code="role_forbidden")
        return key

    return _check


AdminKey = Annotated[ApiKey, Depends(require(Role.admin))]


def managers_visible_to(key: ApiKey, manager_column: ColumnElement) -> ColumnElement[bool]:
    """A condition on a manager id column: what this key may see (rows owned by nobody included for supervisors)."""
    # A key read from the database holds its role as a plain str: compare by value, not identity.
    if key.role == Role.rep:
        return manager_column == key.manager_id
    if key.role == Role.supervisor:
        team_members = select(Manager.id).where(Manager.team == key.team)
        return or_(manager_column.is_(None), manager_column.in_(team_members.scalar_subquery()))
    return true()


def may_see_manager(key: ApiKey, manager: Manager) -> bool:
    """Tell whether a manager's own record is within this key's scope."""
    if key.role == Role.rep:
        return manager.id == key.manager_id
    if key.role == Role.supervisor:
        return manager.team == key.team
    return True
