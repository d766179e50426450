"""What follows a call's change, in the transaction that applied the event."""

from collections.abc import Sequence
from datetime import datetime

from callsvc.calls.apply import CallChange
from callsvc.ops import metrics
from callsvc.settings import Settings
from callsvc.store import Store


def after_apply(store: Store, changes: Sequence[CallChange], *, settings: Settings, now: datetime) -> None:
    """Act on what applied events did to their calls, each change in the order applied; runs in their transaction."""
    for change in changes:
        if change.became_answered:
            metrics.call_transitions.labels("answered").inc()
        if change.became_missed:
            metrics.call_transitions.labels("missed").inc()
        if change.no_longer_missed:
            metrics.call_transitions.labels("unmissed").inc()
