"""Who the caller is in the community: their volunteer record, their grid-worker record, their grids."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.auth.models import Role, User
from service.grids import service as grid_service
from service.grids.models import GridWorker
from service.volunteers.service import require_volunteer, volunteer_of

#: Staff who run the community: they may act anywhere.
COMMUNITY_ADMINS = frozenset({Role.DISPATCHER, Role.ADMIN})

__all__ = [
    "COMMUNITY_ADMINS",
    "grids_of",
    "may_act_in_community",
    "may_act_in_grid",
    "require_volunteer",
    "volunteer_of",
    "worker_of",
]


def worker_of(session: Session, user: User | None) -> GridWorker | None:
    """The caller's grid-worker record (None unless the account is a grid worker's)."""
    if user is None or user.role is not Role.GRID_WORKER:
        return None
    return grid_service.worker_of(session, user_id=user.id)


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
