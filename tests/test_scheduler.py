"""The scheduler registers the due-work jobs; the jobs themselves are tested directly."""

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from callsvc.app import create_app
from callsvc.managers.models import Manager
from callsvc.outcomes import jobs as outcomes_jobs
from callsvc.scheduler import build_scheduler, run_in_session


def test_each_job_runs_every_tick_coalesced_and_alone(settings, session_factory, clock):
    scheduler = build_scheduler(settings.model_copy(update={"tick_seconds": 7}), session_factory, clock)
    [job] = scheduler.get_jobs()
    assert job.args[0] is outcomes_jobs.mark_overdue_and_escalate
    assert job.name == "callsvc.outcomes.jobs.mark_overdue_and_escalate"
    assert job.trigger.interval.total_seconds() == 7
    assert (job.coalesce, job.max_instances) == (True, 1)


def test_a_run_commits_its_work_and_sees_the_clock(settings, session_factory, clock):
    seen = []

    def job(session, *, settings, now):
        seen.append((session.exec(select(1)).one(), now))

    run_in_session(job, session_factory, settings, clock)
    assert seen == [(1, clock.now())]


def test_a_failing_run_keeps_none_of_its_writes(settings, session, session_factory, clock):
    def job(session, *, settings, now):
        session.add(Manager(name="ghost", created_at=now, updated_at=now))
        session.flush()
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        run_in_session(job, session_factory, settings, clock)
    assert session.exec(select(Manager)).all() == []


@pytest.mark.parametrize("enabled", [True, False])
def test_the_app_runs_its_scheduler_only_when_enabled(settings, session_factory, clock, enabled):
    app = create_app(settings.model_copy(update={"scheduler_enabled": enabled, "tick_seconds": 3600}), clock=clock)
    app.state.session_factory = session_factory
    with TestClient(app):
        scheduler = app.state.scheduler
        assert (scheduler is not None and scheduler.running) is enabled
    assert scheduler is None or not scheduler.running
