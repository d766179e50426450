"""Apply a normalized event to its call: store the event, re-derive the call's state, say what changed."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from callsvc.calls.events import CallEvent, Direction, ParsedDelivery
from callsvc.calls.models import CallStatus
from callsvc.calls.service import ANSWERED_STATUSES
from callsvc.calls.state import derive_call_state
from callsvc.clock import Clock
from callsvc.settings import Settings
from callsvc.store import CallRow, SentEvent, Store


@dataclass(frozen=True, kw_only=True)
class CallChange:
    """What applying an event did to its call, for whatever must follow in the same transaction."""

    call: CallRow
    previous_status: CallStatus | None  # None: the event created the call

    @property
    def became_answered(self) -> bool:
        """Answered now and not before: a new answer, or a late one turning a missed call around."""
        return self.call.status in ANSWERED_STATUSES and self.previous_status not in ANSWERED_STATUSES

    @property
    def became_missed(self) -> bool:
        return self.call.status == CallStatus.missed and self.previous_status != CallStatus.missed

    @property
    def no_longer_missed(self) -> bool:
        """A late answer event turned a call recorded as missed into an answered one."""
        return self.previous_status == CallStatus.missed and self.call.status != CallStatus.missed


def _new_call(provider: str, event: CallEvent, now: datetime) -> dict[str, object]:
    return {
        "provider": provider,
        "provider_call_id": event.provider_call_id,
        "direction": event.direction or Direction.inbound,
        "status": CallStatus.ringing,
        "started_at": event.occurred_at,
        "needs_outcome": False,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


def apply_events(
    store: Store,
    deliveries: Sequence[tuple[tuple[str, str], ParsedDelivery]],
    *,
    settings: Settings,
    clock: Clock,
) -> list[list[CallChange]]:
    """Add each delivery's events to their calls (creating a call on its first event), re-derive them, say what changed.

    A delivery is given as the provider and dedupe key it was kept under, and its events. Every
    event's statements are sent before any answer is read, so on PostgreSQL the whole batch costs
    one round trip here; the calls' updates go with the commit.
    """
    now = clock.now()
    sent = [
        [
            store.send_event(
                _event_values(event, tie_break=f"{delivery[1]}:{index}"),
                call=_new_call(delivery[0], event, now),
                delivery=delivery,
            )
            for index, event in enumerate(parsed.events)
        ]
        for delivery, parsed in deliveries
    ]
    # A call's row as this transaction has left it: a call met again read its row before the earlier
    # event's update was sent, and must be diffed against what that update made of it.
    calls: dict[int, CallRow] = {}
    return [[_rederive(store, event, calls, settings=settings, clock=clock) for event in events] for events in sent]


def _event_values(event: CallEvent, *, tie_break: str) -> dict[str, object]:
    values = {name: value for name, value in vars(event).items() if name != "provider_call_id"}
    return {**values, "tie_break": tie_break}


def _rederive(
    store: Store, sent: SentEvent, calls: dict[int, CallRow], *, settings: Settings, clock: Clock
) -> CallChange:
    created, call, events = store.read_event(sent)
    call = calls.get(call.id, call)
    state = dict(vars(derive_call_state(events, settings)))
    if call.manager_assigned_by:
        state.pop("manager_id")
    changed = {field: value for field, value in state.items() if _stored(call.values[field]) != _stored(value)}
    if changed:
        # Stamped now that the row lock is held, not when the request arrived: a change must not
        # be dated behind feed cursors that moved on while it waited for the lock.
        changed["updated_at"] = clock.now()
        store.update("call", call.id, changed)
    calls[call.id] = CallRow({**call.values, **changed})
    return CallChange(call=calls[call.id], previous_status=None if created else CallStatus(call.status))


def _stored(value: object) -> object:
    # SQLite gives booleans back as 0 and 1.
    return int(value) if isinstance(value, bool) else value
