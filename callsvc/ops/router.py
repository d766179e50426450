"""/healthz, /readyz and /metrics."""

from typing import Literal

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from callsvc.clock import ClockDep
from callsvc.db import SessionDep
from callsvc.ingestion import service as ingestion_service
from callsvc.ops import metrics
from callsvc.outcomes import service as outcomes_service
from callsvc.schema import is_at_head

router = APIRouter(tags=["ops"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Answer while the process is alive."""
    return {"status": "ok"}


# A load balancer's probe gives up after a few seconds; answering first tells it "not ready", not "hung".
READINESS_TIMEOUT_SECONDS = 1.5


def _database_state(session_factory: sessionmaker[Session]) -> str:
    try:
        with session_factory() as session:
            session.execute(text("SELECT 1"))
            return "ok" if is_at_head(session.connection()) else "not migrated"
    except SQLAlchemyError:
        return "unreachable"


class Readiness(BaseModel):
    """Whether the process can serve: `database` says why not."""

    status: Literal["ok", "unavailable"]
    database: Literal["unreachable", "not answering", "not migrated"] | None = None


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "database unreachable, not answering or not migrated"}},
)
async def readyz(request: Request) -> JSONResponse:
    """Answer 200 when the database is reachable and migrated to head, 503 within 2 s otherwise."""
    state = "not answering"
    # In a thread, so that a stalled database holds neither the event loop nor the answer; a thread
    # still waiting when the answer goes is left to end at the database timeouts.
    with anyio.move_on_after(READINESS_TIMEOUT_SECONDS):
        state = await anyio.to_thread.run_sync(
            _database_state, request.app.state.read_session_factory, abandon_on_cancel=True
        )
    if state != "ok":
        return JSONResponse({"status": "unavailable", "database": state}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/metrics", response_class=PlainTextResponse)
def get_metrics(session: SessionDep, clock: ClockDep) -> PlainTextResponse:
    """Prometheus metrics in the text format; queue sizes are counted at scrape time."""
    pending, overdue = outcomes_service.count_pending(session, now=clock.now())
    metrics.queue_pending.set(pending)
    metrics.queue_overdue.set(overdue)
    retrying, left_for_admin = ingestion_service.count_unprocessed(session)
    metrics.events_unprocessed.labels("true").set(retrying)
    metrics.events_unprocessed.labels("false").set(left_for_admin)
    return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)
