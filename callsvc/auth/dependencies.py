"""Who is calling: the bearer key and the roles a route admits."""

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from callsvc.auth import service
from callsvc.auth.models import ApiKey, Role
from callsvc.clock import ClockDep
from callsvc.db import READ_METHODS, SessionDep, session_scope
from callsvc.errors import Forbidden, Unauthorized

log = logging.getLogger(__name__)

_bearer = HTTPBearer(auto_error=False, description="An API key made by `callsvc keys create` or `/v1/keys`.")


def current_key(
    request: Request,
    background: BackgroundTasks,
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
    if request.method in READ_METHODS:
        # A read's own transaction never writes (SQLite's write lock is the webhook writer's): the
        # stamp is a write of its own once the answer is sent, and a busy database skips it.
        background.add_task(_note_use_if_free, request.app.state.session_factory, key, clock.now())
    else:
        service.note_use(session, key, now=clock.now())
    return key


def _note_use_if_free(session_factory: sessionmaker[Session], key: ApiKey, now: datetime) -> None:
    try:
        with session_scope(session_factory) as session:
            service.note_use(session, key, now=now)
    except SQLAlchemyError as exc:  # the pool's timeout included
        log.info("key %s: last use not recorded now (%s)", key.id, type(exc).__name__)


CurrentKey = Annotated[ApiKey, Depends(current_key)]


def require(*roles: Role) -> Callable[[ApiKey], ApiKey]:
    """Admit only keys of these roles; others get 403."""

    def _check(key: CurrentKey) -> ApiKey:
        if key.role not in roles:
            raise Forbidden(f"a {key.role} key may not use this route", code="role_forbidden")
        return key

    return _check


AdminKey = Annotated[ApiKey, Depends(require(Role.admin))]
