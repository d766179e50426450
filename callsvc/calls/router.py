"""/v1/calls: the change feed, one call, and assigning a call."""

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Response

from callsvc.api import Day, Instant, RowId, TimeZoneDep
from callsvc.auth.dependencies import AdminKey, CurrentKey
from callsvc.calls import service
from callsvc.calls.dependencies import CallFromPath, DeliveryLogDep
from callsvc.calls.events import Direction
from callsvc.calls.models import CallStatus
from callsvc.calls.schemas import CallAssign, CallDetail, CallRead
from callsvc.clock import ClockDep
from callsvc.db import SessionDep
from callsvc.errors import Forbidden, NotFound, error_responses
from callsvc.pagination import Page, PageParams, make_page
from callsvc.routing import api_router
from callsvc.settings import SettingsDep

router = api_router(prefix="/v1/calls", tags=["calls"])


def call_filter(
    tz: TimeZoneDep,
    updated_since: Instant | None = None,
    started_from: Day | None = None,
    started_to: Day | None = None,
    manager: RowId | None = None,
    team: str | None = None,
    line: str | None = None,
    direction: Direction | None = None,
    status: CallStatus | None = None,
    outcome: str | None = None,
    needs_outcome: bool | None = None,
    unassigned: bool | None = None,
    stale: bool | None = None,
) -> service.CallFilter:
    """Collect the feed's filters from the query string."""
    return service.CallFilter(
        updated_since=updated_since,
        started_from=started_from,
        started_to=started_to,
        tz=tz,
        manager=manager,
        team=team,
        line=line,
        direction=direction,
        status=status,
        outcome=outcome,
        needs_outcome=needs_outcome,
        unassigned=unassigned,
        stale=stale,
    )


@router.get("", response_model=Page[CallRead])
def list_calls(
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    key: CurrentKey,
    filters: Annotated[service.CallFilter, Depends(call_filter)],
    page: PageParams,
) -> Page[CallRead]:
    """The change feed: every call the key may see, by (updated_at, id); a changed call comes again."""
    now = clock.now()
    rows = service.list_calls(
        session,
        filters=filters,
        actor=key,
        after=page.after(datetime, int),
        limit=page.limit,
        settings=settings,
        now=now,
    )
    return make_page(
        rows,
        limit=page.limit,
        position=lambda call: (call.updated_at, call.id),
        to_item=lambda call: service.to_read(call, settings=settings, now=now),
    )


@router.get("/{call_id}", response_model=CallDetail, responses=error_responses(NotFound))
def get_call(
    key: CurrentKey,
    call: CallFromPath,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    delivery_log: DeliveryLogDep,
) -> CallDetail:
    """One call with its outcome history and the raw deliveries it was built from; its ETag in the header."""
    response.headers["ETag"] = service.etag(call)
    deliveries = delivery_log(session, call)
    return service.to_detail(session, call, deliveries=deliveries, actor=key, settings=settings, now=clock.now())


@router.patch(
    "/{call_id}",
    response_model=CallRead,
    responses=error_responses(Forbidden, NotFound),
)
def assign_call(
    key: AdminKey, call: CallFromPath, data: CallAssign, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> CallRead:
    """Give a call (typically an unassigned one) to a manager."""
    # The role is checked first (key before call): a crm key gets 403 whether or not the call exists.
    now = clock.now()
    service.assign_manager(session, call=call, manager_id=data.manager_id, actor=f"key:{key.id}", now=now)
    return service.to_read(call, settings=settings, now=now)
