"""Who is calling: the bearer key and the roles a route admits."""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from callsvc.auth import service
from callsvc.auth.models import ApiKey, Role
from callsvc.clock import ClockDep
from callsvc.db import SessionDep
from callsvc.errors import Forbidden, Unauthorized

_bearer = HTTPBearer(auto_error=False, description="An API key made by `callsvc keys create` or `/v1/keys`.")


def current_key(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """Return the caller's key, or answer 401."""
    if credentials is None:
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'", code="missing_api_key")
    key = service.authenticate(session, token=credentials.credentials)
    if key is None:
        raise Unauthorized("the API key is unknown or revoked", code="invalid_api_key")
    service.note_use(request.app.state.session_factory, key, now=clock.now())
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
