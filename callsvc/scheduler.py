"""The in-process scheduler: registers each domain's due-work jobs, nothing more."""

from collections.abc import Callable
from datetime import UTC
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from callsvc.clock import Clock
from callsvc.db import session_scope
from callsvc.outcomes import jobs as outcomes_jobs
from callsvc.settings import Settings

Job = Callable[..., Any]


def run_in_session(job: Job, session_factory: sessionmaker[Session], settings: Settings, clock: Clock) -> None:
    """Run one job in its own transaction, committed when it returns."""
    with session_scope(session_factory) as session:
        job(session, settings=settings, now=clock.now())


def build_scheduler(settings: Settings, session_factory: sessionmaker[Session], clock: Clock) -> BackgroundScheduler:
    """Build this process's scheduler with every job registered at CALLSVC_TICK_SECONDS."""
    scheduler = BackgroundScheduler(timezone=UTC)
    for job in (outcomes_jobs.mark_overdue_and_escalate,):
        job_id = f"{job.__module__}.{job.__name__}"
        scheduler.add_job(
            run_in_session,
            "interval",
            seconds=settings.tick_seconds,
            args=(job, session_factory, settings, clock),
            id=job_id,
            name=job_id,
            # A late tick is one run, not a burst, and never overlaps the one still running.
            coalesce=True,
            max_instances=1,
        )
    return scheduler
