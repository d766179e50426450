"""Managers and their PBX identities."""

from datetime import datetime

from sqlmodel import Session, select

from callsvc.auth.models import ApiKey
from callsvc.auth.scope import may_see_manager, visible_managers
from callsvc.errors import Conflict, NotFound
from callsvc.managers.models import IdentityIn, Manager, ManagerCreate, ManagerIdentity, ManagerUpdate


def get_manager(session: Session, manager_id: int) -> Manager:
    """Return the manager or raise 404."""
    manager = session.get(Manager, manager_id)
    if manager is None:
        raise NotFound(f"manager {manager_id} does not exist", code="manager_not_found")
    return manager


def get_visible_manager(session: Session, *, manager_id: int, actor: ApiKey) -> Manager:
    """Return the manager if the caller may see it; 404 exactly as for one that does not exist."""
    manager = session.get(Manager, manager_id)
    if manager is None or not may_see_manager(actor, manager):
        raise NotFound(f"manager {manager_id} does not exist", code="manager_not_found")
    return manager


def _set_identities(session: Session, manager: Manager, identities: list[IdentityIn]) -> None:
    wanted = {(identity.provider, identity.identity) for identity in identities}
    for provider, identity in wanted:
        owner = session.exec(
            select(ManagerIdentity).where(ManagerIdentity.provider == provider, ManagerIdentity.identity == identity)
        ).first()
        if owner is not None and owner.manager_id != manager.id:
            raise Conflict(
                f"identity {provider}:{identity} already belongs to manager {owner.manager_id}",
                code="identity_taken",
            )
    kept = [identity for identity in manager.identities if (identity.provider, identity.identity) in wanted]
    existing = {(identity.provider, identity.identity) for identity in kept}
    manager.identities = kept + [
        ManagerIdentity(provider=provider, identity=identity) for provider, identity in sorted(wanted - existing)
    ]


def create_manager(session: Session, *, data: ManagerCreate, now: datetime) -> Manager:
    """Create a manager with its PBX identities."""
    manager = Manager(**data.model_dump(exclude={"identities"}), created_at=now, updated_at=now)
    session.add(manager)
    session.flush()
    _set_identities(session, manager, data.identities)
    session.flush()
    return manager


def update_manager(session: Session, *, manager: Manager, data: ManagerUpdate, now: datetime) -> Manager:
    """Change a manager; given identities replace the old ones (past calls keep their manager)."""
    changes = data.model_dump(exclude_unset=True, exclude={"identities"})
    for field, value in changes.items():
        setattr(manager, field, value)
    if data.identities is not None:
        _set_identities(session, manager, data.identities)
    manager.updated_at = now
    session.add(manager)
    session.flush()
    return manager


def list_managers(
    session: Session, *, actor: ApiKey, team: str | None, after_id: int | None, limit: int
) -> list[Manager]:
    """List managers by id within what the caller may see."""
    query = select(Manager).where(visible_managers(actor, Manager.id)).order_by(Manager.id).limit(limit)
    if team is not None:
        query = query.where(Manager.team == team)
    if after_id is not None:
        query = query.where(Manager.id > after_id)
    return list(session.exec(query))


def resolve_identity(session: Session, *, provider: str, identity: str | None) -> int | None:
    """Return the id of the manager a PBX identity belongs to, or None."""
    if not identity:
        return None
    return session.exec(
        select(ManagerIdentity.manager_id).where(
            ManagerIdentity.provider == provider, ManagerIdentity.identity == identity.strip()
        )
    ).first()
