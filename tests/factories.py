"""Plain builders for test data, and the generic webhook as a PBX would sign it."""

import base64
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from pydantic_settings import PydanticBaseSettingsSource
from sqlmodel import Session, select
from standardwebhooks.webhooks import Webhook

from callsvc.auth import service as auth_service
from callsvc.auth.models import ApiKeyCreate, Role
from callsvc.calls.models import Call, CallEventRecord
from callsvc.ingestion.models import ProviderEvent
from callsvc.managers import service as managers_service
from callsvc.managers.models import IdentityIn, Manager, ManagerCreate
from callsvc.settings import Settings

GENERIC_SECRET = "whsec_" + base64.b64encode(b"callsvc-test-secret-0123456789ab").decode()
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PAYLOADS = Path(__file__).parent / "payloads"
# Shuffles of a call's deliveries that each test of arrival order runs.
SEEDS = (0, 1, 2)
CALLS_START = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
# Every column of a stored call a user sees that its events decide.
SEEN = (
    "direction",
    "status",
    "client_number",
    "line_number",
    "manager_id",
    "started_at",
    "answered_at",
    "ended_at",
    "wait_seconds",
    "talk_seconds",
    "recording_url",
    "recording_ref",
    "missed_call_reason",
    "needs_outcome",
    "tag_due_at",
)


class ExplicitSettings(Settings):
    """Settings from the values passed in and the defaults only, never from CALLSVC_* in the shell."""

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def create_manager(
    session: Session,
    *,
    name: str = "Anna",
    team: str | None = "north",
    extensions: tuple[str, ...] = (),
    provider: str = "generic",
) -> Manager:
    data = ManagerCreate(
        name=name, team=team, identities=[IdentityIn(provider=provider, identity=ext) for ext in extensions]
    )
    manager = managers_service.create_manager(session, data=data, now=NOW)
    session.commit()
    return manager


def create_key(
    session: Session, *, role: Role = Role.admin, team: str | None = None, manager_id: int | None = None
) -> dict[str, str]:
    """Create a key and return the Authorization header that carries it."""
    data = ApiKeyCreate(name=f"{role}-key", role=role, team=team, manager_id=manager_id)
    _, token = auth_service.create_key(session, data=data, now=NOW)
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def generic_event(type_: str, call_id: str, at: str, **fields: Any) -> dict[str, Any]:
    """A generic-format event body."""
    return {"type": type_, "call_id": call_id, "occurred_at": at, **fields}


def signed_headers(
    body: str, *, msg_id: str | None = None, timestamp: datetime | None = None, secret: str = GENERIC_SECRET
) -> dict[str, str]:
    """Headers a Standard Webhooks library would send with this body."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    timestamp = timestamp or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, timestamp, body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def post_generic(client: TestClient, event: dict[str, Any], *, msg_id: str | None = None) -> Response:
    """POST one signed generic event; the same msg_id makes it a retry."""
    body = json.dumps(event)
    return client.post("/webhooks/generic", content=body, headers=signed_headers(body, msg_id=msg_id))


def _at(moment: datetime, seconds: int = 0) -> str:
    return (moment + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def answered_call(
    call_id: str,
    *,
    client_number: str = "+79161234567",
    extension: str = "101",
    talk: int = 60,
    started_at: datetime = CALLS_START,
):
    """The generic events of an inbound call started at `started_at`, answered 5 s later, ended `talk` s after that."""
    return [
        generic_event(
            "call.started",
            call_id,
            _at(started_at),
            direction="inbound",
            **{"from": client_number, "to": "+74951112233"},
        ),
        generic_event("call.offered", call_id, _at(started_at, 1), extension=extension),
        generic_event("call.answered", call_id, _at(started_at, 5), extension=extension),
        generic_event("call.ended", call_id, _at(started_at, 5 + talk), disposition="answered"),
    ]


def missed_call(call_id: str, *, client_number: str = "+79161234567", offered: tuple[str, ...] = ("101",)):
    """The generic events of an inbound call offered to `offered` and never answered."""
    return [
        generic_event(
            "call.started",
            call_id,
            "2026-11-22T10:00:00Z",
            direction="inbound",
            **{"from": client_number, "to": "+74951112233"},
        ),
        *[generic_event("call.offered", call_id, "2026-11-22T10:00:01Z", extension=ext) for ext in offered],
        generic_event("call.ended", call_id, "2026-11-22T10:00:30Z", disposition="no_answer"),
    ]


def calls_in_db(session: Session) -> list[Call]:
    """Every call, read afresh from the database."""
    session.expire_all()
    return list(session.exec(select(Call)))


def events_of_each_delivery(session: Session) -> list[tuple[ProviderEvent, list[tuple]]]:
    """Each kept delivery, oldest first, with what its adapter made of it: its events without the rows' ids."""
    fields = ("kind", "occurred_at", "seq", "direction", "from_number", "to_number", "identity")
    fields += ("disposition", "talk_seconds", "recording_url", "recording_ref")
    deliveries = []
    for raw in session.exec(select(ProviderEvent).order_by(ProviderEvent.id)).all():
        records = session.exec(
            select(CallEventRecord).where(CallEventRecord.provider_event_id == raw.id).order_by(CallEventRecord.id)
        ).all()
        deliveries.append((raw, [tuple(getattr(record, name) for name in fields) for record in records]))
    return deliveries


def load_payloads(provider: str, name: str) -> list[Any]:
    """The recorded deliveries of one call, in the order the provider sent them."""
    return json.loads((PAYLOADS / provider / f"{name}.json").read_text())


def scrambled(deliveries: list[Any], seed: int) -> list[Any]:
    """The deliveries shuffled, with some sent twice, as an at-least-once, unordered PBX would."""
    rng = random.Random(seed)
    again = rng.sample(deliveries, k=min(2, len(deliveries)))
    mixed = deliveries + again
    rng.shuffle(mixed)
    return mixed


def record_call(client: TestClient, session: Session, events: list[dict[str, Any]]) -> int:
    """Deliver a call's events as the PBX would and return the call's id."""
    for event in events:
        assert post_generic(client, event).status_code == 200
    return session.exec(select(Call.id).where(Call.provider_call_id == events[0]["call_id"])).one()
