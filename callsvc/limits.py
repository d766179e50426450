"""Request body limits: a size cap and a deadline for reading the body, before any route sees it."""

import asyncio

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Closing the connection stops the server reading, and throwing away, whatever the client still sends:
# the rest of a body declared at gigabytes, or bytes trickled in for as long as the client likes.
CLOSE = {"Connection": "close"}


# Starlette's HTTPException, not CallsvcError: FastAPI turns any other exception raised while it
# reads a JSON body into a 400, and lets this one through to the error handler.
class BodyTooLarge(StarletteHTTPException):
    """The body passed CALLSVC_MAX_BODY_BYTES."""

    def __init__(self, limit: int):
        super().__init__(413, f"the request body is larger than {limit} bytes", CLOSE)


class BodyReadTimeout(StarletteHTTPException):
    """The body did not arrive within CALLSVC_BODY_READ_TIMEOUT_SECONDS."""

    def __init__(self, seconds: float):
        super().__init__(408, f"the request body took longer than {seconds:g} s to arrive", CLOSE)


class BodyLimitMiddleware:
    """Refuse a declared oversize body at once, and cut off one that grows past the cap or arrives too slowly."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, read_timeout_seconds: float):
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout_seconds = read_timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            error = BodyTooLarge(self.max_bytes)
            response = JSONResponse({"detail": error.detail, "code": "body_too_large"}, 413, error.headers)
            await response(scope, receive, send)
            return
        await self.app(scope, self._limited(receive), send)

    def _limited(self, receive: Receive) -> Receive:
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        received = 0
        body_done = False

        async def limited_receive() -> Message:
            nonlocal deadline, received, body_done
            if body_done:
                # After the body, receive only waits for a disconnect, which has no deadline.
                return await receive()
            if deadline is None:
                deadline = loop.time() + self.read_timeout_seconds
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyReadTimeout(self.read_timeout_seconds) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
                body_done = not message.get("more_body", False)
            return message

        return limited_receive


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
