"""Create, check, list and revoke API keys."""

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from callsvc.auth.models import ApiKey, ApiKeyCreate, Role
from callsvc.errors import Invalid, NotFound
from callsvc.managers.models import Manager

TOKEN_PREFIX = "csk_"
# last_used_at is for people reading the key list; writing it on every request would put a
# row lock on the hottest path (the gate is asked on every PBX call), so it is coarse.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(token: str) -> str:
    """Return the stored form of a key: its SHA-256 in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_key(session: Session, *, data: ApiKeyCreate, now: datetime) -> tuple[ApiKey, str]:
    """Create a key bound to its role's scope; return the row and the key, shown only this once."""
    if data.role is Role.supervisor and not data.team:
        raise Invalid("a supervisor key needs the team it supervises", code="team_required", field="team")
    if data.role is Role.rep:
        if data.manager_id is None:
            raise Invalid("a rep key needs the manager it acts for", code="manager_required", field="manager_id")
        if session.get(Manager, data.manager_id) is None:
            raise Invalid(f"manager {data.manager_id} does not exist", code="manager_not_found", field="manager_id")
    if data.role is not Role.supervisor and data.team:
        raise Invalid("only supervisor keys are bound to a team", code="team_not_allowed", field="team")
    if data.role is not Role.rep and data.manager_id is not None:
        raise Invalid("only rep keys are bound to a manager", code="manager_not_allowed", field="manager_id")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=data.name,
        role=data.role,
        team=data.team,
        manager_id=data.manager_id,
        key_hash=hash_token(token),
        prefix=token[: len(TOKEN_PREFIX) + 6],
        created_at=now,
    )
    session.add(key)
    session.flush()
    return key, token


def authenticate(session: Session, *, token: str) -> ApiKey | None:
    """Return the live key with this token; None if there is none."""
    key = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_token(token))).first()
    if key is None or key.revoked_at is not None:
        return None
    return key


def note_use(session: Session, key: ApiKey, *, now: datetime) -> None:
    """Record when a key was last used, at most once a LAST_USED_RESOLUTION."""
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return
    session.execute(update(ApiKey).where(col(ApiKey.id) == key.id).values(last_used_at=now))


def list_keys(session: Session, *, after_id: int | None, limit: int) -> list[ApiKey]:
    """List keys by id, revoked ones included."""
    query = select(ApiKey).order_by(ApiKey.id).limit(limit)
    if after_id is not None:
        query = query.where(ApiKey.id > after_id)
    return list(session.exec(query))


def revoke_key(session: Session, *, key_id: int, now: datetime) -> ApiKey:
    """Revoke a key; revoking it again changes nothing."""
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"key {key_id} does not exist", code="key_not_found")
    if key.revoked_at is None:
        key.revoked_at = now
        session.add(key)
    return key


def describe_key(session: Session, key: ApiKey) -> str:
    """Name a key for audit trails: the key and, for a rep, the manager it acts for."""
    name = f"{key.name} (key {key.id})"
    if key.role == Role.rep:
        manager = session.get(Manager, key.manager_id)
        name += f" for {manager.name} (manager {manager.id})"
    return name
