"""Derive a call's state from the set of its events, whatever order they arrived in."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from callsvc.calls.events import Direction, Disposition, EventKind
from callsvc.calls.models import CallStatus
from callsvc.phone import to_e164
from callsvc.settings import Settings


@dataclass(frozen=True)
class EventFacts:
    """A call's event as stored: what deriving the call's state reads of it."""

    kind: str
    occurred_at: datetime
    seq: int | None
    leg: str | None
    direction: str | None
    from_number: str | None
    to_number: str | None
    identity: str | None
    manager_id: int | None
    disposition: str | None
    talk_seconds: int | None
    recording_url: str | None
    recording_ref: str | None
    missed_call_reason: str | None
    tie_break: str


@dataclass(frozen=True)
class CallState:
    """Every call field that events decide."""

    direction: Direction
    status: CallStatus
    client_number: str | None
    line_number: str | None
    manager_id: int | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    wait_seconds: int | None
    talk_seconds: int | None
    recording_url: str | None
    recording_ref: str | None
    missed_call_reason: str | None
    needs_outcome: bool
    tag_due_at: datetime | None


def _in_order(events: Sequence[EventFacts]) -> list[EventFacts]:
    # SPEC: conflicts are settled by the provider's sequence, then occurred_at. A sequence counts
    # within one leg, so it orders the events only when every one has it and all share a leg;
    # otherwise time decides, and a sequence breaks ties within a second inside its own leg only.
    # The tie-break is the delivery's own key, never arrival order.
    if len({event.leg for event in events}) == 1 and all(event.seq is not None for event in events):
        return sorted(events, key=lambda e: (e.seq, e.occurred_at, e.tie_break))
    return sorted(events, key=lambda e: (e.occurred_at, e.leg or "", e.seq if e.seq is not None else -1, e.tie_break))


# Durations are INTEGER columns; a span longer than one holds (events dated decades apart) is not a real call.
LONGEST_SECONDS = 2**31 - 1


def _seconds(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    seconds = max(0, round((end - start).total_seconds()))
    return seconds if seconds <= LONGEST_SECONDS else None


def _deadline(ended_at: datetime, minutes: float) -> datetime | None:
    try:
        return ended_at + timedelta(minutes=minutes)
    except OverflowError:  # an end dated at the close of year 9999
        return None


def _first(values: list) -> object:
    return next((value for value in values if value is not None), None)


def _last(values: list) -> object:
    return _first(list(reversed(values)))


def _offered_owner(ordered: list[EventFacts]) -> int | None:
    """The manager a missed call was offered to, when it was offered to exactly one person."""
    offered = {
        (event.manager_id, None if event.manager_id else event.identity)
        for event in ordered
        if event.kind in (EventKind.offered, EventKind.started) and event.identity
    }
    if len(offered) != 1:
        return None
    manager_id, _ = offered.pop()
    return manager_id


def _answered_at(answered: list[EventFacts], ended_answered: list[EventFacts]) -> datetime | None:
    """The first answer: the first answer event's time, or an answered end less its talk time if earlier.

    Where a provider dates answers only by when they reach us (Zadarma), the earlier of the two
    is the one no late delivery has pushed back.
    """
    times = [answered[0].occurred_at] if answered else []
    times += [e.occurred_at - timedelta(seconds=e.talk_seconds) for e in ended_answered if e.talk_seconds is not None]
    return min(times, default=None)


def _not_handed_on(answered: list[EventFacts], offered: list[EventFacts]) -> list[EventFacts]:
    """The answers of those who did not hand the call on.

    An offer made from someone who answered the call (its from_number is their identity, as Zadarma's
    transfer_from) is a transfer: they no longer hold it, whenever their answer arrives. When every one of
    them handed it on (a call passed back and forth), order decides among all the answers.
    """
    handed_on = {e.from_number for e in offered} & {e.identity for e in answered}
    return [e for e in answered if e.identity not in handed_on] or answered


def _holder(answered: list[EventFacts], ended_answered: list[EventFacts], offered: list[EventFacts]) -> int | None:
    """Who held the call last: the one an answered end names (Zadarma's last_internal), else whoever answered
    last and did not hand the call on (after a transfer, the one the client was handed to). Even an extension
    no manager has holds it (then nobody owns it). Order is the provider's sequence or time, never arrival, so a
    late retry of an earlier answer changes nothing.
    """
    holders = [e for e in ended_answered if e.identity] or _not_handed_on([e for e in answered if e.identity], offered)
    return holders[-1].manager_id if holders else None


def derive_call_state(events: Sequence[EventFacts], settings: Settings) -> CallState:
    """Fold a call's events into its state; the result depends only on the set of events."""
    ordered = _in_order(events)
    by_kind = {kind: [e for e in ordered if e.kind == kind] for kind in EventKind}
    started, answered, ended = (
        by_kind[EventKind.started],
        by_kind[EventKind.answered],
        by_kind[EventKind.ended],
    )

    direction = Direction(
        _first([e.direction for e in started]) or _first([e.direction for e in ordered]) or Direction.inbound
    )
    numbered = started + [e for e in ordered if e.kind != EventKind.started]
    caller = _first([e.from_number for e in numbered])
    called = _first([e.to_number for e in numbered])
    region = settings.default_region
    if direction is Direction.inbound:
        client_number, line_number = to_e164(caller, region), to_e164(called, region)
    elif direction is Direction.outbound:
        client_number, line_number = to_e164(called, region), to_e164(caller, region)
    else:
        client_number = line_number = None

    ended_answered = [e for e in ended if e.disposition == Disposition.answered]
    is_answered = bool(answered or ended_answered)
    is_ended = bool(ended)
    # Each time from the events that carry it, then held in order: started ≤ answered ≤ ended,
    # so that no late or skewed delivery moves one time past another.
    started_at = min(e.occurred_at for e in started or ordered)
    ended_at = max(started_at, *(e.occurred_at for e in ended)) if ended else None
    # The conversation lasts until the last end that says it was answered (a Twilio agent's leg,
    # not the caller's own leg that may stay on in an IVR), else until the call's end.
    conversation_end = max(ended_answered or ended, key=lambda e: e.occurred_at) if ended else None
    provider_talk = conversation_end.talk_seconds if conversation_end else None
    answered_at = _answered_at(answered, ended_answered)
    if answered_at is not None:
        answered_at = max(answered_at, started_at)
        answered_at = min(answered_at, ended_at) if ended_at else answered_at

    if direction is Direction.inbound:
        if is_answered:
            status = CallStatus.completed if is_ended else CallStatus.in_progress
            manager_id = _holder(answered, ended_answered, by_kind[EventKind.offered])
        else:
            status = CallStatus.missed if is_ended else CallStatus.ringing
            manager_id = _offered_owner(ordered) if is_ended else None
    else:
        if is_answered:
            status = CallStatus.completed if is_ended else CallStatus.in_progress
        else:
            status = CallStatus.failed if is_ended else CallStatus.ringing
        manager_id = _first([e.manager_id for e in started if e.identity]) or _last(
            [e.manager_id for e in answered if e.identity]
        )

    if provider_talk is not None:
        talk_seconds = provider_talk
    else:
        talk_seconds = _seconds(answered_at, conversation_end.occurred_at if conversation_end else None)
    if started:
        wait_seconds = _seconds(started_at, answered_at) if is_answered else _seconds(started_at, ended_at)
    else:
        wait_seconds = None

    needs_outcome = (
        is_answered
        and (direction is Direction.inbound or (direction is Direction.outbound and settings.tag_outbound))
        and (talk_seconds is None or talk_seconds >= settings.min_talk_seconds)
    )
    tag_due_at = _deadline(ended_at, settings.tag_deadline_minutes) if needs_outcome and ended_at else None
    return CallState(
        direction=direction,
        status=status,
        client_number=client_number,
        line_number=line_number,
        manager_id=manager_id,
        started_at=started_at,
        answered_at=answered_at,
        ended_at=ended_at,
        wait_seconds=wait_seconds,
        talk_seconds=talk_seconds,
        recording_url=_last([e.recording_url for e in ordered]),
        recording_ref=_last([e.recording_ref for e in ordered]),
        missed_call_reason=_last([e.missed_call_reason for e in ordered]),
        needs_outcome=needs_outcome,
        tag_due_at=tag_due_at,
    )
