"""Structured logs: one JSON object per line, one line per request, nothing personal in them."""

import json
import logging
import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    """Send every log line to stderr as JSON at the given level."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


access_log = logging.getLogger("callsvc.access")


async def log_request(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Log method, route, status and duration; never the query string, which may hold phone numbers."""
    started = time.perf_counter()
    response = await call_next(request)
    route = request.scope.get("route")
    access_log.info(
        "request",
        extra={
            "fields": {
                "method": request.method,
                "path": getattr(route, "path", request.url.path),
                "status": response.status_code,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            }
        },
    )
    return response
