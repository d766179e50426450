"""The in-process scheduler: registers each domain's due-work jobs, nothing more."""

from collections.abc import Callable
from datetime import UTC
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from callsvc.ingestion import jobs as ingestion_jobs
from callsvc.jobs import JobContext
from callsvc.outcomes import jobs as outcomes_jobs

Job = Callable[[JobContext], Any]
JOBS: tuple[Job, ...] = (outcomes_jobs.mark_overdue_and_escalate, ingestion_jobs.retry_transient)


def build_scheduler(ctx: JobContext) -> BackgroundScheduler:
    """Build this process's scheduler with every job registered at CALLSVC_TICK_SECONDS."""
    scheduler = BackgroundScheduler(timezone=UTC)
    for job in JOBS:
        job_id = f"{job.__module__}.{job.__name__}"
        scheduler.add_job(
            job,
            "interval",
            seconds=ctx.settings.tick_seconds,
            args=(ctx,),
            id=job_id,
            name=job_id,
            # A late tick is one run, not a burst, and never overlaps the one still running.
            coalesce=True,
            max_instances=1,
        )
    return scheduler
