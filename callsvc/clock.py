"""One notion of "now" in UTC, shared by routes and jobs and frozen by tests."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request


class Clock:
    """The wall clock; tests substitute a frozen one."""

    def now(self) -> datetime:
        return datetime.now(UTC)


async def get_clock(request: Request) -> Clock:
    """Return the app's clock."""
    return request.app.state.clock


ClockDep = Annotated[Clock, Depends(get_clock)]
