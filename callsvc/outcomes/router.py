"""/v1/outcomes, /v1/queue, tagging a call, and a manager's gate."""

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Response

from callsvc.auth.dependencies import AdminKey, CurrentKey, require
from callsvc.auth.models import ApiKey, Role
from callsvc.calls import service as calls_service
from callsvc.calls.dependencies import CallFromPath
from callsvc.calls.schemas import CallRead
from callsvc.clock import ClockDep
from callsvc.db import SessionDep
from callsvc.errors import Conflict, Forbidden, NotFound, PreconditionFailed, error_responses
from callsvc.managers.dependencies import ManagerFromPath
from callsvc.outcomes import service
from callsvc.outcomes.models import Outcome
from callsvc.outcomes.schemas import Gate, OutcomeCreate, OutcomeRead, OutcomeUpdate, QueueItem, TagRequest
from callsvc.pagination import Page, PageParams, make_page
from callsvc.routing import api_router
from callsvc.settings import SettingsDep

router = api_router()

TaggerKey = Annotated[ApiKey, Depends(require(Role.admin, Role.supervisor, Role.rep))]


@router.get("/v1/outcomes", tags=["outcomes"], response_model=Page[OutcomeRead])
def list_outcomes(session: SessionDep, _: CurrentKey, active: bool | None = None) -> Page[OutcomeRead]:
    """The outcome catalogue, inactive codes included unless `active` says otherwise."""
    outcomes = service.list_outcomes(session, active=active)
    return Page(items=[OutcomeRead.model_validate(outcome) for outcome in outcomes], next_cursor=None)


@router.get(
    "/v1/outcomes/{code}",
    tags=["outcomes"],
    response_model=OutcomeRead,
    responses=error_responses(NotFound),
)
def get_outcome(code: str, session: SessionDep, _: CurrentKey) -> Outcome:
    """Show one outcome code."""
    return service.get_outcome(session, code)


@router.post(
    "/v1/outcomes",
    tags=["outcomes"],
    status_code=201,
    response_model=OutcomeRead,
    responses=error_responses(Forbidden, Conflict),
)
def create_outcome(data: OutcomeCreate, session: SessionDep, _: AdminKey) -> Outcome:
    """Add an outcome code to the catalogue."""
    return service.create_outcome(session, data=data)


@router.patch(
    "/v1/outcomes/{code}",
    tags=["outcomes"],
    response_model=OutcomeRead,
    responses=error_responses(Forbidden, NotFound),
)
def update_outcome(code: str, data: OutcomeUpdate, session: SessionDep, _: AdminKey) -> Outcome:
    """Change an outcome's label or rules, or deactivate it with `active: false`."""
    return service.update_outcome(session, outcome=service.get_outcome(session, code), data=data)


@router.get("/v1/queue", tags=["queue"], response_model=Page[QueueItem])
def list_queue(
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    key: CurrentKey,
    page: PageParams,
) -> Page[QueueItem]:
    """The calls waiting for an outcome that the key may see, oldest end first, with the client's recent calls."""
    now = clock.now()
    calls = service.list_pending(session, actor=key, after=page.after(datetime, int), limit=page.limit)
    recent = service.recent_calls(session, calls)
    return make_page(
        calls,
        limit=page.limit,
        position=lambda call: (call.ended_at, call.id),
        to_item=lambda call: QueueItem(
            **calls_service.to_read(call, settings=settings, now=now).model_dump(), recent_calls=recent[call.id]
        ),
    )


@router.post(
    "/v1/calls/{call_id}/outcome",
    tags=["calls"],
    response_model=CallRead,
    responses=error_responses(Forbidden, NotFound, PreconditionFailed),
)
def tag_call(
    data: TagRequest,
    key: TaggerKey,
    call: CallFromPath,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    if_match: Annotated[str | None, Header(description="The call's ETag as read; 412 if it has changed since")] = None,
) -> CallRead:
    """Tag a call with an outcome; the same outcome and note again change nothing."""
    service.tag_call(session, call=call, request=data, key=key, if_match=if_match, settings=settings, clock=clock)
    response.headers["ETag"] = calls_service.etag(call)
    return calls_service.to_read(call, settings=settings, now=clock.now())


@router.get(
    "/v1/managers/{manager_id}/gate",
    tags=["managers"],
    response_model=Gate,
    responses=error_responses(NotFound),
)
def get_gate(manager: ManagerFromPath, session: SessionDep, settings: SettingsDep, clock: ClockDep) -> Gate:
    """Whether a manager is blocked by overdue untagged calls, for routing scripts and CRM widgets."""
    return service.gate(session, manager_id=manager.id, settings=settings, now=clock.now())
