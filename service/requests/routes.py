"""``/api/v1/requests``, ``/categories``, ``/track``, ``/stats`` and ``/joint-meetings``.

The routes parse, check who is asking, call ``service`` (or intake and the workflow) and shape
the answer as the read models of ``schemas`` say. Refusals are domain errors, answered by the one
handler (service/common/problems.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from service.auth.deps import OptionalUser, require_roles
from service.auth.models import Role, User
from service.common.etags import if_match_version
from service.common.geojson import feature
from service.common.params import MAX_DB_ID, BBoxParam, IdPath, OffsetParam
from service.common.problems import Problem
from service.common.ratelimit import client_ip, guard_code_lookup, guard_intake, record_code_miss
from service.config import Settings
from service.deps import ClockDep, ReadSession, SettingsDep, WriteSession
from service.requests import access, policy, service, triage
from service.requests.intake import NewRequest, clean_text
from service.requests.models import CategoryGroup, Channel, HandlingLevel, ServiceRequest, Status, WarningLevel
from service.requests.photos import STAGES, clean_image, photo_path
from service.requests.schemas import (
    CaseCreatedOut,
    CaseDetailOut,
    CaseFeatureCollection,
    CasePage,
    CaseTransitionedOut,
    CategoryGroupOut,
    JointMeetingClosedOut,
    JointMeetingItemOut,
    PhotoOut,
    PhotoStoredOut,
    QueuePage,
    RequestIn,
    StatsOut,
    TrackOut,
    TransitionIn,
    VolunteerCandidateOut,
)
from service.requests.views import public_status, request_dict
from service.requests.workflow import Actor, TransitionInput

router = APIRouter(prefix="/api/v1", tags=["requests"])

_VIEWERS = (Role.DISPATCHER, Role.GRID_WORKER, Role.PLANNER, Role.ADMIN, Role.DEPARTMENT, Role.VOLUNTEER, Role.RESIDENT)
Viewer = Annotated[User, Depends(require_roles(*_VIEWERS))]
Staff = Annotated[User, Depends(require_roles(Role.DISPATCHER, Role.GRID_WORKER, Role.PLANNER, Role.ADMIN))]
Dispatching = Annotated[User, Depends(require_roles(Role.DISPATCHER, Role.GRID_WORKER, Role.ADMIN))]
Closing = Annotated[User, Depends(require_roles(Role.DISPATCHER, Role.ADMIN))]


# -- categories --------------------------------------------------------------------------


@router.get(
    "/categories",
    tags=["requests"],
    summary="The request category taxonomy, by group",
    response_model=list[CategoryGroupOut],
)
def categories(session: ReadSession) -> list[CategoryGroupOut]:
    return service.category_groups(session)


# -- intake ------------------------------------------------------------------------------


def _case_with_duplicates(session: Session, req: ServiceRequest, *, full_reporter: bool) -> dict[str, Any]:
    return request_dict(req, full_reporter=full_reporter) | {"duplicates": service.duplicates(session, req=req)}


@router.post(
    "/requests",
    status_code=201,
    summary="Raise a request (residents, or staff entering a call)",
    response_model=CaseCreatedOut,
    response_model_exclude_unset=True,  # a case payload without allowed_actions leaves it out
)
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
        guard_intake(request, settings)
    # An Idempotency-Key belongs to its caller: the same key from someone else is another key.
    scope = service.caller_scope(user_id=user.id if user is not None else None, ip=client_ip(request))
    req, replayed = service.raise_request(
        session,
        data=NewRequest(**body.model_dump()),
        user=user,
        settings=settings,
        now=clock(),
        idempotency_key=idempotency_key,
        scope=scope,
    )
    # Read before commit (on SpatiaLite a later read would queue for the lock). A replay answers
    # as any other read by this caller now: the reporter unmasked only for those who see it.
    full = True if not replayed else access.full_reporter(session, user, req)
    out = _case_with_duplicates(session, req, full_reporter=full)
    session.commit()
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return out


# -- reading -----------------------------------------------------------------------------


@router.get(
    "/requests",
    summary="Requests visible to the caller, filtered",
    response_model=CasePage | CaseFeatureCollection,
)
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
) -> JSONResponse:
    where = service.RequestFilter(
        status=status,
        category=category,
        channel=channel,
        warning_level=warning_level,
        level=level,
        grid_id=grid_id,
        community_id=community_id,
        unassigned=unassigned,
        bbox=bbox,
    )
    rows, total = service.list_requests(session, user=user, where=where, limit=limit, offset=offset)
    items = [request_dict(r, full_reporter=access.full_reporter(session, user, r)) for r in rows]
    now = clock().isoformat()  # the service's time, so clients count deadlines down against it
    # Up to 5000 cases: answered as built (validating them against the model would cost ~0.3 s);
    # tests/service/requests/test_read_models.py holds the payload to CaseOut.
    if format == "geojson":
        features = [feature(i["id"], r.location, i) for i, r in zip(items, rows, strict=True)]
        return JSONResponse({"type": "FeatureCollection", "numberMatched": total, "now": now, "features": features})
    return JSONResponse({"items": items, "total": total, "limit": limit, "offset": offset, "now": now})


Triaging = Annotated[User, Depends(require_roles(Role.DISPATCHER, Role.ADMIN, Role.GRID_WORKER, Role.DEPARTMENT))]


@router.get(
    "/requests/queue",
    summary="The triage queue: open cases, most urgent first, with counts per level",
    response_model=QueuePage,
)
def triage_queue(
    session: ReadSession,
    user: Triaging,
    clock: ClockDep,
    sort: Annotated[str, Query(pattern="^(urgency|due|created)$")] = "urgency",
    level: WarningLevel | None = None,
    unassigned: bool = Query(False, description="only cases outside every grid"),
    outside_coverage: bool | None = None,
    grid_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    community_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    township: Annotated[str | None, Query(max_length=32, description="a township's area code")] = None,
    group: Annotated[CategoryGroup | None, Query(description="a category group")] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="an id, a tracking code, the reporter's phone (exact digits; dispatchers and "
            "admins) or address text (building name or number, grid name)",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: OffsetParam = 0,
) -> dict[str, Any]:
    """Open cases the caller may see (department and grid worker: their own), ordered by ``sort``:
    ``urgency`` (severity × lateness, service/requests/triage.py), ``due`` or ``created``. Counts
    are over every match, not the page; page through all with ``next_offset``."""
    where = triage.QueueFilter(
        level=level,
        unassigned=unassigned,
        outside_coverage=outside_coverage,
        grid_id=grid_id,
        community_id=community_id,
        township=township,
        group=group,
        q=q,
    )
    now = clock()
    page = triage.queue(session, user=user, where=where, sort=sort, limit=limit, offset=offset, now=now)
    items = [
        request_dict(i.request, full_reporter=access.full_reporter(session, user, i.request))
        | {"urgency": i.urgency, "overdue_minutes": i.overdue_minutes}
        for i in page.items
    ]
    return {
        "total": page.total,
        "counts": page.counts,
        "items": items,
        "next_offset": page.next_offset,
        "now": now.isoformat(),
    }


@router.get(
    "/requests/{request_id}",
    summary="One request with its audit trail and duplicate suggestions",
    response_model=CaseDetailOut,
    response_model_exclude_unset=True,  # a case payload without allowed_actions leaves it out
)
def get_request(request_id: IdPath, session: ReadSession, user: Viewer, clock: ClockDep) -> dict[str, Any]:
    req = service.viewable_request(session, request_id=request_id, user=user)
    # whoever may view a case works in its scope (policy.scope_refusal), so no second lookup
    actions = policy.allowed_actions(req, policy.viewer(user, req), clock())
    body = request_dict(req, full_reporter=access.full_reporter(session, user, req), allowed_actions=actions)
    body["trail"] = service.trail(session, req=req, full=user.role is not Role.RESIDENT)
    body["duplicates"] = service.duplicates(session, req=req)
    return body


@router.get(
    "/requests/{request_id}/volunteers",
    summary="Volunteers to dispatch, nearest by walking first",
    response_model=list[VolunteerCandidateOut],
)
def dispatch_candidates(
    request_id: IdPath,
    session: ReadSession,
    settings: SettingsDep,
    clock: ClockDep,
    user: Dispatching,
    any_skill: bool = Query(False, description="include volunteers without the category's skill"),
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[VolunteerCandidateOut]:
    """Only for a case the caller may see (a grid worker: one in its grids), as GET /requests/{id}."""
    req = service.viewable_request(session, request_id=request_id, user=user)
    return service.dispatch_candidates(
        session, req=req, settings=settings, now=clock(), any_skill=any_skill, limit=limit
    )


@router.get(
    "/track/{tracking_code}",
    tags=["requests"],
    summary="A request's status by its tracking code (public)",
    response_model=TrackOut,
)
def track(
    tracking_code: str,
    request: Request,
    session: ReadSession,
    settings: SettingsDep,
    clock: ClockDep,
) -> dict[str, Any]:
    """Lookups are limited per client IP, unknown codes much more tightly (429 with Retry-After)."""
    guard_code_lookup(request, settings)
    req = service.by_tracking_code(session, code=tracking_code)
    if req is None:
        record_code_miss(request, settings)
        raise Problem(404, "no request with this tracking code", field="tracking_code")
    body = public_status(req)
    body["id"] = req.id
    body["trail"] = service.trail(session, req=req, full=False)
    holder = Actor(None, is_reporter=True)  # the tracking code's holder acts as the reporter
    body["can_evaluate"] = "evaluate" in policy.allowed_actions(req, holder, clock())
    body["can_reopen"] = policy.can_reopen(req, clock())
    return body


# -- transitions -------------------------------------------------------------------------


@router.post(
    "/requests/{request_id}/transitions",
    summary="Move a request through the closed loop",
    response_model=CaseTransitionedOut,
    response_model_exclude_unset=True,  # a case payload without allowed_actions leaves it out
)
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
    req = service.load_request(session, request_id=request_id)
    is_reporter = (user is not None and req.reporter_user_id == user.id) or _code_matches(
        request, settings, req, body.tracking_code
    )
    if user is None and not is_reporter:
        raise Problem(401, "sign in, or give the tracking_code of your request", headers={"WWW-Authenticate": "Bearer"})
    version = if_match_version(if_match or None, what="request's version", example=3)
    version = body.version if version is None else version
    texts = {name: clean_text(getattr(body, name)) for name in ("note", "reason", "comment")}
    data = TransitionInput(**(body.model_dump(exclude={"tracking_code"}) | texts | {"version": version}))
    actor = Actor(user, is_reporter=is_reporter)
    service.transition(session, req=req, data=data, actor=actor, settings=settings, now=clock())
    # the answer is read before commit (on SpatiaLite a later read would queue for the lock)
    actions = policy.actions_for(session, req, actor, clock())
    out = request_dict(req, full_reporter=access.full_reporter(session, user, req), allowed_actions=actions)
    out["can_reopen"] = policy.can_reopen(req, clock())
    session.commit()
    return out


# -- photos ------------------------------------------------------------------------------


def _code_matches(request: Request, settings: Settings, req: ServiceRequest, tracking_code: str | None) -> bool:
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
    request: Request,
    settings: Settings,
    session: Session,
    user: User | None,
    req: ServiceRequest,
    tracking_code: str | None,
) -> bool:
    if _code_matches(request, settings, req, tracking_code):
        return True
    return user is not None and (req.reporter_user_id == user.id or service.is_handler(session, user=user, req=req))


def _refused(user: User | None, detail: str) -> Problem:
    """403 for a signed-in caller; 401 with the Bearer challenge (RFC 9110) for an anonymous one."""
    return Problem(403, detail) if user else Problem(401, detail, headers={"WWW-Authenticate": "Bearer"})


def _photo_url(req_id: int, photo_id: int) -> str:
    return f"/api/v1/requests/{req_id}/photos/{photo_id}"


@router.post(
    "/requests/{request_id}/photos",
    status_code=201,
    summary="Attach a photo (JPEG, PNG or WebP)",
    response_model=PhotoStoredOut,
)
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
) -> PhotoStoredOut:
    """The image is decoded and stored re-encoded without its metadata (EXIF GPS and the like).
    Quotas: per request and stage (409), per client IP and hour for all but staff (429 with
    Retry-After), and the storage budget (507). The reporter adds ``report`` photos only."""
    req = service.load_request(session, request_id=request_id)
    if not _may_handle_photos(request, settings, session, user, req, tracking_code):
        raise _refused(user, "only the reporter (or its tracking code) and staff may add photos")
    if stage in STAGES and stage != "report" and not service.is_handler(session, user=user, req=req):
        raise Problem(403, "the reporter adds report photos; resolution and verification are staff's", field="stage")
    uploader_ip = None if user is not None and user.role not in (Role.RESIDENT, Role.VOLUNTEER) else client_ip(request)
    session.rollback()  # nothing written yet: do not hold SQLite's write lock while the image is decoded
    data = await file.read(settings.max_photo_bytes + 1)
    image = await run_in_threadpool(
        clean_image, data, max_bytes=settings.max_photo_bytes, max_pixels=settings.photo_max_pixels
    )
    photo = service.store_photo(
        session, req=req, image=image, stage=stage, uploader_ip=uploader_ip, user=user, now=clock(), settings=settings
    )
    session.commit()
    return PhotoStoredOut(
        id=photo.id,
        content_type=photo.content_type,
        size=photo.size,
        sha256=photo.sha256,
        stage=photo.stage,
        url=_photo_url(req.id, photo.id),
    )


@router.get("/requests/{request_id}/photos", summary="The photos of a request", response_model=list[PhotoOut])
def list_photos(
    request_id: IdPath,
    request: Request,
    session: ReadSession,
    settings: SettingsDep,
    user: OptionalUser,
    tracking_code: Annotated[str | None, Query(max_length=16)] = None,
) -> list[PhotoOut]:
    req = service.load_request(session, request_id=request_id)
    if not _may_handle_photos(request, settings, session, user, req, tracking_code):
        raise _refused(user, "you may not see this request's photos")
    return [
        PhotoOut(
            id=p.id,
            content_type=p.content_type,
            size=p.size,
            stage=p.stage,
            uploaded_at=p.uploaded_at.isoformat(),
            url=_photo_url(req.id, p.id),
        )
        for p in service.photos_of(session, req=req)
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
    req = service.load_request(session, request_id=request_id)
    if not _may_handle_photos(request, settings, session, user, req, tracking_code):
        raise _refused(user, "you may not see this request's photos")
    photo = service.stored_photo(session, req=req, photo_id=photo_id, settings=settings)
    name = f"request-{req.id}-photo-{photo.id}{Path(photo.path).suffix}"
    headers = {"Content-Disposition": f'inline; filename="{name}"', "Content-Security-Policy": "sandbox"}
    return FileResponse(photo_path(settings.media_dir, photo), media_type=photo.content_type, headers=headers)


# -- KPIs and the joint meeting ----------------------------------------------------------


@router.get(
    "/stats",
    summary="KPIs: closure and on-time rates, response times, satisfaction, counts",
    response_model=StatsOut,
    response_model_exclude_unset=True,
)
def stats(
    session: ReadSession,
    clock: ClockDep,
    _user: Staff,
    start: Annotated[str | None, Query(max_length=40, description="ISO date/datetime; default 30 days ago")] = None,
    end: Annotated[str | None, Query(max_length=40, description="ISO date/datetime; default now")] = None,
    grid_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    community_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    group_by: Annotated[str | None, Query(pattern="^(grid|community)$")] = None,
) -> StatsOut:
    """The filters (``grid_id``, ``community_id``) apply to the total and to every group."""
    return service.stats(
        session, start=start, end=end, now=clock(), grid_id=grid_id, community_id=community_id, group_by=group_by
    )


@router.get(
    "/joint-meetings",
    summary="Cases at township level or above, tracked until closed (销号)",
    response_model=list[JointMeetingItemOut],
)
def joint_meetings(session: ReadSession, _user: Staff, open_only: bool = True) -> list[JointMeetingItemOut]:
    return service.joint_meeting_items(session, open_only=open_only)


@router.post(
    "/joint-meetings/{item_id}/close",
    summary="Close (销号) a joint-meeting item once its case is done",
    response_model=JointMeetingClosedOut,
)
def close_joint_meeting(
    item_id: IdPath,
    session: WriteSession,
    clock: ClockDep,
    user: Closing,
    note: Annotated[str | None, Query(max_length=500)] = None,
) -> JointMeetingClosedOut:
    out = service.close_joint_meeting(session, item_id=item_id, user=user, note=note, now=clock())
    session.commit()
    return out
