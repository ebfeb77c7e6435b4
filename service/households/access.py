"""Who may see and visit a key household: its caretaker, the workers of its building's grid,
dispatchers and admins. Nobody else — not planners, departments, residents or other volunteers,
and no public endpoint."""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import Session

from service.auth.models import Role, User
from service.buildings.models import Building
from service.common.errors import Forbidden
from service.community.people import volunteer_of, worker_of
from service.households.models import KeyHousehold

#: Roles that can ever see a key household (volunteers only as caretakers).
MAY_SEE = frozenset({Role.DISPATCHER, Role.ADMIN, Role.GRID_WORKER, Role.VOLUNTEER})


def visible(session: Session, user: User) -> ColumnElement[bool]:
    """A filter on KeyHousehold (the query must join Building) for what ``user`` may see."""
    if user.role in (Role.DISPATCHER, Role.ADMIN):
        return true()
    if user.role is Role.GRID_WORKER:
        worker = worker_of(session, user)
        if worker is None:
            return false()
        return or_(Building.grid_id.in_([g.id for g in worker.grids]), KeyHousehold.caretaker_worker_id == worker.id)
    if user.role is Role.VOLUNTEER:
        volunteer = volunteer_of(session, user)
        return KeyHousehold.caretaker_volunteer_id == volunteer.id if volunteer else false()
    return false()


def require_access(session: Session, user: User) -> None:
    """403 for callers who can see no key household at all (the register is not theirs)."""
    if user.role not in MAY_SEE:
        raise Forbidden(f"role {user.role.value!r} may not see key households")
    if user.role is Role.GRID_WORKER and worker_of(session, user) is None:
        raise Forbidden("this account is not linked to a grid worker")
    if user.role is Role.VOLUNTEER:
        volunteer = volunteer_of(session, user)
        cares = volunteer is not None and session.scalar(
            select(KeyHousehold.id).where(KeyHousehold.caretaker_volunteer_id == volunteer.id).limit(1)
        )
        if not cares:
            raise Forbidden("only caretakers, the grid's workers, dispatchers and admins see key households")


def can_see(session: Session, user: User, household: KeyHousehold) -> bool:
    query = (
        select(KeyHousehold.id)
        .join(Building, Building.id == KeyHousehold.building_id)
        .where(KeyHousehold.id == household.id, visible(session, user))
    )
    return session.scalar(query) is not None
