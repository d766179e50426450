"""A call's state is a function of the set of its events: any order, any duplicates, the same call."""

import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from callsvc.calls.models import Call
from tests.factories import create_manager, generic_event, signed_headers

LINE, CLIENT = "+74951112233", "+79161234567"


def inbound_started(call_id, **extra):
    return generic_event(
        "call.started",
        call_id,
        "2026-11-22T10:00:00Z",
        direction="inbound",
        **{"from": "8 916 123 45 67", "to": LINE},
        **extra,
    )


SCENARIOS = {
    "answered, then transferred": (
        lambda c: [
            inbound_started(c),
            generic_event("call.offered", c, "2026-11-22T10:00:01Z", extension="101"),
            generic_event("call.answered", c, "2026-11-22T10:00:06Z", extension="101"),
            generic_event("call.answered", c, "2026-11-22T10:01:00Z", extension="102"),
            generic_event("call.ended", c, "2026-11-22T10:03:06Z", disposition="answered"),
            generic_event("call.recording", c, "2026-11-22T10:04:00Z", recording_url="https://pbx.example/r.mp3"),
        ],
        {"status": "completed", "manager": "102", "talk_seconds": 180, "wait_seconds": 6, "client_number": CLIENT},
    ),
    "missed, offered to one": (
        lambda c: [
            inbound_started(c, extension="101"),
            generic_event("call.offered", c, "2026-11-22T10:00:01Z", extension="101"),
            generic_event("call.ended", c, "2026-11-22T10:00:25Z", disposition="no_answer"),
        ],
        {"status": "missed", "manager": "101", "talk_seconds": None, "wait_seconds": 25, "client_number": CLIENT},
    ),
    "missed, offered to a group": (
        lambda c: [
            inbound_started(c),
            generic_event("call.offered", c, "2026-11-22T10:00:01Z", extension="101"),
            generic_event("call.offered", c, "2026-11-22T10:00:01Z", extension="102"),
            generic_event("call.ended", c, "2026-11-22T10:00:40Z", disposition="busy"),
        ],
        {"status": "missed", "manager": None, "talk_seconds": None, "wait_seconds": 40, "client_number": CLIENT},
    ),
    "outbound, answered": (
        lambda c: [
            generic_event(
                "call.started",
                c,
                "2026-11-22T10:00:00Z",
                direction="outbound",
                extension="102",
                **{"from": "102", "to": "+7 916 123-45-67"},
            ),
            generic_event("call.answered", c, "2026-11-22T10:00:10Z", extension="102"),
            generic_event("call.ended", c, "2026-11-22T10:00:50Z", disposition="answered"),
        ],
        {"status": "completed", "manager": "102", "talk_seconds": 40, "wait_seconds": 10, "client_number": CLIENT},
    ),
}


@st.composite
def deliveries(draw, events):
    """Every event at least once, some retried under the same id, some re-sent under a new one, shuffled."""
    sends = [(index, f"msg_{index}") for index in range(len(events))]
    for index in draw(st.lists(st.integers(0, len(events) - 1), max_size=4)):
        sends.append((index, draw(st.sampled_from([f"msg_{index}", f"msg_{index}_again"]))))
    return draw(st.permutations(sends))


@pytest.fixture
def managers(session):
    return {ext: create_manager(session, name=f"M{ext}", extensions=(ext,)).id for ext in ("101", "102")}


@pytest.mark.parametrize("scenario", SCENARIOS)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_order_and_any_duplicates_give_the_same_call(client, session, managers, scenario, data):
    build, expected = SCENARIOS[scenario]
    call_id = f"prop-{uuid.uuid4().hex}"
    events = build(call_id)
    for index, msg_id in data.draw(deliveries(events)):
        body = json.dumps(events[index])
        headers = signed_headers(body, msg_id=f"{call_id}-{msg_id}")
        assert client.post("/webhooks/generic", content=body, headers=headers).status_code == 200

    session.expire_all()
    [call] = session.exec(select(Call).where(Call.provider_call_id == call_id)).all()
    manager = expected["manager"]
    assert call.status == expected["status"]
    assert call.manager_id == (managers[manager] if manager else None)
    assert call.talk_seconds == expected["talk_seconds"]
    assert call.wait_seconds == expected["wait_seconds"]
    assert call.client_number == expected["client_number"]
