"""A sales floor for outcome tests: two teams, a key for every role, the clock just after the calls end."""

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from callsvc.auth.models import Role
from tests.factories import create_key, create_manager

# answered_call() ends a 60-second call at 10:01:05; its outcome is due at 10:11:05.
AFTER_CALLS = datetime(2026, 11, 22, 10, 5, tzinfo=UTC)


@pytest.fixture
def clock(clock):
    clock.current = AFTER_CALLS
    return clock


@dataclass
class Floor:
    anna: int
    boris: int
    carl: int
    keys: dict[str, dict[str, str]]


@pytest.fixture
def floor(session) -> Floor:
    """Anna (ext 101) and Boris (102) in team north, Carl (201) in south, and a key per role."""
    anna = create_manager(session, name="Anna", team="north", extensions=("101",))
    boris = create_manager(session, name="Boris", team="north", extensions=("102",))
    carl = create_manager(session, name="Carl", team="south", extensions=("201",))
    keys = {
        "admin": create_key(session, role=Role.admin),
        "supervisor": create_key(session, role=Role.supervisor, team="north"),
        "other_supervisor": create_key(session, role=Role.supervisor, team="south"),
        "rep": create_key(session, role=Role.rep, manager_id=anna.id),
        "other_rep": create_key(session, role=Role.rep, manager_id=boris.id),
        "crm": create_key(session, role=Role.crm),
    }
    return Floor(anna=anna.id, boris=boris.id, carl=carl.id, keys=keys)
