"""Apply a normalized event to its call: store the event, re-derive the call's state, say what changed."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from callsvc.calls.events import CallEvent, Direction, ParsedDelivery
from callsvc.calls.models import CallStatus
from callsvc.calls.service import ANSWERED_STATUSES
from callsvc.calls.state import CallState, EventFacts, derive_call_state
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


@dataclass(frozen=True)
class KeptDelivery:
    """A delivery kept in the database (its row id, provider and dedupe key) and the events read from it."""

    id: int
    provider: str
    dedupe_key: str
    parsed: ParsedDelivery


def apply_events(
    store: Store, deliveries: Sequence[KeptDelivery], *, settings: Settings, clock: Clock
) -> list[list[CallChange]]:
    """Add each delivery's events to their calls (creating a call on its first event), re-derive them, say what changed.

    One statement creates or locks every call, one stores every event and one reads the calls'
    events back: on PostgreSQL, one round trip for the whole batch. Each event is then applied in
    turn, so each change says what that event did; each call is updated once, to where the last
    of its events left it.
    """
    now = clock.now()
    new_calls: dict[tuple[str, str], dict[str, object]] = {}
    rows = []
    for kept in deliveries:
        for index, event in enumerate(kept.parsed.events):
            new_calls.setdefault((kept.provider, event.provider_call_id), _new_call(kept.provider, event, now))
            rows.append(
                {
                    **{name: value for name, value in vars(event).items() if name != "provider_call_id"},
                    "tie_break": _tie_break(kept, index),
                    "provider_event_id": kept.id,
                    "call_provider": kept.provider,
                    "call_id": event.provider_call_id,
                }
            )
    if not rows:
        return [[] for _ in deliveries]
    before, stored = store.read_events(store.send_events(list(new_calls.values()), rows))
    # Stamped once the row locks are held, not when the requests arrived: a change must not be
    # dated behind feed cursors that moved on while it waited for a lock.
    changed_at = clock.now()
    in_batch = {kept.id for kept in deliveries}
    # Each call's events from before this batch; this batch's are added one by one, in its order.
    facts = {
        call_id: [fact for fact, delivery in events if delivery not in in_batch] for call_id, events in stored.items()
    }
    arriving = {
        (delivery, fact.tie_break): fact
        for events in stored.values()
        for fact, delivery in events
        if delivery in in_batch
    }
    calls = dict(before)
    changes = []
    for kept in deliveries:
        done = []
        for index, event in enumerate(kept.parsed.events):
            key = (kept.provider, event.provider_call_id)
            call = calls[key]
            facts[call.id].append(arriving[(kept.id, _tie_break(kept, index))])
            calls[key] = _rederive(call, facts[call.id], settings=settings, changed_at=changed_at)
            created = len(facts[call.id]) == 1
            done.append(CallChange(call=calls[key], previous_status=None if created else CallStatus(call.status)))
        changes.append(done)
    updates = {
        call.id: _changed(before[key].values, {field: call.values[field] for field in _DERIVED})
        for key, call in calls.items()
    }
    store.update_each("call", {call_id: changed for call_id, changed in updates.items() if changed})
    return changes


def _tie_break(kept: KeptDelivery, index: int) -> str:
    return f"{kept.dedupe_key}:{index}"


def _rederive(call: CallRow, events: list[EventFacts], *, settings: Settings, changed_at: datetime) -> CallRow:
    """The call once these are all its events."""
    state = dict(vars(derive_call_state(events, settings)))
    if call.manager_assigned_by:
        state.pop("manager_id")
    changed = _changed(call.values, state)
    if changed:
        changed["updated_at"] = changed_at
    return CallRow({**call.values, **changed})


# What applying events may change of a call.
_DERIVED = (*(field.name for field in fields(CallState)), "updated_at")


def _changed(old: Mapping[str, object], new: Mapping[str, object]) -> dict[str, object]:
    # SQLite gives booleans back as 0 and 1, which compare equal to False and True.
    return {field: value for field, value in new.items() if old[field] != value}
