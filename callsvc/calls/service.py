"""Apply normalized events to calls, and read calls back: one call, the change feed, assignment."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, or_, select
from sqlmodel import Session, col

from callsvc.auth.models import ApiKey, Role
from callsvc.auth.scope import visible_managers
from callsvc.calls.events import Direction
from callsvc.calls.models import Call, CallStatus
from callsvc.calls.schemas import CallDetail, CallEventRead, CallRead, OutcomeChangeRead
from callsvc.errors import Invalid, NotFound
from callsvc.managers.models import Manager
from callsvc.outcomes.models import OutcomeChange
from callsvc.settings import Settings

OPEN_STATUSES = (CallStatus.ringing, CallStatus.in_progress)
ANSWERED_STATUSES = (CallStatus.in_progress, CallStatus.completed)


def is_stale(call: Call, *, settings: Settings, now: datetime) -> bool:
    """A call with no end event long after it started."""
    return call.status in OPEN_STATUSES and call.started_at < now - timedelta(hours=settings.stale_call_hours)


def is_overdue(call: Call, *, now: datetime) -> bool:
    """An answered call still untagged past its deadline."""
    return call.needs_outcome and call.outcome is None and call.tag_due_at is not None and call.tag_due_at <= now


def to_read(call: Call, *, settings: Settings, now: datetime) -> CallRead:
    """Show a call with its flags computed against the clock."""
    return CallRead.model_validate(
        call,
        update={
            "overdue": is_overdue(call, now=now),
            "stale": is_stale(call, settings=settings, now=now),
            "etag": etag(call),
        },
    )


def etag(call: Call) -> str:
    """The call's strong entity tag, from the version only outcome changes bump."""
    return f'"{call.version}"'


def get_visible_call(session: Session, *, call_id: int, actor: ApiKey) -> Call:
    """Return the call if the caller may see it; 404 exactly as for a call that does not exist."""
    query = select(Call).where(Call.id == call_id, visible_managers(actor, Call.manager_id))
    call = session.exec(query).scalars().first()
    if call is None:
        raise NotFound(f"call {call_id} does not exist", code="call_not_found")
    return call


def to_detail(
    session: Session,
    call: Call,
    *,
    deliveries: list[CallEventRead],
    actor: ApiKey,
    settings: Settings,
    now: datetime,
) -> CallDetail:
    """Show a call with its outcome history, oldest change first, and the raw deliveries it was built from."""
    if actor.role != Role.admin:
        # A delivery's error may quote the SQL that failed on it: that is for admins, who replay it.
        deliveries = [delivery.model_copy(update={"error": None}) for delivery in deliveries]
    history = session.exec(
        select(OutcomeChange).where(OutcomeChange.call_id == call.id).order_by(OutcomeChange.at, OutcomeChange.id)
    ).scalars()
    return CallDetail(
        **to_read(call, settings=settings, now=now).model_dump(),
        outcome_history=[OutcomeChangeRead.model_validate(change) for change in history],
        events=deliveries,
    )


@dataclass(frozen=True, kw_only=True)
class CallFilter:
    """The feed's filters; None means "any"."""

    updated_since: datetime | None = None
    started_from: date | None = None
    started_to: date | None = None
    tz: str = "UTC"
    manager: int | None = None
    team: str | None = None
    line: str | None = None
    direction: Direction | None = None
    status: CallStatus | None = None
    outcome: str | None = None
    needs_outcome: bool | None = None
    unassigned: bool | None = None
    stale: bool | None = None


def day_start(day: date, tz: str) -> datetime:
    """The UTC instant a calendar day begins in a time zone."""
    return datetime.combine(day, time(), ZoneInfo(tz)).astimezone(UTC)


def _conditions(filters: CallFilter, *, settings: Settings, now: datetime) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.updated_since is not None:
        conditions.append(col(Call.updated_at) >= filters.updated_since)
    if filters.started_from is not None:
        conditions.append(col(Call.started_at) >= day_start(filters.started_from, filters.tz))
    if filters.started_to is not None:
        conditions.append(col(Call.started_at) < day_start(filters.started_to + timedelta(days=1), filters.tz))
    if filters.manager is not None:
        conditions.append(col(Call.manager_id) == filters.manager)
    if filters.team is not None:
        conditions.append(col(Call.manager_id).in_(select(Manager.id).where(Manager.team == filters.team)))
    for field in ("direction", "status", "outcome", "needs_outcome"):
        value = getattr(filters, field)
        if value is not None:
            conditions.append(getattr(Call, field) == value)
    if filters.line is not None:
        conditions.append(col(Call.line_number) == filters.line)
    if filters.unassigned is not None:
        unassigned = col(Call.manager_id).is_(None)
        conditions.append(unassigned if filters.unassigned else ~unassigned)
    if filters.stale is not None:
        stale = and_(
            col(Call.status).in_(OPEN_STATUSES),
            col(Call.started_at) < now - timedelta(hours=settings.stale_call_hours),
        )
        conditions.append(stale if filters.stale else ~stale)
    return conditions


def list_calls(
    session: Session,
    *,
    filters: CallFilter,
    actor: ApiKey,
    after: tuple[datetime, int] | None,
    limit: int,
    settings: Settings,
    now: datetime,
) -> list[Call]:
    """The change feed: calls ordered by (updated_at, id), holding back changes younger than the settle time.

    A change committed late is stamped before it becomes visible; holding back the newest
    changes lets it commit before any reader's cursor passes its position.
    """
    settled_before = now - timedelta(seconds=settings.feed_settle_seconds)
    query = select(Call).where(
        visible_managers(actor, Call.manager_id),
        col(Call.updated_at) <= settled_before,
        *_conditions(filters, settings=settings, now=now),
    )
    if after is not None:
        updated_at, call_id = after
        query = query.where(
            or_(
                col(Call.updated_at) > updated_at,
                and_(col(Call.updated_at) == updated_at, col(Call.id) > call_id),
            )
        )
    query = query.order_by(col(Call.updated_at), col(Call.id)).limit(limit)
    return list(session.exec(query).scalars())


def assign_manager(session: Session, *, call: Call, manager_id: int, actor: str, now: datetime) -> Call:
    """Give a call to a manager by hand; later events no longer change who owns it."""
    if session.get(Manager, manager_id) is None:
        raise Invalid(f"manager {manager_id} does not exist", code="manager_not_found", field="manager_id")
    if call.manager_id != manager_id or call.manager_assigned_by is None:
        call.manager_id = manager_id
        call.manager_assigned_by = actor
        call.updated_at = now
        session.add(call)
        session.flush()
    return call
