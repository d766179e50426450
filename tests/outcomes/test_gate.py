"""GET /v1/managers/{id}/gate: blocked when a manager has too many overdue calls."""

from datetime import timedelta

import pytest

from tests.factories import CALLS_START, answered_call, record_call

PAST_DEADLINES = CALLS_START + timedelta(hours=1)


def gate(client, floor, manager_id=None):
    response = client.get(f"/v1/managers/{manager_id or floor.anna}/gate", headers=floor.keys["crm"])
    assert response.status_code == 200
    return response.json()


def record_calls(client, session, count, extension="101") -> list[int]:
    return [record_call(client, session, answered_call(f"g{extension}-{n}", extension=extension)) for n in range(count)]


def test_open_with_nothing_pending(client, floor):
    assert gate(client, floor) == {"blocked": False, "overdue": 0, "pending": 0}


def test_pending_calls_before_their_deadline_do_not_block(client, session, floor):
    record_calls(client, session, 5)
    assert gate(client, floor) == {"blocked": False, "overdue": 0, "pending": 5}


def test_blocks_only_when_overdue_calls_exceed_the_limit(client, session, floor, clock):
    ids = record_calls(client, session, 4)
    client.post(f"/v1/calls/{ids[0]}/outcome", json={"outcome": "spam"}, headers=floor.keys["rep"])
    clock.current = PAST_DEADLINES
    assert gate(client, floor) == {"blocked": False, "overdue": 3, "pending": 3}
    record_call(client, session, answered_call("fourth", extension="101"))
    assert gate(client, floor) == {"blocked": True, "overdue": 4, "pending": 4}


def test_counts_only_the_managers_own_calls(client, session, floor, clock):
    record_calls(client, session, 4, extension="102")
    clock.current = PAST_DEADLINES
    assert gate(client, floor)["overdue"] == 0
    assert gate(client, floor, floor.boris) == {"blocked": True, "overdue": 4, "pending": 4}


def test_unknown_manager_is_404(client, floor):
    response = client.get("/v1/managers/999999/gate", headers=floor.keys["crm"])
    assert (response.status_code, response.json()["code"]) == (404, "manager_not_found")


class TestStrictGate:
    @pytest.fixture
    def settings_overrides(self):
        return {"gate_max_overdue": 0}

    def test_one_overdue_call_blocks_and_tagging_it_opens_the_gate(self, client, session, floor, clock):
        [call_id] = record_calls(client, session, 1)
        assert gate(client, floor)["blocked"] is False
        clock.current = PAST_DEADLINES
        assert gate(client, floor) == {"blocked": True, "overdue": 1, "pending": 1}
        client.post(f"/v1/calls/{call_id}/outcome", json={"outcome": "no_need"}, headers=floor.keys["rep"])
        assert gate(client, floor) == {"blocked": False, "overdue": 0, "pending": 0}
