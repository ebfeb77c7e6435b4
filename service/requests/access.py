"""Who may see which requests, and who sees the reporter unmasked."""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import Session

from service.auth.models import Role, User
from service.grids.models import GridWorker
from service.requests.models import ServiceRequest
from service.requests.views import sees_reporter
from service.volunteers.models import Volunteer


def grid_worker_of(session: Session, user: User) -> GridWorker | None:
    return session.scalar(select(GridWorker).where(GridWorker.user_id == user.id))


def visible(session: Session, user: User) -> ColumnElement[bool]:
    """A filter for the requests ``user`` may list."""
    if user.role in (Role.DISPATCHER, Role.ADMIN, Role.PLANNER):
        return true()
    if user.role is Role.GRID_WORKER:
        worker = grid_worker_of(session, user)
        if worker is None:
            return false()
        return or_(ServiceRequest.grid_id.in_([g.id for g in worker.grids]), ServiceRequest.grid_worker_id == worker.id)
    if user.role is Role.VOLUNTEER:
        volunteer = session.scalar(select(Volunteer).where(Volunteer.user_id == user.id))
        return ServiceRequest.volunteer_id == volunteer.id if volunteer else false()
    if user.role is Role.DEPARTMENT:
        return ServiceRequest.department_id == user.department_id if user.department_id else false()
    return ServiceRequest.reporter_user_id == user.id


def can_view(session: Session, user: User, req: ServiceRequest) -> bool:
    query = select(ServiceRequest.id).where(ServiceRequest.id == req.id, visible(session, user))
    return session.scalar(query) is not None


def full_reporter(session: Session, user: User | None, req: ServiceRequest) -> bool:
    """Dispatchers, admins and the grid worker assigned to this case see the reporter."""
    if user is None or user.role is not Role.GRID_WORKER:
        # The assigned worker matters only to grid workers. Not loading it keeps a list of 1,000
        # requests from costing 1,000 queries (the identity map holds no worker between rows).
        return sees_reporter(user, req, worker_user_id=None)
    worker_user_id = None
    if req.grid_worker_id is not None:
        worker = session.get(GridWorker, req.grid_worker_id)
        worker_user_id = worker.user_id if worker else None
    return sees_reporter(user, req, worker_user_id=worker_user_id)
