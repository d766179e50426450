"""Import every table module, so that SQLModel.metadata holds the whole schema."""

from callsvc.auth.models import ApiKey
from callsvc.calls.models import Call, CallEventRecord
from callsvc.ingestion.models import ProviderEvent
from callsvc.managers.models import Manager, ManagerIdentity
from callsvc.outcomes.models import Outcome, OutcomeChange

__all__ = [
    "ApiKey",
    "Call",
    "CallEventRecord",
    "Manager",
    "ManagerIdentity",
    "Outcome",
    "OutcomeChange",
    "ProviderEvent",
]
