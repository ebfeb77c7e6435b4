"""The requests API's data work: the queries and writes its routes (and Open311's) call.

Keyword-only functions of a session; none commits (the route's WriteSession does). Refusals are
domain errors (``service.common.errors``), which one handler answers as problem+json. The rules of
the lifecycle are in ``policy``/``workflow``, intake in ``intake``, who sees what in ``access``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from geoalchemy2.shape import to_shape
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from geo.bbox import BBox
from service.audit.service import audit
from service.auth.models import Role, User
from service.common.errors import Conflict, Forbidden, Invalid, NotFound
from service.common.spatial import intersects
from service.common.times import EARLIEST, time_param
from service.config import Settings
from service.requests import access
from service.requests.assignment import nearest_volunteers, open_loads
from service.requests.intake import NewRequest, check_channel, submit_request
from service.requests.models import (
    Channel,
    DuplicateSuggestion,
    HandlingLevel,
    JointMeetingItem,
    RequestCategory,
    RequestEvent,
    RequestPhoto,
    ServiceRequest,
    Status,
    WarningLevel,
)
from service.requests.photos import CleanImage, add_photo, photo_path
from service.requests.schemas import (
    CategoryGroupOut,
    CategoryKindOut,
    DuplicateOut,
    JointMeetingClosedOut,
    JointMeetingItemOut,
    StatsOut,
    TrailStep,
    VolunteerCandidateOut,
)
from service.requests.stats import compute_stats
from service.requests.taxonomy import GROUP_LABELS
from service.requests.workflow import Actor, TransitionInput, apply_transition

# -- who is asking -----------------------------------------------------------------------------


def caller_scope(*, user_id: int | None, ip: str) -> str:
    """Whose Idempotency-Key it is: the signed-in account's (``user:<id>``), else the address's
    (``ip:<addr>``). The same key from another caller is another key (``intake.scoped_idempotency_key``)."""
    return f"user:{user_id}" if user_id is not None else f"ip:{ip}"


# -- raising and moving a case -------------------------------------------------------------------


def raise_request(
    session: Session,
    *,
    data: NewRequest,
    user: User | None,
    settings: Settings,
    now: datetime,
    idempotency_key: str | None,
    scope: str,
) -> tuple[ServiceRequest, bool]:
    """Intake for ``user`` (None: anonymous): (request, replayed). A resident is the reporter;
    staff entering a case for someone are audited (a replay is not a second entry)."""
    # Publishing is the reporter's own choice: staff entering a request for someone cannot give it.
    data.public = data.public and (user is None or user.role in (Role.RESIDENT, Role.VOLUNTEER))
    reporter = user if user is not None and user.role is Role.RESIDENT else None
    check_channel(data.channel, user)
    req, replayed = submit_request(
        session,
        data=data,
        settings=settings,
        now=now,
        reporter=reporter,
        idempotency_key=idempotency_key,
        idempotency_scope=scope,
    )
    if user is not None and reporter is None and user.role is not Role.VOLUNTEER and not replayed:
        audit(
            session,
            actor=user,
            action="create",
            entity="request",
            entity_id=req.id,
            now=now,
            after={"status": req.status.value, "category": data.category, "channel": req.channel.value},
        )
    return req, replayed


def transition(
    session: Session, *, req: ServiceRequest, data: TransitionInput, actor: Actor, settings: Settings, now: datetime
) -> None:
    """Apply one step (``workflow.apply_transition``) and audit it for a signed-in actor. A
    concurrent change of the case (its version moved meanwhile) is a Conflict naming ``version``
    and carrying the ``current_version``; the session is rolled back then."""
    before = {"status": req.status.value, "version": req.version, "level": req.level.value}
    request_id = req.id
    try:
        apply_transition(session, req=req, data=data, actor=actor, now=now, settings=settings)
        session.flush()  # the version moves here (or StaleDataError)
    except StaleDataError:
        session.rollback()
        current = session.get(ServiceRequest, request_id)
        raise Conflict(
            "the request changed meanwhile; reload it and try again",
            field="version",
            current_version=current.version if current else None,
        ) from None
    if actor.user is not None:
        after = {"status": req.status.value, "version": req.version, "level": req.level.value}
        audit(
            session,
            actor=actor.user,
            action=f"transition:{data.action}",
            entity="request",
            entity_id=req.id,
            before=before,
            after=after,
        )


# -- categories --------------------------------------------------------------------------------


def active_categories(session: Session) -> list[RequestCategory]:
    """The categories residents may choose, in the taxonomy's order."""
    query = select(RequestCategory).where(RequestCategory.active.is_(True)).order_by(RequestCategory.id)
    return list(session.scalars(query))


def category_groups(session: Session) -> list[CategoryGroupOut]:
    """The active categories by group, groups in the order their first kind comes."""
    groups: dict[str, CategoryGroupOut] = {}
    for c in active_categories(session):
        zh, en = GROUP_LABELS[c.group]
        group = groups.setdefault(c.group.value, CategoryGroupOut(group=c.group, name_zh=zh, name_en=en, kinds=[]))
        group.kinds.append(
            CategoryKindOut(
                code=c.code,
                name_zh=c.name_zh,
                name_en=c.name_en,
                severity=c.severity,
                skill=c.skill,
                department_code=c.department_code,
                default_scope=c.default_scope,
                default_level=c.default_level,
                resolve_hours=c.resolve_hours,
                keywords=c.keywords,
                attributes=c.attributes,
            )
        )
    return list(groups.values())


# -- reading -----------------------------------------------------------------------------------


def load_request(session: Session, *, request_id: int) -> ServiceRequest:
    req = session.get(ServiceRequest, request_id)
    if req is None:
        raise NotFound(f"no request with id {request_id}", field="request_id")
    return req


def viewable_request(session: Session, *, request_id: int, user: User) -> ServiceRequest:
    """A request the signed-in ``user`` may see (404 if none, 403 if not theirs to see)."""
    req = load_request(session, request_id=request_id)
    if not access.can_view(session, user, req):
        raise Forbidden("you may not see this request")
    return req


@dataclass(frozen=True)
class RequestFilter:
    """What GET /requests narrows the caller's requests to; None (or False) is no filter."""

    status: list[Status] | None = None
    category: str | None = None
    channel: Channel | None = None
    warning_level: WarningLevel | None = None
    level: HandlingLevel | None = None
    grid_id: int | None = None
    community_id: int | None = None
    unassigned: bool = False
    bbox: BBox | None = None


def _filtered(session: Session, user: User, f: RequestFilter) -> Select[ServiceRequest]:
    query = select(ServiceRequest).where(access.visible(session, user))
    if f.status:
        query = query.where(ServiceRequest.status.in_(f.status))
    if f.category:
        query = query.join(RequestCategory).where(RequestCategory.code == f.category)
    for column, value in (
        (ServiceRequest.channel, f.channel),
        (ServiceRequest.warning_level, f.warning_level),
        (ServiceRequest.level, f.level),
        (ServiceRequest.grid_id, f.grid_id),
        (ServiceRequest.community_id, f.community_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if f.unassigned:
        query = query.where(ServiceRequest.grid_id.is_(None))
    if f.bbox is not None:
        query = query.where(intersects(session, ServiceRequest.location, f.bbox.polygon()))
    return query


def list_requests(
    session: Session, *, user: User, where: RequestFilter, limit: int, offset: int
) -> tuple[list[ServiceRequest], int]:
    """One page of the requests ``user`` may see, newest first, and how many match in all."""
    query = _filtered(session, user, where)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(ServiceRequest.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), total


def duplicates(session: Session, *, req: ServiceRequest) -> list[DuplicateOut]:
    """The requests intake suggested may be the same case, nearest first."""
    rows = session.execute(
        select(DuplicateSuggestion, ServiceRequest)
        .join(ServiceRequest, ServiceRequest.id == DuplicateSuggestion.candidate_id)
        .where(DuplicateSuggestion.request_id == req.id)
        .order_by(DuplicateSuggestion.distance_m)
    ).all()
    return [
        DuplicateOut(request_id=other.id, status=other.status, distance_m=s.distance_m, hours_apart=s.hours_apart)
        for s, other in rows
    ]


#: The steps of a case its reporter sees (own case, ``/track``): the milestones of the closed loop.
#: Internal steps (escalations, deadline breaches, recolouring, department hand-offs, pledges,
#: grid reassignments, return visits) are staff business.
PUBLIC_ACTIONS = frozenset(
    {"report", "accept", "reject", "merge", "dispatch", "arrive", "resolve", "redispatch", "verify", "evaluate"}
    | {"reopen", "close"}
)


def trail(session: Session, *, req: ServiceRequest, full: bool) -> list[TrailStep]:
    """The audit trail. ``full`` (staff): every step with its actor, note and data. Otherwise (the
    reporter, the tracking page): the public steps only, each with its action, statuses and time,
    never who took it or what staff wrote."""
    events = session.scalars(select(RequestEvent).where(RequestEvent.request_id == req.id).order_by(RequestEvent.id))
    return [
        TrailStep(
            action=e.action,
            from_=e.from_status,
            to=e.to_status,
            at=e.at.isoformat(),
            actor=e.actor if full else None,
            note=e.note if full else None,
            data=e.data if full else {},
        )
        for e in events
        if full or e.action in PUBLIC_ACTIONS
    ]


def by_tracking_code(session: Session, *, code: str) -> ServiceRequest | None:
    return session.scalar(select(ServiceRequest).where(ServiceRequest.tracking_code == code.upper()))


def dispatch_candidates(
    session: Session, *, req: ServiceRequest, settings: Settings, now: datetime, any_skill: bool, limit: int
) -> list[VolunteerCandidateOut]:
    """Volunteers for ``req``, nearest by walking first, with their open cases (all, not only
    those under the dispatch limit: the dispatcher decides)."""
    p = to_shape(req.location)
    ranked = nearest_volunteers(
        session,
        lon=p.x,
        lat=p.y,
        skill="general" if any_skill else req.category.skill,
        now=now,
        max_open_cases=10**6,
        max_age_minutes=settings.volunteer_position_max_age_minutes,
        max_snap_m=settings.max_snap_distance_m,
    )
    loads = open_loads(session)
    return [
        VolunteerCandidateOut(
            volunteer_id=r.volunteer.id,
            name_zh=r.volunteer.name_zh,
            name_en=r.volunteer.name_en,
            skills=r.volunteer.skills,
            team_zh=r.volunteer.team_zh,
            walk_m=round(r.walk_m, 1),
            walk_minutes=round(r.minutes(settings.walking_speed_mps), 1),
            method=r.method,
            open_cases=loads.get(r.volunteer.id, 0),
            available=loads.get(r.volunteer.id, 0) < settings.volunteer_max_open_cases,
        )
        for r in ranked[:limit]
    ]


# -- photos ------------------------------------------------------------------------------------


def is_handler(session: Session, *, user: User | None, req: ServiceRequest) -> bool:
    """Staff who may see the case (they add resolution and verification photos)."""
    return user is not None and user.role is not Role.RESIDENT and access.can_view(session, user, req)


def store_photo(
    session: Session,
    *,
    req: ServiceRequest,
    image: CleanImage,
    stage: str,
    uploader_ip: str | None,
    user: User | None,
    now: datetime,
    settings: Settings,
) -> RequestPhoto:
    """Add a cleaned photo to ``req`` (quotas checked in ``photos.add_photo``), audited when staff add it."""
    photo = add_photo(session, req=req, image=image, stage=stage, uploader_ip=uploader_ip, now=now, settings=settings)
    if user is not None and user.role not in (Role.RESIDENT, Role.VOLUNTEER):
        session.flush()
        audit(
            session,
            actor=user,
            action="add_photo",
            entity="request",
            entity_id=req.id,
            after={"photo_id": photo.id, "stage": photo.stage, "sha256": photo.sha256},
            now=now,
        )
    return photo


def photos_of(session: Session, *, req: ServiceRequest) -> list[RequestPhoto]:
    query = select(RequestPhoto).where(RequestPhoto.request_id == req.id).order_by(RequestPhoto.id)
    return list(session.scalars(query))


def stored_photo(session: Session, *, req: ServiceRequest, photo_id: int, settings: Settings) -> RequestPhoto:
    """Photo ``photo_id`` of ``req`` whose file is there (else 404)."""
    photo = session.get(RequestPhoto, photo_id)
    if photo is None or photo.request_id != req.id or not photo_path(settings.media_dir, photo).exists():
        raise NotFound(f"no photo {photo_id} on request {req.id}", field="photo_id")
    return photo


# -- KPIs and the joint meeting --------------------------------------------------------------


def stats(
    session: Session,
    *,
    start: str | None,
    end: str | None,
    now: datetime,
    grid_id: int | None = None,
    community_id: int | None = None,
    group_by: str | None = None,
) -> StatsOut:
    """The KPIs of ``start``..``end`` (default: the 30 days to ``now``), with the filters applied to
    the total and, with ``group_by`` (``grid`` or ``community``), to one set per group."""
    end_at = time_param(end, "end", now)
    start_at = time_param(start, "start", max(end_at - timedelta(days=30), EARLIEST))
    if start_at >= end_at:
        raise Invalid("start must be before end", field="start")
    filters = {"grid_id": grid_id, "community_id": community_id}
    overall = compute_stats(session, start=start_at, end=end_at, now=now, **filters)
    if group_by is None:
        return overall
    column = ServiceRequest.grid_id if group_by == "grid" else ServiceRequest.community_id
    query = select(column).where(
        ServiceRequest.reported_at >= start_at, ServiceRequest.reported_at < end_at, column.is_not(None)
    )
    for name, value in filters.items():
        if value is not None:
            query = query.where(getattr(ServiceRequest, name) == value)
    keys = sorted(k for k in session.scalars(query.distinct()) if k is not None)
    overall.groups = [
        compute_stats(session, start=start_at, end=end_at, now=now, **(filters | {f"{group_by}_id": key}))
        for key in keys
    ]
    return overall


def joint_meeting_items(session: Session, *, open_only: bool) -> list[JointMeetingItemOut]:
    query = select(JointMeetingItem, ServiceRequest).join(ServiceRequest).order_by(JointMeetingItem.id)
    if open_only:
        query = query.where(JointMeetingItem.closed_at.is_(None))
    return [
        JointMeetingItemOut(
            id=item.id,
            request_id=req.id,
            level=item.level,
            opened_at=item.opened_at.isoformat(),
            closed_at=item.closed_at.isoformat() if item.closed_at else None,
            request_status=req.status,
            category=req.category.code,
            warning_level=req.warning_level,
        )
        for item, req in session.execute(query)
    ]


#: A joint-meeting item is closed (销号) only once its case is done.
_DONE = (Status.VERIFIED, Status.EVALUATED, Status.CLOSED, Status.REJECTED, Status.MERGED)


def close_joint_meeting(
    session: Session, *, item_id: int, user: User, note: str | None, now: datetime
) -> JointMeetingClosedOut:
    item = session.get(JointMeetingItem, item_id)
    if item is None:
        raise NotFound(f"no joint-meeting item {item_id}", field="item_id")
    req = session.get(ServiceRequest, item.request_id)
    if item.closed_at is not None:
        raise Conflict("this item is already closed", field="item_id")
    if req is None or req.status not in _DONE:
        status = req.status.value if req is not None else "gone"
        raise Conflict(f"its case is still {status}; close the case first", field="item_id")
    item.closed_at, item.closed_by, item.note = now, user.username, note
    audit(
        session,
        actor=user,
        action="close",
        entity="joint_meeting_item",
        entity_id=item.id,
        before={"closed_at": None},
        after={"closed_at": now.isoformat(), "note": note},
        now=now,
    )
    return JointMeetingClosedOut(id=item.id, closed_at=now.isoformat(), closed_by=user.username)
