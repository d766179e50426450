"""/healthz, /readyz and /metrics."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

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


@router.get("/readyz", responses={503: {"description": "database unreachable or not migrated"}})
def readyz(request: Request) -> JSONResponse:
    """Answer 200 when the database is reachable and migrated to head."""
    try:
        with request.app.state.session_factory() as session:
            session.execute(text("SELECT 1"))
            migrated = is_at_head(session.connection())
    except SQLAlchemyError:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    if not migrated:
        return JSONResponse({"status": "unavailable", "database": "not migrated"}, status_code=503)
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
