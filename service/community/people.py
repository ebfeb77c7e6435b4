"""Who the caller is in the community: their volunteer record, their grid-worker record, their grids."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auth.models import Role, User
from service.common.problems import Problem
from service.grids.models import GridWorker
from service.volunteers.models import Volunteer

#: Staff who run the community: they may act anywhere.
COMMUNITY_ADMINS = frozenset({Role.DISPATCHER, Role.ADMIN})


def volunteer_of(session: Session, user: User | None) -> Volunteer | None:
    if user is None:
        return None
    return session.scalar(select(Volunteer).where(Volunteer.user_id == user.id))


def require_volunteer(session: Session, user: User) -> Volunteer:
    """The caller's volunteer record, or 403 when the account has none."""
    volunteer = volunteer_of(session, user)
    if volunteer is None:
        raise Problem(403, "this account is not linked to a volunteer record")
    return volunteer


def worker_of(session: Session, user: User | None) -> GridWorker | None:
    if user is None or user.role is not Role.GRID_WORKER:
        return None
    return session.scalar(select(GridWorker).where(GridWorker.user_id == user.id))


def grids_of(session: Session, user: User | None) -> set[int]:
    """The grids a grid-worker account works in (empty for everyone else)."""
    worker = worker_of(session, user)
    return {g.id for g in worker.grids} if worker else set()


def may_act_in_grid(session: Session, user: User, grid_id: int | None) -> bool:
    """Dispatchers and admins act anywhere; grid workers in their own grids."""
    if user.role in COMMUNITY_ADMINS:
        return True
    return user.role is Role.GRID_WORKER and grid_id is not None and grid_id in grids_of(session, user)


def may_act_in_community(session: Session, user: User, community_id: int | None) -> bool:
    """Dispatchers and admins anywhere; grid workers in a community where they hold a grid."""
    if user.role in COMMUNITY_ADMINS:
        return True
    worker = worker_of(session, user)
    return worker is not None and community_id is not None and any(g.community_id == community_id for g in worker.grids)
