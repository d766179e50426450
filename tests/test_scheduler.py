"""The scheduler registers the due-work jobs; the jobs themselves are tested directly."""

import pytest
from fastapi.testclient import TestClient

from callsvc.app import create_app
from callsvc.jobs import JobContext
from callsvc.outcomes import jobs as outcomes_jobs
from callsvc.scheduler import build_scheduler


def test_each_job_runs_every_tick_coalesced_and_alone(settings, session_factory, clock):
    ctx = JobContext(
        session_factory=session_factory, settings=settings.model_copy(update={"tick_seconds": 7}), clock=clock
    )
    jobs = {job.name: job for job in build_scheduler(ctx).get_jobs()}
    assert set(jobs) == {
        "callsvc.outcomes.jobs.mark_overdue_and_escalate",
        "callsvc.ingestion.jobs.retry_transient",
    }
    assert jobs["callsvc.outcomes.jobs.mark_overdue_and_escalate"].func is outcomes_jobs.mark_overdue_and_escalate
    for job in jobs.values():
        assert job.args == (ctx,)
        assert job.trigger.interval.total_seconds() == 7
        assert (job.coalesce, job.max_instances) == (True, 1)


@pytest.mark.parametrize("enabled", [True, False])
def test_the_app_runs_its_scheduler_only_when_enabled(settings, session_factory, clock, enabled):
    app = create_app(settings.model_copy(update={"scheduler_enabled": enabled, "tick_seconds": 3600}), clock=clock)
    app.state.session_factory = session_factory
    with TestClient(app):
        scheduler = app.state.scheduler
        assert (scheduler is not None and scheduler.running) is enabled
    assert scheduler is None or not scheduler.running
