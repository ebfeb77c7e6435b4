"""Who may see which requests, and who sees the reporter unmasked.

Two rules, each in one place: ``visible`` (what a signed-in user lists through the REST API) and
``publicly_visible`` (what anyone may read on the public feeds: Open311, OGC API, the event
stream without a token). ``readable`` joins them for channels open to both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import Session

from service.auth.deps import optional_user
from service.auth.models import Role, User
from service.config import Settings
from service.grids.models import GridWorker
from service.grids.service import worker_of
from service.requests.models import RESIDENT_CHANNELS, ServiceRequest, Status
from service.requests.views import mask_text, sees_reporter
from service.volunteers.models import Volunteer


def grid_worker_of(session: Session, user: User) -> GridWorker | None:
    return worker_of(session, user_id=user.id)


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


def publicly_visible(settings: Settings, now: datetime) -> ColumnElement[bool]:
    """A filter for the requests anyone may read: the reporter agreed to publish (``public``), it
    came through a resident's own channel, it was not rejected, and it was reported within the last
    ``public_feed_days``."""
    return and_(
        ServiceRequest.public.is_(True),
        ServiceRequest.channel.in_(RESIDENT_CHANNELS),
        ServiceRequest.status != Status.REJECTED,
        ServiceRequest.reported_at >= now - timedelta(days=settings.public_feed_days),
    )


def is_public(session: Session, req_id: int, settings: Settings, now: datetime) -> bool:
    """Whether request ``req_id`` passes ``publicly_visible`` now (one query, the same rule)."""
    query = select(ServiceRequest.id).where(ServiceRequest.id == req_id, publicly_visible(settings, now))
    return session.scalar(query) is not None


class _HasHeaders(Protocol):
    """What ``signed_in_caller`` reads of an HTTP request (its route passes the request)."""

    @property
    def headers(self) -> Mapping[str, str]: ...


def signed_in_caller(request: _HasHeaders, session: Session, settings: Settings) -> User | None:
    """The caller of a channel open to everyone (OGC API, Open311): its account when it sends a
    valid bearer token, else None. A missing, stale or invalid token gets the public answer rather
    than a 401, so GIS and civic clients that send an old token keep working."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    try:
        return optional_user(header[7:].strip(), session, settings)
    except Exception:
        return None


def readable(session: Session, user: User | None, settings: Settings, now: datetime) -> ColumnElement[bool]:
    """What a channel open to everyone (Open311, OGC API) shows: the public requests, plus, for a
    signed-in caller, exactly the requests of its REST list. Signing in never hides a public one."""
    public = publicly_visible(settings, now)
    return public if user is None else or_(visible(session, user), public)


def visible_ids(session: Session, user: User | None, ids: Iterable[int]) -> set[int]:
    """Which of ``ids`` are in ``user``'s REST list (shown in full); the rest of a public answer
    is shown in its public form."""
    ids = list(ids)
    if user is None or not ids:
        return set()
    query = select(ServiceRequest.id).where(ServiceRequest.id.in_(ids), visible(session, user))
    return set(session.scalars(query))


def public_description(req: ServiceRequest) -> str | None:
    """The description as the public may read it: only when the category allows its text
    (``public_text``), and then with ID numbers, phones, e-mails and the reporter's name masked."""
    if not req.category.public_text:
        return None
    return mask_text(req.description, names=[req.reporter_name])


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
