"""``/api/v1/requests``, ``/categories``, ``/track``, ``/stats`` and ``/joint-meetings``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from starlette.concurrency import run_in_threadpool

from service.audit.service import audit
from service.auth.deps import OptionalUser, require_roles
from service.auth.models import Role, User
from service.common.geojson import feature
from service.common.params import MAX_DB_ID, BBoxParam, IdPath, OffsetParam
from service.common.problems import Problem
from service.common.ratelimit import client_ip, guard_code_lookup, record_code_miss, too_many, window
from service.common.spatial import intersects
from service.deps import ClockDep, ReadSession, SettingsDep, WriteSession
from service.requests import access, policy
from service.requests.assignment import nearest_volunteers, open_loads
from service.requests.intake import NewRequest, check_channel, clean_text, submit_request
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
from service.requests.photos import STAGES, PhotoError, add_photo, clean_image, photo_path
from service.requests.schemas import RequestIn, TransitionIn
from service.requests.stats import compute_stats
from service.requests.taxonomy import GROUP_LABELS
from service.requests.views import public_status, request_dict
from service.requests.workflow import Actor, TransitionInput, apply_transition

router = APIRouter(prefix="/api/v1", tags=["requests"])

_VIEWERS = (Role.DISPATCHER, Role.GRID_WORKER, Role.PLANNER, Role.ADMIN, Role.DEPARTMENT, Role.VOLUNTEER, Role.RESIDENT)
Viewer = Annotated[User, Depends(require_roles(*_VIEWERS))]
Staff = Annotated[User, Depends(require_roles(Role.DISPATCHER, Role.GRID_WORKER, Role.PLANNER, Role.ADMIN))]
Dispatching = Annotated[User, Depends(require_roles(Role.DISPATCHER, Role.GRID_WORKER, Role.ADMIN))]
Closing = Annotated[User, Depends(require_roles(Role.DISPATCHER, Role.ADMIN))]


# -- categories --------------------------------------------------------------------------


@router.get("/categories", tags=["requests"], summary="The request category taxonomy, by group")
def categories(session: ReadSession) -> list[dict[str, Any]]:
    rows = session.scalars(select(RequestCategory).where(RequestCategory.active.is_(True)).order_by(RequestCategory.id))
    groups: dict[str, dict[str, Any]] = {}
    for c in rows:
        zh, en = GROUP_LABELS[c.group]
        group = groups.setdefault(c.group.value, {"group": c.group.value, "name_zh": zh, "name_en": en, "kinds": []})
        group["kinds"].append(
            {
                "code": c.code,
                "name_zh": c.name_zh,
                "name_en": c.name_en,
                "severity": c.severity,
                "skill": c.skill,
                "department_code": c.department_code,
                "default_scope": c.default_scope.value,
                "default_level": c.default_level.value,
                "resolve_hours": c.resolve_hours,
                "keywords": c.keywords,
                "attributes": c.attributes,
            }
        )
    return list(groups.values())


# -- intake ------------------------------------------------------------------------------


def _load(session: Session, request_id: int) -> ServiceRequest:
    req = session.get(ServiceRequest, request_id)
    if req is None:
        raise Problem(404, f"no request with id {request_id}", field="request_id")
    return req


def _created_body(session: Session, req: ServiceRequest) -> dict[str, Any]:
    body = request_dict(req, full_reporter=True)
    body["duplicates"] = _duplicates(session, req)
    return body


@router.post("/requests", status_code=201, summary="Raise a request (residents, or staff entering a call)")
def raise_request(
    request: Request,
    body: RequestIn,
    response: Response,
    session: WriteSession,
    settings: SettingsDep,
    clock: ClockDep,
    user: OptionalUser,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=200,
            description="retries with the same key from the same caller (account, or address when "
            "anonymous) return the same request, as that caller may see it now",
        ),
    ] = None,
) -> dict[str, Any]:
    """Assigns the grid (point in polygon, same rules as ``grids/locate``), the building, the grid
    worker on duty and the nearest available volunteer by walking distance, suggests duplicates and
    sets the deadlines, all in one transaction. Channels other than web, WeChat and the mini
    program (phone, walk-in, patrol) are for staff entering a case."""
    if user is None or user.role in (Role.RESIDENT, Role.VOLUNTEER):
        check_intake_rate(request, settings)
    data = NewRequest(**body.model_dump())
    # Publishing is the reporter's own choice: staff entering a request for someone cannot give it.
    data.public = data.public and (user is None or user.role in (Role.RESIDENT, Role.VOLUNTEER))
    reporter = user if user is not None and user.role is Role.RESIDENT else None
    # An Idempotency-Key belongs to its caller: the same key from someone else is another key.
    scope = f"user:{user.id}" if user is not None else f"ip:{client_ip(request)}"
    check_channel(data.channel, user)
    req, replayed = submit_request(
        session,
        data=data,
        settings=settings,
        now=clock(),
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
            now=clock(),
            after={"status": req.status.value, "category": body.category, "channel": req.channel.value},
        )
    # Read before commit (on SpatiaLite a later read would queue for the lock). A replay answers
    # as any other read by this caller now: the reporter unmasked only for those who see it.
    out = _created_body(session, req) if not replayed else _replayed_body(session, req, user)
    session.commit()
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return out


def _replayed_body(session: Session, req: ServiceRequest, user: User | None) -> dict[str, Any]:
    body = request_dict(req, full_reporter=access.full_reporter(session, user, req))
    body["duplicates"] = _duplicates(session, req)
    return body


def check_intake_rate(request: Request, settings) -> None:
    """Public intake is limited per client IP (429 with Retry-After); staff entering calls are not."""
    wait = window(request, "intake", settings.intake_rate_per_ip, 60.0).hit(client_ip(request))
    if wait:
        raise too_many(wait)


# -- reading -----------------------------------------------------------------------------


@router.get("/requests", summary="Requests visible to the caller, filtered")
def list_requests(
    session: ReadSession,
    user: Viewer,
    clock: ClockDep,
    bbox: BBoxParam,
    status: Annotated[list[Status] | None, Query()] = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    channel: Channel | None = None,
    warning_level: WarningLevel | None = None,
    level: HandlingLevel | None = None,
    grid_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    community_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    unassigned: bool = Query(False, description="only requests outside every grid (the unassigned queue)"),
    format: Annotated[str, Query(pattern="^(json|geojson)$")] = "json",
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    offset: OffsetParam = 0,
) -> dict[str, Any]:
    query = select(ServiceRequest).where(access.visible(session, user))
    if status:
        query = query.where(ServiceRequest.status.in_(status))
    if category:
        query = query.join(RequestCategory).where(RequestCategory.code == category)
    for column, value in (
        (ServiceRequest.channel, channel),
        (ServiceRequest.warning_level, warning_level),
        (ServiceRequest.level, level),
        (ServiceRequest.grid_id, grid_id),
        (ServiceRequest.community_id, community_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if unassigned:
        query = query.where(ServiceRequest.grid_id.is_(None))
    if bbox is not None:
        query = query.where(intersects(session, ServiceRequest.location, bbox.polygon()))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(query.order_by(ServiceRequest.id.desc()).limit(limit).offset(offset)).all()
    items = [request_dict(r, full_reporter=access.full_reporter(session, user, r)) for r in rows]
    now = clock().isoformat()  # the service's time, so clients count deadlines down against it
    if format == "geojson":
        return {
            "type": "FeatureCollection",
            "numberMatched": total,
            "now": now,
            "features": [feature(i["id"], r.location, i) for i, r in zip(items, rows, strict=True)],
        }
    return {"items": items, "total": total, "limit": limit, "offset": offset, "now": now}


def _duplicates(session: Session, req: ServiceRequest) -> list[dict[str, Any]]:
    rows = session.execute(
        select(DuplicateSuggestion, ServiceRequest)
        .join(ServiceRequest, ServiceRequest.id == DuplicateSuggestion.candidate_id)
        .where(DuplicateSuggestion.request_id == req.id)
        .order_by(DuplicateSuggestion.distance_m)
    ).all()
    return [
        {"request_id": other.id, "status": other.status.value, "distance_m": s.distance_m, "hours_apart": s.hours_apart}
        for s, other in rows
    ]


#: The steps of a case its reporter sees (own case, ``/track``): the milestones of the closed loop.
#: Internal steps (escalations, deadline breaches, recolouring, department hand-offs, pledges,
#: grid reassignments, return visits) are staff business.
PUBLIC_ACTIONS = frozenset(
    {"report", "accept", "reject", "merge", "dispatch", "arrive", "resolve", "redispatch", "verify", "evaluate"}
    | {"reopen", "close"}
)


def _trail(session: Session, req: ServiceRequest, *, full: bool) -> list[dict[str, Any]]:
    """The audit trail. ``full`` (staff): every step with its actor, note and data. Otherwise (the
    reporter, the tracking page): the public steps only, each with its action, statuses and time,
    never who took it or what staff wrote."""
    events = session.scalars(select(RequestEvent).where(RequestEvent.request_id == req.id).order_by(RequestEvent.id))
    return [
        {
            "action": e.action,
            "from": e.from_status,
            "to": e.to_status,
            "at": e.at.isoformat(),
            "actor": e.actor if full else None,
            "note": e.note if full else None,
            "data": e.data if full else {},
        }
        for e in events
        if full or e.action in PUBLIC_ACTIONS
    ]


@router.get("/requests/{request_id}", summary="One request with its audit trail and duplicate suggestions")
def get_request(request_id: IdPath, session: ReadSession, user: Viewer, clock: ClockDep) -> dict[str, Any]:
    req = _load(session, request_id)
    if not access.can_view(session, user, req):
        raise Problem(403, "you may not see this request")
    # whoever may view a case works in its scope (policy.scope_refusal), so no second lookup
    actions = policy.allowed_actions(req, policy.viewer(user, req), clock())
    body = request_dict(req, full_reporter=access.full_reporter(session, user, req), allowed_actions=actions)
    body["trail"] = _trail(session, req, full=user.role is not Role.RESIDENT)
    body["duplicates"] = _duplicates(session, req)
    return body


@router.get("/requests/{request_id}/volunteers", summary="Volunteers to dispatch, nearest by walking first")
def dispatch_candidates(
    request_id: IdPath,
    session: ReadSession,
    settings: SettingsDep,
    clock: ClockDep,
    user: Dispatching,
    any_skill: bool = Query(False, description="include volunteers without the category's skill"),
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[dict[str, Any]]:
    """Only for a case the caller may see (a grid worker: one in its grids), as GET /requests/{id}."""
    req = _load(session, request_id)
    if not access.can_view(session, user, req):
        raise Problem(403, "you may not see this request")
    from geoalchemy2.shape import to_shape

    p = to_shape(req.location)
    ranked = nearest_volunteers(
        session,
        lon=p.x,
        lat=p.y,
        skill="general" if any_skill else req.category.skill,
        now=clock(),
        max_open_cases=10**6,
        max_age_minutes=settings.volunteer_position_max_age_minutes,
        max_snap_m=settings.max_snap_distance_m,
    )
    loads = open_loads(session)
    return [
        {
            "volunteer_id": r.volunteer.id,
            "name_zh": r.volunteer.name_zh,
            "name_en": r.volunteer.name_en,
            "skills": r.volunteer.skills,
            "team_zh": r.volunteer.team_zh,
            "walk_m": round(r.walk_m, 1),
            "walk_minutes": round(r.minutes(settings.walking_speed_mps), 1),
            "method": r.method,
            "open_cases": loads.get(r.volunteer.id, 0),
            "available": loads.get(r.volunteer.id, 0) < settings.volunteer_max_open_cases,
        }
        for r in ranked[:limit]
    ]


@router.get("/track/{tracking_code}", tags=["requests"], summary="A request's status by its tracking code (public)")
def track(
    tracking_code: str,
    request: Request,
    session: ReadSession,
    settings: SettingsDep,
    clock: ClockDep,
) -> dict[str, Any]:
    """Lookups are limited per client IP, unknown codes much more tightly (429 with Retry-After)."""
    guard_code_lookup(request, settings)
    req = session.scalar(select(ServiceRequest).where(ServiceRequest.tracking_code == tracking_code.upper()))
    if req is None:
        record_code_miss(request, settings)
        raise Problem(404, "no request with this tracking code", field="tracking_code")
    body = public_status(req)
    body["id"] = req.id
    body["trail"] = _trail(session, req, full=False)
    holder = Actor(None, is_reporter=True)  # the tracking code's holder acts as the reporter
    body["can_evaluate"] = "evaluate" in policy.allowed_actions(req, holder, clock())
    body["can_reopen"] = policy.can_reopen(req, clock())
    return body


# -- transitions -------------------------------------------------------------------------


@router.post("/requests/{request_id}/transitions", summary="Move a request through the closed loop")
def transition(
    request_id: IdPath,
    request: Request,
    body: TransitionIn,
    session: WriteSession,
    settings: SettingsDep,
    clock: ClockDep,
    user: OptionalUser,
    if_match: Annotated[str | None, Header(max_length=40)] = None,
) -> dict[str, Any]:
    """Every action is role-checked; an illegal transition or a stale ``version`` gets 409; every
    transition is stored in the audit trail with actor, time, from, to and note."""
    req = _load(session, request_id)
    is_reporter = (user is not None and req.reporter_user_id == user.id) or _code_matches(
        request, settings, req, body.tracking_code
    )
    if user is None and not is_reporter:
        raise Problem(401, "sign in, or give the tracking_code of your request", headers={"WWW-Authenticate": "Bearer"})
    version = body.version
    if if_match:
        try:
            version = int(if_match.strip().strip("W/").strip('"'))
        except ValueError:
            raise Problem(422, 'If-Match must be the request\'s version, e.g. "3"', field="If-Match") from None
    texts = {name: clean_text(getattr(body, name)) for name in ("note", "reason", "comment")}
    data = TransitionInput(**(body.model_dump(exclude={"tracking_code"}) | texts | {"version": version}))
    before = {"status": req.status.value, "version": req.version, "level": req.level.value}
    actor = Actor(user, is_reporter=is_reporter)
    try:
        apply_transition(session, req=req, data=data, actor=actor, now=clock(), settings=settings)
        session.flush()  # the version moves here (or StaleDataError); the answer is read before commit
        if user is not None:
            after = {"status": req.status.value, "version": req.version, "level": req.level.value}
            audit(
                session,
                actor=user,
                action=f"transition:{body.action}",
                entity="request",
                entity_id=req.id,
                before=before,
                after=after,
            )
        actions = policy.actions_for(session, req, actor, clock())
        out = request_dict(req, full_reporter=access.full_reporter(session, user, req), allowed_actions=actions)
        out["can_reopen"] = policy.can_reopen(req, clock())
        session.commit()
    except StaleDataError:
        session.rollback()
        current = session.get(ServiceRequest, request_id)
        raise Problem(
            409,
            "the request changed meanwhile; reload it and try again",
            field="version",
            current_version=current.version if current else None,
        ) from None
    return out


# -- photos ------------------------------------------------------------------------------


def _code_matches(request: Request, settings, req: ServiceRequest, tracking_code: str | None) -> bool:
    """Whether a given tracking code is this request's; a wrong one counts as a guess (429 after
    too many, like ``/track``)."""
    if tracking_code is None:
        return False
    guard_code_lookup(request, settings)
    if tracking_code.upper() == req.tracking_code:
        return True
    record_code_miss(request, settings)
    return False


def _may_handle_photos(
    request: Request, settings, session: Session, user: User | None, req: ServiceRequest, tracking_code: str | None
) -> bool:
    if _code_matches(request, settings, req, tracking_code):
        return True
    return user is not None and (
        req.reporter_user_id == user.id or (user.role is not Role.RESIDENT and access.can_view(session, user, req))
    )


def _refused(user, detail: str) -> Problem:
    """403 for a signed-in caller; 401 with the Bearer challenge (RFC 9110) for an anonymous one."""
    return Problem(403, detail) if user else Problem(401, detail, headers={"WWW-Authenticate": "Bearer"})


@router.post("/requests/{request_id}/photos", status_code=201, summary="Attach a photo (JPEG, PNG or WebP)")
async def upload_photo(
    request_id: IdPath,
    request: Request,
    session: WriteSession,
    settings: SettingsDep,
    clock: ClockDep,
    user: OptionalUser,
    file: Annotated[UploadFile, File(description="the photo")],
    stage: Annotated[str, Form(max_length=20)] = "report",
    tracking_code: Annotated[str | None, Form(max_length=16)] = None,
) -> dict[str, Any]:
    """The image is decoded and stored re-encoded without its metadata (EXIF GPS and the like).
    Quotas: per request and stage (409), per client IP and hour for all but staff (429 with
    Retry-After), and the storage budget (507). The reporter adds ``report`` photos only."""
    req = _load(session, request_id)
    if not _may_handle_photos(request, settings, session, user, req, tracking_code):
        raise _refused(user, "only the reporter (or its tracking code) and staff may add photos")
    handler = user is not None and user.role is not Role.RESIDENT and access.can_view(session, user, req)
    if stage in STAGES and stage != "report" and not handler:
        raise Problem(403, "the reporter adds report photos; resolution and verification are staff's", field="stage")
    uploader_ip = None if user is not None and user.role not in (Role.RESIDENT, Role.VOLUNTEER) else client_ip(request)
    session.rollback()  # nothing written yet: do not hold SQLite's write lock while the image is decoded
    data = await file.read(settings.max_photo_bytes + 1)
    try:
        image = await run_in_threadpool(
            clean_image, data, max_bytes=settings.max_photo_bytes, max_pixels=settings.photo_max_pixels
        )
        photo = add_photo(
            session, req=req, image=image, stage=stage, uploader_ip=uploader_ip, now=clock(), settings=settings
        )
        if user is not None and user.role not in (Role.RESIDENT, Role.VOLUNTEER):
            session.flush()
            audit(
                session,
                actor=user,
                action="add_photo",
                entity="request",
                entity_id=req.id,
                after={"photo_id": photo.id, "stage": photo.stage, "sha256": photo.sha256},
                now=clock(),
            )
        session.commit()
    except PhotoError as exc:
        session.rollback()
        raise Problem(exc.status, str(exc), field=exc.field, headers=exc.headers) from None
    return {
        "id": photo.id,
        "content_type": photo.content_type,
        "size": photo.size,
        "sha256": photo.sha256,
        "stage": photo.stage,
        "url": f"/api/v1/requests/{req.id}/photos/{photo.id}",
    }


@router.get("/requests/{request_id}/photos", summary="The photos of a request")
def list_photos(
    request_id: IdPath,
    request: Request,
    session: ReadSession,
    settings: SettingsDep,
    user: OptionalUser,
    tracking_code: Annotated[str | None, Query(max_length=16)] = None,
) -> list[dict[str, Any]]:
    req = _load(session, request_id)
    if not _may_handle_photos(request, settings, session, user, req, tracking_code):
        raise _refused(user, "you may not see this request's photos")
    rows = session.scalars(select(RequestPhoto).where(RequestPhoto.request_id == req.id).order_by(RequestPhoto.id))
    return [
        {
            "id": p.id,
            "content_type": p.content_type,
            "size": p.size,
            "stage": p.stage,
            "uploaded_at": p.uploaded_at.isoformat(),
            "url": f"/api/v1/requests/{req.id}/photos/{p.id}",
        }
        for p in rows
    ]


@router.get(
    "/requests/{request_id}/photos/{photo_id}",
    summary="One photo's bytes",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
)
def get_photo(
    request_id: IdPath,
    photo_id: IdPath,
    request: Request,
    session: ReadSession,
    settings: SettingsDep,
    user: OptionalUser,
    tracking_code: Annotated[str | None, Query(max_length=16)] = None,
) -> FileResponse:
    """Served inline under a fixed name, sandboxed (``Content-Security-Policy: sandbox``) and, as
    every answer, with ``X-Content-Type-Options: nosniff``: a file that a browser would take for a
    page can run nothing."""
    req = _load(session, request_id)
    if not _may_handle_photos(request, settings, session, user, req, tracking_code):
        raise _refused(user, "you may not see this request's photos")
    photo = session.get(RequestPhoto, photo_id)
    if photo is None or photo.request_id != req.id or not photo_path(settings.media_dir, photo).exists():
        raise Problem(404, f"no photo {photo_id} on request {request_id}", field="photo_id")
    name = f"request-{req.id}-photo-{photo.id}{Path(photo.path).suffix}"
    headers = {"Content-Disposition": f'inline; filename="{name}"', "Content-Security-Policy": "sandbox"}
    return FileResponse(photo_path(settings.media_dir, photo), media_type=photo.content_type, headers=headers)


# -- KPIs and the joint meeting ----------------------------------------------------------


_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _parse_time(value: str | None, field: str, default: datetime) -> datetime:
    if value is None:
        return default
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Problem(422, f"{field} must be an ISO 8601 date or datetime", field=field) from None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if not _EARLIEST <= parsed <= _LATEST:
        raise Problem(422, f"{field} must lie between 2000 and 2200", field=field)
    return parsed


@router.get("/stats", summary="KPIs: closure and on-time rates, response times, satisfaction, counts")
def stats(
    session: ReadSession,
    clock: ClockDep,
    _user: Staff,
    start: Annotated[str | None, Query(max_length=40, description="ISO date/datetime; default 30 days ago")] = None,
    end: Annotated[str | None, Query(max_length=40, description="ISO date/datetime; default now")] = None,
    grid_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    community_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    group_by: Annotated[str | None, Query(pattern="^(grid|community)$")] = None,
) -> dict[str, Any]:
    """The filters (``grid_id``, ``community_id``) apply to the total and to every group."""
    now = clock()
    end_at = _parse_time(end, "end", now)
    start_at = _parse_time(start, "start", max(end_at - timedelta(days=30), _EARLIEST))
    if start_at >= end_at:
        raise Problem(422, "start must be before end", field="start")
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
    keys = sorted(session.scalars(query.distinct()))
    groups = [
        compute_stats(session, start=start_at, end=end_at, now=now, **(filters | {f"{group_by}_id": key}))
        for key in keys
    ]
    return overall | {"groups": groups}


@router.get("/joint-meetings", summary="Cases at township level or above, tracked until closed (销号)")
def joint_meetings(session: ReadSession, _user: Staff, open_only: bool = True) -> list[dict[str, Any]]:
    query = select(JointMeetingItem, ServiceRequest).join(ServiceRequest).order_by(JointMeetingItem.id)
    if open_only:
        query = query.where(JointMeetingItem.closed_at.is_(None))
    return [
        {
            "id": item.id,
            "request_id": req.id,
            "level": item.level.value,
            "opened_at": item.opened_at.isoformat(),
            "closed_at": item.closed_at.isoformat() if item.closed_at else None,
            "request_status": req.status.value,
            "category": req.category.code,
            "warning_level": req.warning_level.value,
        }
        for item, req in session.execute(query)
    ]


@router.post("/joint-meetings/{item_id}/close", summary="Close (销号) a joint-meeting item once its case is done")
def close_joint_meeting(
    item_id: IdPath,
    session: WriteSession,
    clock: ClockDep,
    user: Closing,
    note: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    item = session.get(JointMeetingItem, item_id)
    if item is None:
        raise Problem(404, f"no joint-meeting item {item_id}", field="item_id")
    req = session.get(ServiceRequest, item.request_id)
    if item.closed_at is not None:
        raise Problem(409, "this item is already closed", field="item_id")
    if req.status not in (Status.VERIFIED, Status.EVALUATED, Status.CLOSED, Status.REJECTED, Status.MERGED):
        raise Problem(409, f"its case is still {req.status.value}; close the case first", field="item_id")
    item.closed_at, item.closed_by, item.note = clock(), user.username, note
    audit(
        session,
        actor=user,
        action="close",
        entity="joint_meeting_item",
        entity_id=item.id,
        before={"closed_at": None},
        after={"closed_at": item.closed_at.isoformat(), "note": note},
        now=clock(),
    )
    session.commit()
    return {"id": item.id, "closed_at": item.closed_at.isoformat(), "closed_by": item.closed_by}
