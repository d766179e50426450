"""The forcing ladder, run as the scheduler would but directly, with the frozen clock."""

from datetime import timedelta

import pytest

from callsvc.outcomes.jobs import Transitions, mark_overdue_and_escalate
from tests.factories import CALLS_START, answered_call, missed_call, record_call

CALL_END = CALLS_START + timedelta(seconds=65)


def run_job(job_context) -> Transitions:
    return mark_overdue_and_escalate(job_context)


def read(client, call_id, floor):
    return client.get(f"/v1/calls/{call_id}", headers=floor.keys["admin"]).json()


@pytest.fixture
def call_id(client, session, floor) -> int:
    return record_call(client, session, answered_call("j1", extension="101"))


def test_nothing_moves_before_the_tag_deadline(job_context, clock, call_id):
    clock.current = CALL_END + timedelta(minutes=10) - timedelta(seconds=1)
    assert run_job(job_context) == Transitions(overdue=[], escalated=[])


def test_past_the_deadline_the_call_goes_overdue_once(job_context, client, session, settings, clock, floor, call_id):
    clock.current = CALL_END + timedelta(minutes=10)
    assert run_job(job_context) == Transitions(overdue=[call_id], escalated=[])
    first_run = clock.now()
    clock.advance(minutes=5)
    assert run_job(job_context) == Transitions(overdue=[], escalated=[])
    call = read(client, call_id, floor)
    assert call["overdue_at"] == call["updated_at"] == first_run.isoformat().replace("+00:00", "Z")
    assert (call["overdue"], call["escalated_at"], call["etag"]) == (True, None, '"1"')


def test_past_the_escalation_deadline_the_call_escalates_once(
    job_context, client, session, settings, clock, floor, call_id
):
    clock.current = CALL_END + timedelta(minutes=10)
    run_job(job_context)
    clock.current = CALL_END + timedelta(minutes=60)
    assert run_job(job_context) == Transitions(overdue=[], escalated=[call_id])
    clock.advance(hours=5)
    assert run_job(job_context) == Transitions(overdue=[], escalated=[])
    call = read(client, call_id, floor)
    assert call["escalated_at"] == call["updated_at"] == "2026-11-22T11:01:05Z"
    assert call["overdue_at"] == "2026-11-22T10:11:05Z"


def test_escalated_call_keeps_no_outcome_and_stays_in_the_queue(
    job_context, client, session, settings, clock, floor, call_id
):
    clock.current = CALL_END + timedelta(hours=3)
    assert run_job(job_context) == Transitions(overdue=[call_id], escalated=[call_id])
    [item] = client.get("/v1/queue", headers=floor.keys["rep"]).json()["items"]
    assert (item["id"], item["outcome"], item["overdue"]) == (call_id, None, True)
    assert read(client, call_id, floor)["outcome_history"] == []


def test_tagged_missed_and_unfinished_calls_never_move(job_context, client, session, settings, clock, floor, call_id):
    client.post(f"/v1/calls/{call_id}/outcome", json={"outcome": "no_need"}, headers=floor.keys["rep"])
    record_call(client, session, missed_call("j2", offered=("101",)))
    started, offered, answered, _ = answered_call("j3", extension="101")
    record_call(client, session, [started, offered, answered])
    clock.current = CALL_END + timedelta(hours=3)
    assert run_job(job_context) == Transitions(overdue=[], escalated=[])


class TestSettings:
    @pytest.fixture
    def settings_overrides(self):
        return {"tag_deadline_minutes": 2, "escalate_after_minutes": 5}

    def test_deadlines_follow_the_settings(self, job_context, clock, call_id):
        clock.current = CALL_END + timedelta(minutes=2)
        assert run_job(job_context).overdue == [call_id]
        clock.current = CALL_END + timedelta(minutes=5)
        assert run_job(job_context).escalated == [call_id]
