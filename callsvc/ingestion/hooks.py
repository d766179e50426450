"""What follows a call's change, in the transaction that applied the event."""

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from callsvc.calls.service import CallChange
from callsvc.ops import metrics
from callsvc.settings import Settings


def after_apply(session: Session, changes: Sequence[CallChange], *, settings: Settings, now: datetime) -> None:
    """Act on what one delivery's events did to their calls; runs inside the delivery's savepoint."""
    for change in changes:
        if change.became_answered:
            metrics.call_transitions.labels("answered").inc()
        if change.became_missed:
            metrics.call_transitions.labels("missed").inc()
        if change.no_longer_missed:
            metrics.call_transitions.labels("unmissed").inc()
