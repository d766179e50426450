"""The one error hierarchy and the handlers that render every error as {"detail", "code"}."""

import logging
import sqlite3
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, PendingRollbackError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from callsvc.db import is_transient

log = logging.getLogger(__name__)


class ErrorRead(BaseModel):
    """The body of every error answer."""

    detail: str
    code: str
    field: str | None = None


class CallsvcError(Exception):
    """A failure with an HTTP status and a stable snake_case code."""

    status_code = 400
    code = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None, field: str | None = None):
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.field = field

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"detail": self.detail, "code": self.code}
        if self.field:
            body["field"] = self.field
        return body


class Unauthorized(CallsvcError):
    status_code = 401
    code = "unauthorized"


class Forbidden(CallsvcError):
    status_code = 403
    code = "forbidden"


class NotFound(CallsvcError):
    status_code = 404
    code = "not_found"


class Conflict(CallsvcError):
    status_code = 409
    code = "conflict"


class PreconditionFailed(CallsvcError):
    status_code = 412
    code = "precondition_failed"


class ContentTooLarge(CallsvcError):
    """A request body over CALLSVC_MAX_BODY_BYTES, refused before it is read further."""

    status_code = 413
    code = "body_too_large"


class BodyReadTimeout(CallsvcError):
    """A request body still arriving CALLSVC_BODY_READ_TIMEOUT_SECONDS after its reading began."""

    status_code = 408
    code = "body_read_timeout"


RETRY_AFTER_SECONDS = "5"


class DatabaseUnavailable(CallsvcError):
    """The database is away, overloaded or timed out: nothing was kept, so the sender should try again."""

    status_code = 503
    code = "database_unavailable"


class Invalid(CallsvcError):
    status_code = 422
    code = "invalid"


def error_responses(*errors: type[CallsvcError]) -> dict[int | str, dict[str, Any]]:
    """Describe the errors a route may answer, for its `responses=`."""
    return {error.status_code: {"model": ErrorRead, "description": error.__name__} for error in errors}


def field_path(location: tuple[Any, ...] | list[Any]) -> str:
    """Render a pydantic error location as a dotted path."""
    return ".".join(str(part) for part in location)


def _render(status_code: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status_code, content=body, headers=headers)


async def _callsvc_error(_: Request, exc: CallsvcError) -> JSONResponse:
    headers = None
    if isinstance(exc, Unauthorized):
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(exc, DatabaseUnavailable):
        headers = {"Retry-After": RETRY_AFTER_SECONDS}
    return _render(exc.status_code, exc.to_body(), headers)


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0]
    field = field_path(first.get("loc", ()))
    detail = f"{field}: {first.get('msg', 'is invalid')}" if field else first.get("msg", "invalid request")
    return _render(422, {"detail": detail, "code": "invalid_request", "field": field or None})


async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    codes = {
        404: "not_found",
        405: "method_not_allowed",
        401: "unauthorized",
        403: "forbidden",
        408: "body_read_timeout",
        413: "body_too_large",
    }
    code = codes.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else "request failed"
    return _render(exc.status_code, {"detail": detail, "code": code}, getattr(exc, "headers", None))


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    # PendingRollbackError: the connection broke inside the request's transaction.
    if not (isinstance(exc, PoolTimeout | PendingRollbackError) or is_transient(exc)):
        return await _unexpected_error(request, exc)
    log.warning("database unavailable: %s", type(exc).__name__)
    error = DatabaseUnavailable("the database did not answer in time; nothing was changed, try again shortly")
    return _render(error.status_code, error.to_body(), {"Retry-After": RETRY_AFTER_SECONDS})


async def _client_gone(_: Request, __: ClientDisconnect) -> JSONResponse:
    # The sender hung up before its body arrived: nobody reads this answer, and it is no fault of ours.
    log.info("client disconnected before its request body arrived")
    return _render(400, {"detail": "the client hung up before sending its whole body", "code": "client_disconnected"})


async def _unexpected_error(_: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled %s", type(exc).__name__)
    return _render(500, {"detail": "the server failed to answer this request", "code": "internal_error"})


def install_error_handlers(app: FastAPI) -> None:
    """Render every error as {"detail", "code"}, an unexpected one included."""
    app.add_exception_handler(CallsvcError, _callsvc_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    # The ingest path speaks to the drivers directly: their own errors, unwrapped.
    app.add_exception_handler(sqlite3.Error, _database_error)
    app.add_exception_handler(psycopg.Error, _database_error)
    app.add_exception_handler(PoolTimeout, _database_error)
    app.add_exception_handler(PendingRollbackError, _database_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected_error)
