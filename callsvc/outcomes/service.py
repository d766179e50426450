"""The outcome catalogue, tagging calls, the pending-outcome queue and the gate."""

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlmodel import Session, col

from callsvc.auth import service as auth_service
from callsvc.auth.models import ApiKey, Role
from callsvc.auth.scope import visible_managers
from callsvc.calls.models import IS_PENDING, Call
from callsvc.calls.service import ANSWERED_STATUSES, etag
from callsvc.clock import Clock
from callsvc.errors import Conflict, Forbidden, Invalid, NotFound, PreconditionFailed
from callsvc.managers.models import Manager
from callsvc.outcomes.models import Outcome, OutcomeChange
from callsvc.outcomes.schemas import Gate, OutcomeCreate, OutcomeUpdate, RecentCall, TagRequest
from callsvc.settings import Settings

# Waiting for an outcome and ended (tag_due_at is set from the end time of a call that needs one).
PENDING = and_(IS_PENDING, col(Call.tag_due_at).is_not(None))
RECENT_CALLS = 5


def list_outcomes(session: Session, *, active: bool | None) -> list[Outcome]:
    """List the catalogue by code, optionally only active or only inactive codes."""
    query = select(Outcome).order_by(Outcome.code)
    if active is not None:
        query = query.where(col(Outcome.active).is_(active))
    return list(session.exec(query).scalars())


def get_outcome(session: Session, code: str) -> Outcome:
    """Return the outcome or raise 404."""
    outcome = session.get(Outcome, code)
    if outcome is None:
        raise NotFound(f"outcome {code!r} does not exist", code="outcome_not_found")
    return outcome


def create_outcome(session: Session, *, data: OutcomeCreate) -> Outcome:
    """Add a code to the catalogue."""
    if session.get(Outcome, data.code) is not None:
        raise Conflict(f"outcome {data.code!r} already exists", code="outcome_exists")
    outcome = Outcome.model_validate(data)
    session.add(outcome)
    session.flush()
    return outcome


def update_outcome(session: Session, *, outcome: Outcome, data: OutcomeUpdate) -> Outcome:
    """Change a code's label or rules, or deactivate it; the code itself never changes."""
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(outcome, field, value)
    session.add(outcome)
    session.flush()
    return outcome


def _talk_so_far(call: Call, now: datetime) -> int:
    if call.talk_seconds is not None:
        return call.talk_seconds
    # A call may be tagged while it is still going on; its talk so far is what counts.
    return max(0, int((now - call.answered_at).total_seconds())) if call.answered_at else 0


def _validate_tag(session: Session, *, call: Call, request: TagRequest, note: str | None, now: datetime) -> None:
    if call.status not in ANSWERED_STATUSES:
        raise Invalid(f"call {call.id} was not answered; only answered calls take an outcome", code="call_not_answered")
    outcome = session.get(Outcome, request.outcome)
    if outcome is None:
        raise Invalid(f"outcome {request.outcome!r} is not in the catalogue", code="unknown_outcome", field="outcome")
    if not outcome.active:
        raise Invalid(f"outcome {request.outcome!r} is no longer in use", code="inactive_outcome", field="outcome")
    if outcome.requires_note and note is None:
        raise Invalid(f"outcome {outcome.code!r} needs a note", code="note_required", field="note")
    if outcome.requires_follow_up and request.follow_up_at is None:
        raise Invalid(f"outcome {outcome.code!r} needs a follow_up_at", code="follow_up_required", field="follow_up_at")
    if request.follow_up_at is not None and request.follow_up_at <= now:
        raise Invalid("follow_up_at is in the past", code="follow_up_in_past", field="follow_up_at")
    if _talk_so_far(call, now) < outcome.min_talk_seconds:
        raise Invalid(
            f"outcome {outcome.code!r} needs at least {outcome.min_talk_seconds} seconds of talk",
            code="talk_too_short",
            field="outcome",
        )


def _check_if_match(call: Call, if_match: str | None) -> None:
    if if_match is None:
        return
    tags = {tag.strip() for tag in if_match.split(",")}
    if "*" not in tags and etag(call) not in tags:
        raise PreconditionFailed(
            f"the call's outcome changed since it was read; its ETag is now {etag(call)}", code="etag_mismatch"
        )


def _set_by_this_rep(session: Session, call: Call, key: ApiKey) -> bool:
    last = session.exec(
        select(ApiKey)
        .join(OutcomeChange, col(OutcomeChange.key_id) == col(ApiKey.id))
        .where(col(OutcomeChange.call_id) == call.id)
        .order_by(col(OutcomeChange.at).desc(), col(OutcomeChange.id).desc())
        .limit(1)
    ).scalar_one_or_none()
    return last is not None and last.role == Role.rep and last.manager_id == key.manager_id


def _check_retag(
    session: Session, call: Call, *, key: ApiKey, reason: str | None, settings: Settings, now: datetime
) -> None:
    if call.outcome is None:
        return
    if key.role == Role.rep and not _set_by_this_rep(session, call, key):
        # A rep changes its own tag only: a supervisor's correction is not the rep's to undo.
        raise Forbidden(
            "this outcome was set by a supervisor or an admin; ask them to change it", code="retag_forbidden"
        )
    if now < call.tagged_at + timedelta(minutes=settings.retag_window_minutes):
        return
    if key.role == Role.rep:
        raise Forbidden(
            f"a rep may change a tag for {settings.retag_window_minutes} minutes after the first one; ask a supervisor",
            code="retag_window_closed",
        )
    if reason is None:
        raise Invalid(
            "changing an outcome after the retag window needs a reason", code="reason_required", field="reason"
        )


def tag_call(
    session: Session,
    *,
    call: Call,
    request: TagRequest,
    key: ApiKey,
    if_match: str | None,
    settings: Settings,
    clock: Clock,
) -> Call:
    """Tag a call with an outcome and record the change; the same tag again changes nothing."""
    # The row lock makes reading the version, checking If-Match and bumping it one step.
    session.refresh(call, with_for_update=True)
    # Read once the lock is held, so the change is not dated behind feed cursors that moved on meanwhile.
    now = clock.now()
    note = (request.note or "").strip() or None
    if (call.outcome, call.outcome_note, call.follow_up_at) == (request.outcome, note, request.follow_up_at):
        # Already so: a retried request succeeds even though its If-Match names the version before it.
        return call
    _validate_tag(session, call=call, request=request, note=note, now=now)
    _check_if_match(call, if_match)
    reason = (request.reason or "").strip() or None
    _check_retag(session, call, key=key, reason=reason, settings=settings, now=now)
    actor = auth_service.describe_key(session, key)
    session.add(
        OutcomeChange(
            call_id=call.id,
            outcome=request.outcome,
            previous=call.outcome,
            note=note,
            follow_up_at=request.follow_up_at,
            reason=reason,
            key_id=key.id,
            actor=actor,
            at=now,
        )
    )
    call.outcome, call.outcome_note, call.follow_up_at = request.outcome, note, request.follow_up_at
    # tagged_at keeps the first tag: the retag window and the tagging delay both count from it.
    call.tagged_at = call.tagged_at or now
    call.tagged_by = actor[:200]  # the column's width; the history keeps the whole name
    call.version += 1
    call.updated_at = now
    session.add(call)
    session.flush()
    return call


def list_pending(session: Session, *, actor: ApiKey, after: tuple[datetime, int] | None, limit: int) -> list[Call]:
    """The pending-outcome queue: ended calls that need an outcome and have none, oldest end first."""
    query = select(Call).where(visible_managers(actor, Call.manager_id), PENDING)
    if after is not None:
        ended_at, call_id = after
        query = query.where(
            or_(col(Call.ended_at) > ended_at, and_(col(Call.ended_at) == ended_at, col(Call.id) > call_id))
        )
    return list(session.exec(query.order_by(col(Call.ended_at), col(Call.id)).limit(limit)).scalars())


def recent_calls(session: Session, calls: list[Call]) -> dict[int, list[RecentCall]]:
    """Each call's client's latest other calls, company-wide, newest first, in one query."""
    numbers = {call.client_number for call in calls if call.client_number}
    if not numbers:
        return {call.id: [] for call in calls}
    rank = func.row_number().over(
        partition_by=col(Call.client_number), order_by=(col(Call.started_at).desc(), col(Call.id).desc())
    )
    ranked = (
        select(
            Call.id,
            Call.client_number,
            Call.started_at,
            Call.direction,
            Call.status,
            Call.manager_id,
            col(Manager.name).label("manager_name"),
            Call.outcome,
            rank.label("rank"),
        )
        .outerjoin(Manager, col(Manager.id) == col(Call.manager_id))
        .where(col(Call.client_number).in_(numbers))
        .subquery()
    )
    # One more than shown, since a call's own row is among its client's latest.
    rows = session.execute(select(ranked).where(ranked.c.rank <= RECENT_CALLS + 1).order_by(ranked.c.rank))
    by_number: dict[str, list[RecentCall]] = defaultdict(list)
    for row in rows.mappings():
        by_number[row["client_number"]].append(RecentCall.model_validate(dict(row)))
    return {
        call.id: [recent for recent in by_number[call.client_number] if recent.id != call.id][:RECENT_CALLS]
        if call.client_number
        else []
        for call in calls
    }


def count_pending(session: Session, *, now: datetime, manager_id: int | None = None) -> tuple[int, int]:
    """Count pending and overdue calls, of one manager or of the whole company, in one indexed query."""
    query = select(func.count(), func.count(case((col(Call.tag_due_at) <= now, 1)))).where(PENDING)
    if manager_id is not None:
        query = query.where(col(Call.manager_id) == manager_id)
    pending, overdue = session.execute(query).one()
    return pending, overdue


def gate(session: Session, *, manager_id: int, settings: Settings, now: datetime) -> Gate:
    """A manager's pending and overdue calls; blocked past the allowed overdue."""
    pending, overdue = count_pending(session, now=now, manager_id=manager_id)
    return Gate(blocked=overdue > settings.gate_max_overdue, overdue=overdue, pending=pending)
