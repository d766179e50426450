"""What each key may see: one rule, applied inside the services to every query they run for a caller."""

from sqlalchemy import ColumnElement, or_, select, true

from callsvc.auth.models import ApiKey, Role
from callsvc.managers.models import Manager


def visible_managers(actor: ApiKey, manager_column: ColumnElement) -> ColumnElement[bool]:
    """A condition on a manager id column: what this key may see (rows owned by nobody included for supervisors)."""
    # A key read from the database holds its role as a plain str: compare by value, not identity.
    if actor.role == Role.rep:
        return manager_column == actor.manager_id
    if actor.role == Role.supervisor:
        team_members = select(Manager.id).where(Manager.team == actor.team)
        return or_(manager_column.is_(None), manager_column.in_(team_members.scalar_subquery()))
    return true()


def may_see_manager(actor: ApiKey, manager: Manager) -> bool:
    """Tell whether a manager's own record is within this key's scope."""
    if actor.role == Role.rep:
        return manager.id == actor.manager_id
    if actor.role == Role.supervisor:
        return manager.team == actor.team
    return True
