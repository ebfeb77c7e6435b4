"""``/api/v1/wishes``: micro-wishes and mutual-aid projects — post, list, near me (by walking),
claim, release, fulfil, confirm, cancel, and monthly stats per grid."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from geoalchemy2.shape import to_shape
from pydantic import BaseModel, ConfigDict, Field, Strict
from shapely.geometry import Point
from sqlalchemy import func, or_, select
from sqlalchemy.orm.exc import StaleDataError

from geo.circles import minutes_to_metres
from geo.coords import CoordType
from geo.crs import metres_to_degrees
from service.auth.deps import require_roles
from service.auth.models import Role, User
from service.common.fields import Id, Number
from service.common.geojson import feature
from service.common.params import MAX_DB_ID, IdPath, OffsetParam, PointParam
from service.common.problems import Problem
from service.common.spatial import box_overlaps
from service.community.people import volunteer_of
from service.community.times import month_key, parse_time
from service.deps import ClockDep, ReadSession, SettingsDep, WriteSession
from service.stations.coverage import CoverageError, network
from service.wishes import service as wishes
from service.wishes.models import WISH_CATEGORIES, Wish, WishKind, WishStatus
from service.wishes.service import NewWish, WishError

router = APIRouter(prefix="/api/v1/wishes", tags=["wishes"])

_MEMBERS = (Role.RESIDENT, Role.VOLUNTEER, Role.GRID_WORKER, Role.DISPATCHER, Role.ADMIN, Role.PLANNER)
Member = Annotated[User, Depends(require_roles(*_MEMBERS))]
Poster = Annotated[
    User, Depends(require_roles(Role.RESIDENT, Role.VOLUNTEER, Role.GRID_WORKER, Role.DISPATCHER, Role.ADMIN))
]
Staff = Annotated[User, Depends(require_roles(Role.GRID_WORKER, Role.DISPATCHER, Role.ADMIN, Role.PLANNER))]
SEES_ALL = frozenset({Role.GRID_WORKER, Role.DISPATCHER, Role.ADMIN, Role.PLANNER})

Hours = Annotated[float, Strict(), Field(gt=0, le=24, allow_inf_nan=False)]


class WishIn(BaseModel):
    """A wish (a need) or a project (a mutual-aid offer). Give ``lon``/``lat`` or a ``building_id``;
    the wish is shown at its building's entrance, never at a flat."""

    model_config = ConfigDict(extra="forbid")

    kind: WishKind = WishKind.WISH
    category: str = Field(max_length=40, description=", ".join(WISH_CATEGORIES))
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    lon: Number | None = None
    lat: Number | None = None
    coord_type: CoordType = CoordType.WGS84
    building_id: Id | None = None
    hours: Hours = Field(default=1.0, description="expected effort; the claimant earns points for it")
    on_behalf_of: str | None = Field(default=None, max_length=100, description="staff: the resident's name")


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Id | None = Field(default=None, description="the wish's version, to refuse a stale step (409)")
    note: str | None = Field(default=None, max_length=2000)


def _problem(exc: WishError) -> Problem:
    return Problem(exc.status, str(exc), field=exc.field)


def _visible(session, user: User, wish: Wish) -> bool:
    if user.role in SEES_ALL or wish.status is WishStatus.OPEN or wish.poster_user_id == user.id:
        return True
    volunteer = volunteer_of(session, user)
    return volunteer is not None and wish.claimant_volunteer_id == volunteer.id


def _out(session, wish: Wish, user: User) -> dict[str, Any]:
    return wishes.wish_dict(wish, people=wishes.sees_people(session, wish, user), viewer_id=user.id)


@router.post("", status_code=201, summary="Post a wish or a mutual-aid project (residents, volunteers, staff)")
def post(body: WishIn, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: Poster) -> dict[str, Any]:
    if (body.lon is None) != (body.lat is None):
        missing = "lat" if body.lat is None else "lon"
        raise Problem(422, f"{missing} is required when the other coordinate is given", field=missing)
    try:
        wish = wishes.post_wish(session, data=NewWish(**body.model_dump()), user=user, settings=settings, now=clock())
        session.commit()
    except WishError as exc:
        session.rollback()
        raise _problem(exc) from None
    return _out(session, wish, user)


@router.get("", summary="Wishes and projects: open ones, and your own (staff see all)")
def list_wishes(
    session: ReadSession,
    user: Member,
    status: Annotated[list[WishStatus] | None, Query()] = None,
    kind: WishKind | None = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    grid_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    community_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    mine: bool = Query(False, description="only wishes I posted or claimed"),
    format: Annotated[str, Query(pattern="^(json|geojson)$")] = "json",
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    offset: OffsetParam = 0,
) -> dict[str, Any]:
    """``format=geojson`` gives a FeatureCollection at building level for the map's open-wishes layer
    (``status=open``)."""
    volunteer = volunteer_of(session, user)
    own = [Wish.poster_user_id == user.id]
    if volunteer is not None:
        own.append(Wish.claimant_volunteer_id == volunteer.id)
    query = select(Wish)
    if mine:
        query = query.where(or_(*own))
    elif user.role not in SEES_ALL:
        query = query.where(or_(Wish.status == WishStatus.OPEN, *own))
    if status:
        query = query.where(Wish.status.in_(status))
    for column, value in (
        (Wish.kind, kind),
        (Wish.category, category),
        (Wish.grid_id, grid_id),
        (Wish.community_id, community_id),
    ):
        if value is not None:
            query = query.where(column == value)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = list(session.scalars(query.order_by(Wish.id.desc()).limit(limit).offset(offset)))
    items = [_out(session, w, user) for w in rows]
    if format == "geojson":
        return {
            "type": "FeatureCollection",
            "numberMatched": total,
            "features": [feature(i["id"], w.location, i) for i, w in zip(items, rows, strict=True)],
        }
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/nearby", summary="Open wishes near a point, nearest by walking first (signed in)")
def nearby(
    session: ReadSession,
    settings: SettingsDep,
    user: Member,
    point: PointParam,
    kind: WishKind | None = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    minutes: Annotated[int, Query(ge=1, le=60, description="walking time limit")] = 15,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Sorted by the whole walk on the street network (point → street → streets → street → the
    wish's building), as the station finder walks; ``walk_m`` and ``walk_minutes`` per wish."""
    try:
        graph = network(session)
    except CoverageError as exc:
        raise Problem(exc.status, str(exc), field=exc.field) from None
    source = graph.snap(point.lon, point.lat)
    if source.offset_m > settings.max_snap_distance_m:
        raise Problem(
            422,
            f"the point is {source.offset_m:.0f} m from the nearest street (limit "
            f"{settings.max_snap_distance_m:.0f} m); is it inside the served area?",
            field="lon",
        )
    budget = minutes_to_metres(minutes, settings.walking_speed_mps)
    frame = Point(point.lon, point.lat).buffer(metres_to_degrees(budget, point.lat) * 1.2).envelope
    query = select(Wish).where(Wish.status == WishStatus.OPEN, box_overlaps(session, Wish.location, frame))
    if kind is not None:
        query = query.where(Wish.kind == kind)
    if category is not None:
        query = query.where(Wish.category == category)
    rows = list(session.scalars(query.order_by(Wish.id)))
    items = []
    if rows:
        points = [to_shape(w.location) for w in rows]
        snaps = graph.snap_many([p.x for p in points], [p.y for p in points])
        walks = graph.distances_to(source, snaps, limit_m=budget)
        ranked = sorted((float(m), w.id, w) for m, w in zip(walks, rows, strict=True) if m <= budget)
        for metres, _id, wish in ranked[:limit]:
            item = _out(session, wish, user)
            item["walk_m"] = round(metres, 1)
            item["walk_minutes"] = round(metres / settings.walking_speed_mps / 60, 2)
            items.append(item)
    return {
        "from": {"lon": point.lon, "lat": point.lat, "coord_type": "wgs84"},
        "minutes": minutes,
        "items": items,
    }


@router.get("/categories", summary="Wish categories with their names (public)")
def categories() -> list[dict[str, str]]:
    """The codes ``category`` takes when posting, with the names the pages show."""
    return [{"code": code, "name_zh": zh, "name_en": en} for code, (zh, en, _kind) in WISH_CATEGORIES.items()]


@router.get("/stats", summary="Wishes posted, claimed, fulfilled and confirmed per grid and month (staff)")
def stats(
    session: ReadSession,
    clock: ClockDep,
    _user: Staff,
    start: Annotated[str | None, Query(max_length=40, description="ISO date; default a year before end")] = None,
    end: Annotated[str | None, Query(max_length=40, description="ISO date; default now")] = None,
    grid_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    community_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    kind: WishKind | None = None,
) -> dict[str, Any]:
    """Each wish counts in the month of each of its own steps (local time, UTC+8): ``posted`` by
    when it was posted, ``claimed`` by its standing claim (claims that expired or were released do
    not count), ``fulfilled`` and ``confirmed`` by when they happened."""
    now = clock()
    end_at = parse_time(end, "end", now + timedelta(seconds=1))
    start_at = parse_time(start, "start", end_at - timedelta(days=365))
    if start_at >= end_at:
        raise Problem(422, "start must be before end", field="start")
    query = select(Wish)
    for column, value in ((Wish.grid_id, grid_id), (Wish.community_id, community_id), (Wish.kind, kind)):
        if value is not None:
            query = query.where(column == value)
    counts: dict[tuple[int | None, str], dict[str, int]] = defaultdict(
        lambda: {"posted": 0, "claimed": 0, "fulfilled": 0, "confirmed": 0}
    )
    totals = {"posted": 0, "claimed": 0, "fulfilled": 0, "confirmed": 0}
    for w in session.scalars(query):
        for name, at in (
            ("posted", w.created_at),
            ("claimed", w.claimed_at),
            ("fulfilled", w.fulfilled_at),
            ("confirmed", w.confirmed_at),
        ):
            if at is not None and start_at <= at < end_at:
                counts[(w.grid_id, month_key(at))][name] += 1
                totals[name] += 1
    rows = [
        {"grid_id": g, "month": m, **c}
        for (g, m), c in sorted(counts.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1]))
    ]
    return {"period": {"start": start_at.isoformat(), "end": end_at.isoformat()}, "totals": totals, "items": rows}


@router.get("/{wish_id}", summary="One wish")
def get_wish(wish_id: IdPath, session: ReadSession, user: Member) -> dict[str, Any]:
    try:
        wish = wishes.load(session, wish_id)
    except WishError as exc:
        raise _problem(exc) from None
    if not _visible(session, user, wish):
        raise Problem(403, "this wish is no longer open; only its poster, claimant and staff see it", field="wish_id")
    return _out(session, wish, user)


def _step(action: str, wish_id: int, body: StepIn, session, settings, clock, user: User) -> dict[str, Any]:
    now = clock()
    try:
        wish = wishes.load(session, wish_id)
        if action == "claim":
            wishes.claim(session, wish=wish, user=user, settings=settings, now=now, version=body.version)
        elif action == "release":
            wishes.release(session, wish=wish, user=user, now=now, version=body.version)
        elif action == "fulfil":
            wishes.fulfil(session, wish=wish, user=user, now=now, note=body.note, version=body.version)
        elif action == "confirm":
            wishes.confirm(session, wish=wish, user=user, now=now, version=body.version)
        else:
            wishes.cancel(session, wish=wish, user=user, now=now, version=body.version)
        session.commit()
    except WishError as exc:
        session.rollback()
        raise _problem(exc) from None
    except StaleDataError:
        session.rollback()
        raise Problem(
            409, "the wish changed meanwhile (someone else acted first); reload it", field="version"
        ) from None
    return _out(session, wish, user)


@router.post("/{wish_id}/claim", summary="Claim an open wish (volunteers)")
def claim(
    wish_id: IdPath, body: StepIn, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: Member
) -> dict[str, Any]:
    """The claim holds for ``NEIGHBORGRID_WISH_CLAIM_HOURS`` (72 h); unfulfilled by then, the wish
    goes back to the open list. Two volunteers racing for one wish: one wins, the other gets 409."""
    return _step("claim", wish_id, body, session, settings, clock, user)


@router.post("/{wish_id}/release", summary="Give a claimed wish back to the open list (its claimant)")
def release(
    wish_id: IdPath, body: StepIn, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: Member
) -> dict[str, Any]:
    return _step("release", wish_id, body, session, settings, clock, user)


@router.post("/{wish_id}/fulfil", summary="Report a claimed wish fulfilled (its claimant)")
def fulfil(
    wish_id: IdPath, body: StepIn, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: Member
) -> dict[str, Any]:
    return _step("fulfil", wish_id, body, session, settings, clock, user)


@router.post("/{wish_id}/confirm", summary="Confirm a fulfilled wish; the claimant earns its points (the poster)")
def confirm(
    wish_id: IdPath, body: StepIn, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: Member
) -> dict[str, Any]:
    """Only the account that posted the wish confirms it (403 for anyone else); a wish entered without
    a poster account is confirmed by its grid's workers or a dispatcher."""
    return _step("confirm", wish_id, body, session, settings, clock, user)


@router.post("/{wish_id}/cancel", summary="Withdraw an open or claimed wish (the poster, or the grid's staff)")
def cancel(
    wish_id: IdPath, body: StepIn, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: Member
) -> dict[str, Any]:
    return _step("cancel", wish_id, body, session, settings, clock, user)
