"""Apply a normalized event to its call: store the event, re-derive the call's state, say what changed."""

from dataclasses import dataclass
from datetime import datetime

from callsvc.calls.events import CallEvent, Direction
from callsvc.calls.models import CallStatus
from callsvc.calls.service import ANSWERED_STATUSES
from callsvc.calls.state import derive_call_state
from callsvc.clock import Clock
from callsvc.settings import Settings
from callsvc.store import CallRow, Store


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


def apply_event(
    store: Store,
    *,
    delivery: tuple[str, str],
    event: CallEvent,
    tie_break: str,
    settings: Settings,
    clock: Clock,
) -> CallChange:
    """Add one event to its call (creating the call on its first event), re-derive its state, say what changed.

    `delivery` is the provider and dedupe key of the kept delivery the event came in.
    """
    provider = delivery[0]
    event_values = {name: value for name, value in vars(event).items() if name != "provider_call_id"}
    # Concurrent first events of one call all insert it; one wins, and the row lock taken next
    # makes the others wait their turn.
    created, call, events = store.add_event(
        {**event_values, "tie_break": tie_break}, call=_new_call(provider, event, clock.now()), delivery=delivery
    )
    state = dict(vars(derive_call_state(events, settings)))
    if call.manager_assigned_by:
        state.pop("manager_id")
    changed = {field: value for field, value in state.items() if _stored(getattr(call, field)) != _stored(value)}
    if changed:
        # Stamped now that the row lock is held, not when the request arrived: a change must not
        # be dated behind feed cursors that moved on while it waited for the lock.
        changed["updated_at"] = clock.now()
        store.update("call", call.id, changed)
    return CallChange(
        call=CallRow({**call.values, **changed}), previous_status=None if created else CallStatus(call.status)
    )


def _stored(value: object) -> object:
    # SQLite gives booleans back as 0 and 1.
    return int(value) if isinstance(value, bool) else value
