"""The wish lifecycle: open → claimed → fulfilled → confirmed (by the poster), with release, cancel
and claim expiry. Confirmation credits the claimant's points. Also the reads the routes answer
with: who sees a wish, the lists, the walking-distance search and the monthly stats. Functions take
a session and keyword arguments and never commit; every change is audited and published
(``wish.updated``); refusals are ``DomainError``s."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import Point
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from geo.circles import minutes_to_metres
from geo.coords import CoordType, checked_to_wgs84
from geo.crs import metres_to_degrees
from geo.errors import GeoInputError
from service.audit.service import audit
from service.auth.models import Role, User
from service.buildings.models import Building
from service.buildings.service import anchor_point
from service.common.errors import Conflict, Forbidden, Invalid, NotFound
from service.common.geojson import feature
from service.common.spatial import box_overlaps
from service.common.times import Period
from service.community.people import COMMUNITY_ADMINS, may_act_in_grid, volunteer_of
from service.community.times import month_key
from service.config import Settings
from service.events.outbox import publish
from service.grids.service import locate_point
from service.points import ledger
from service.points.models import SourceType
from service.stations.coverage import network
from service.volunteers.models import Volunteer
from service.wishes.models import WISH_CATEGORIES, Wish, WishKind, WishStatus
from service.wishes.schemas import (
    GridMonthCounts,
    NearbyWish,
    NearbyWishes,
    Origin,
    WishCategory,
    WishCollection,
    WishCounts,
    WishOut,
    WishPage,
    WishStats,
)

STAFF_POSTERS = frozenset({Role.GRID_WORKER, Role.DISPATCHER, Role.ADMIN})
#: Roles that see every wish, whatever its status and whoever posted it.
SEES_ALL = frozenset({Role.GRID_WORKER, Role.DISPATCHER, Role.ADMIN, Role.PLANNER})


@dataclass
class NewWish:
    kind: WishKind
    category: str
    title: str
    description: str | None = None
    lon: float | None = None
    lat: float | None = None
    coord_type: CoordType = CoordType.WGS84
    building_id: int | None = None
    hours: float = 1.0
    on_behalf_of: str | None = None


def post_wish(session: Session, *, data: NewWish, user: User, settings: Settings, now: datetime) -> Wish:
    if (data.lon is None) != (data.lat is None):
        missing = "lat" if data.lat is None else "lon"
        raise Invalid(f"{missing} is required when the other coordinate is given", field=missing)
    if data.category not in WISH_CATEGORIES:
        raise Invalid(f"unknown category {data.category!r}; one of {', '.join(WISH_CATEGORIES)}", field="category")
    if not data.title.strip():
        raise Invalid("title must not be empty", field="title")
    if data.on_behalf_of is not None and user.role not in STAFF_POSTERS:
        raise Forbidden("only staff post wishes on behalf of a resident", field="on_behalf_of")
    building = None
    if data.building_id is not None:
        building = session.get(Building, data.building_id)
        if building is None:
            raise Invalid(f"no building with id {data.building_id}", field="building_id")
        lon, lat = anchor_point(building).coords[0]
    elif data.lon is not None and data.lat is not None:
        try:
            lon, lat = checked_to_wgs84(data.lon, data.lat, data.coord_type)
        except GeoInputError as exc:
            raise Invalid(str(exc), field=exc.field) from None
    else:
        raise Invalid("a location is required: lon and lat, or building_id", field="lon")
    where = locate_point(session, lon=lon, lat=lat, max_distance_m=settings.locate_max_distance_m)
    if where.grid is None:
        raise Invalid("the location is outside every grid of the served area", field="lon")
    building = building or where.building
    if building is not None:  # shown at building level, never as a flat
        lon, lat = anchor_point(building).coords[0]
    community = where.community or where.grid.community
    wish = Wish(
        kind=data.kind,
        category=data.category,
        title=data.title.strip(),
        description=(data.description or "").strip() or None,
        status=WishStatus.OPEN,
        location=from_shape(Point(lon, lat), srid=4326),
        building_id=building.id if building else None,
        grid_id=where.grid.id,
        community_id=community.id if community else None,
        poster_user_id=user.id,
        on_behalf_of=data.on_behalf_of,
        hours=data.hours,
        created_at=now,
        updated_at=now,
    )
    session.add(wish)
    session.flush()
    _changed(session, wish, action="post", user=user, now=now)
    return wish


def _changed(session: Session, wish: Wish, *, action: str, user: User | None, now: datetime, **extra: Any) -> None:
    wish.updated_at = now
    audit(
        session,
        actor=user,
        action=f"wish:{action}",
        entity="wish",
        entity_id=wish.id,
        after={"status": wish.status.value, "claimant_volunteer_id": wish.claimant_volunteer_id, **extra},
        now=now,
    )
    p = to_shape(wish.location)
    publish(
        session,
        "wish.updated",
        {
            "id": wish.id,
            "action": action,
            "kind": wish.kind.value,
            "category": wish.category,
            "status": wish.status.value,
            "grid_id": wish.grid_id,
            "lon": round(p.x, 7),
            "lat": round(p.y, 7),
        },
    )


def _check_version(wish: Wish, version: int | None) -> None:
    if version is not None and version != wish.version:
        raise Conflict(f"stale version {version}; the wish is at version {wish.version}", field="version")


def _claimant(session: Session, wish: Wish, user: User) -> Volunteer:
    volunteer = volunteer_of(session, user)
    if volunteer is None or wish.claimant_volunteer_id != volunteer.id:
        raise Forbidden("only the volunteer who claimed this wish may do this")
    return volunteer


def claim(
    session: Session, *, wish: Wish, user: User, settings: Settings, now: datetime, version: int | None = None
) -> Wish:
    volunteer = volunteer_of(session, user)
    if volunteer is None:
        raise Forbidden("only volunteers claim wishes; this account has no volunteer record")
    _check_version(wish, version)
    if wish.status is not WishStatus.OPEN:
        raise Conflict(f"the wish is {wish.status.value}; only open wishes can be claimed", field="wish_id")
    if wish.poster_user_id == user.id:
        raise Conflict("you posted this wish; someone else claims it", field="wish_id")
    wish.status = WishStatus.CLAIMED
    wish.claimant_volunteer_id = volunteer.id
    wish.claimed_at = now
    wish.claim_expires_at = now + timedelta(hours=settings.wish_claim_hours)
    wish.claim_count += 1
    _changed(session, wish, action="claim", user=user, now=now)
    return wish


def release(session: Session, *, wish: Wish, user: User, now: datetime, version: int | None = None) -> Wish:
    _claimant(session, wish, user)
    _check_version(wish, version)
    if wish.status is not WishStatus.CLAIMED:
        raise Conflict(f"the wish is {wish.status.value}; only a claimed wish can be released", field="wish_id")
    _reopen(wish)
    _changed(session, wish, action="release", user=user, now=now)
    return wish


def _reopen(wish: Wish) -> None:
    wish.status = WishStatus.OPEN
    wish.claimant_volunteer_id = None
    wish.claimed_at = None
    wish.claim_expires_at = None


def fulfil(
    session: Session, *, wish: Wish, user: User, now: datetime, note: str | None, version: int | None = None
) -> Wish:
    _claimant(session, wish, user)
    _check_version(wish, version)
    if wish.status is not WishStatus.CLAIMED:
        raise Conflict(f"the wish is {wish.status.value}; only a claimed wish can be fulfilled", field="wish_id")
    wish.status = WishStatus.FULFILLED
    wish.fulfilled_at = now
    wish.fulfil_note = note
    wish.claim_expires_at = None
    _changed(session, wish, action="fulfil", user=user, now=now)
    return wish


def may_confirm(session: Session, wish: Wish, user: User) -> bool:
    """The poster confirms; a wish entered without a poster account is confirmed by its grid's staff."""
    if wish.poster_user_id is not None:
        return wish.poster_user_id == user.id
    return may_act_in_grid(session, user, wish.grid_id)


def confirm(session: Session, *, wish: Wish, user: User, now: datetime, version: int | None = None) -> Wish:
    """The poster confirms the wish was fulfilled; the claimant earns its points (once)."""
    if not may_confirm(session, wish, user):
        raise Forbidden("only the resident who posted this wish may confirm it", field="wish_id")
    _check_version(wish, version)
    if wish.status is not WishStatus.FULFILLED:
        raise Conflict(f"the wish is {wish.status.value}; only a fulfilled wish can be confirmed", field="wish_id")
    claimant = wish.claimant_volunteer_id
    if claimant is None:  # the claimant's volunteer record was deleted after fulfilling it
        raise Conflict("the volunteer who fulfilled this wish is no longer registered", field="wish_id")
    wish.status = WishStatus.CONFIRMED
    wish.confirmed_at = now
    key = ledger.earn_key(SourceType.WISH, wish.id, claimant)
    entry = ledger.existing_earning(session, key)
    if entry is None:
        entry = ledger.earn(
            session,
            volunteer_id=claimant,
            source_type=SourceType.WISH,
            source_id=wish.id,
            hours=wish.hours,
            service_kind=WISH_CATEGORIES[wish.category][2],
            grid_id=wish.grid_id,
            community_id=wish.community_id,
            actor=user,
            now=now,
            note="confirmed by the wisher",
        )
    wish.points_awarded = entry.amount
    _changed(session, wish, action="confirm", user=user, now=now, points=entry.amount)
    return wish


def cancel(session: Session, *, wish: Wish, user: User, now: datetime, version: int | None = None) -> Wish:
    if wish.poster_user_id != user.id and not may_act_in_grid(session, user, wish.grid_id):
        raise Forbidden("only the poster or the grid's staff may cancel a wish", field="wish_id")
    _check_version(wish, version)
    if wish.status not in (WishStatus.OPEN, WishStatus.CLAIMED):
        raise Conflict(f"the wish is {wish.status.value}; it can no longer be cancelled", field="wish_id")
    wish.status = WishStatus.CANCELLED
    wish.cancelled_at = now
    wish.claim_expires_at = None
    _changed(session, wish, action="cancel", user=user, now=now)
    return wish


def take_step(
    session: Session,
    *,
    action: str,
    wish_id: int,
    user: User,
    settings: Settings,
    now: datetime,
    version: int | None = None,
    note: str | None = None,
) -> Wish:
    """One step of a wish's lifecycle (claim, release, fulfil, confirm, cancel), written now so a
    racing change of the same wish is refused here (409) rather than at the commit."""
    wish = load(session, wish_id)
    try:
        if action == "claim":
            claim(session, wish=wish, user=user, settings=settings, now=now, version=version)
        elif action == "release":
            release(session, wish=wish, user=user, now=now, version=version)
        elif action == "fulfil":
            fulfil(session, wish=wish, user=user, now=now, note=note, version=version)
        elif action == "confirm":
            confirm(session, wish=wish, user=user, now=now, version=version)
        else:
            cancel(session, wish=wish, user=user, now=now, version=version)
        session.flush()
    except StaleDataError:
        raise Conflict("the wish changed meanwhile (someone else acted first); reload it", field="version") from None
    return wish


def expire_claim(session: Session, wish: Wish, now: datetime) -> bool:
    """Put a claim that ran out back on the open list (the scheduler, in its own transaction)."""
    if wish.status is not WishStatus.CLAIMED or wish.claim_expires_at is None or wish.claim_expires_at > now:
        return False
    expired = wish.claimant_volunteer_id
    _reopen(wish)
    _changed(session, wish, action="claim_expired", user=None, now=now, expired_volunteer_id=expired)
    return True


def sees_people(session: Session, wish: Wish, user: User | None) -> bool:
    """The poster, the claimant and the grid's staff see who posted and who claimed."""
    if user is None:
        return False
    if user.role in COMMUNITY_ADMINS or wish.poster_user_id == user.id:
        return True
    volunteer = volunteer_of(session, user)
    if volunteer is not None and wish.claimant_volunteer_id == volunteer.id:
        return True
    return may_act_in_grid(session, user, wish.grid_id)


def wish_view(session: Session, wish: Wish, viewer: User) -> WishOut:
    """The wish as ``viewer`` may see it: its people only for its poster, claimant and staff."""
    p = to_shape(wish.location)
    zh, en, _kind = WISH_CATEGORIES[wish.category]
    people: dict[str, Any] = {}
    if sees_people(session, wish, viewer):
        people = {
            "claimant_volunteer_id": wish.claimant_volunteer_id,
            "on_behalf_of": wish.on_behalf_of,
            "fulfil_note": wish.fulfil_note,
        }
    return WishOut(
        id=wish.id,
        version=wish.version,
        kind=wish.kind,
        category=wish.category,
        category_name_zh=zh,
        category_name_en=en,
        title=wish.title,
        description=wish.description,
        status=wish.status,
        lon=round(p.x, 7),
        lat=round(p.y, 7),
        building_id=wish.building_id,
        grid_id=wish.grid_id,
        community_id=wish.community_id,
        hours=wish.hours,
        posted_at=wish.created_at.isoformat(),
        claimed_at=_iso(wish.claimed_at),
        claim_expires_at=_iso(wish.claim_expires_at),
        fulfilled_at=_iso(wish.fulfilled_at),
        confirmed_at=_iso(wish.confirmed_at),
        points_awarded=wish.points_awarded,
        mine=wish.poster_user_id == viewer.id,
        **people,
    )


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def load(session: Session, wish_id: int) -> Wish:
    wish = session.get(Wish, wish_id)
    if wish is None:
        raise NotFound(f"no wish with id {wish_id}", field="wish_id")
    return wish


def visible(session: Session, user: User, wish: Wish) -> bool:
    """Open wishes are everyone's to see; the others only their poster's, claimant's and staff's."""
    if user.role in SEES_ALL or wish.status is WishStatus.OPEN or wish.poster_user_id == user.id:
        return True
    volunteer = volunteer_of(session, user)
    return volunteer is not None and wish.claimant_volunteer_id == volunteer.id


def read(session: Session, *, wish_id: int, user: User) -> WishOut:
    """One wish for ``user``: 404 when there is none, 403 when it is not theirs to see."""
    wish = load(session, wish_id)
    if not visible(session, user, wish):
        raise Forbidden("this wish is no longer open; only its poster, claimant and staff see it", field="wish_id")
    return wish_view(session, wish, user)


@dataclass
class WishFilter:
    status: list[WishStatus] | None = None
    kind: WishKind | None = None
    category: str | None = None
    grid_id: int | None = None
    community_id: int | None = None
    mine: bool = False


def list_for(
    session: Session, *, user: User, where: WishFilter, limit: int, offset: int, geojson: bool
) -> WishPage | WishCollection:
    """Open wishes and the caller's own (``mine``: only their own; staff see all), newest first;
    as a page of items, or as the map layer (a FeatureCollection at building level)."""
    volunteer = volunteer_of(session, user)
    own = [Wish.poster_user_id == user.id]
    if volunteer is not None:
        own.append(Wish.claimant_volunteer_id == volunteer.id)
    query = select(Wish)
    if where.mine:
        query = query.where(or_(*own))
    elif user.role not in SEES_ALL:
        query = query.where(or_(Wish.status == WishStatus.OPEN, *own))
    if where.status:
        query = query.where(Wish.status.in_(where.status))
    for column, value in (
        (Wish.kind, where.kind),
        (Wish.category, where.category),
        (Wish.grid_id, where.grid_id),
        (Wish.community_id, where.community_id),
    ):
        if value is not None:
            query = query.where(column == value)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(session.scalars(query.order_by(Wish.id.desc()).limit(limit).offset(offset)))
    items = [wish_view(session, w, user) for w in rows]
    if geojson:
        pairs = zip(items, rows, strict=True)
        features = [feature(i.id, w.location, i.model_dump(exclude_unset=True)) for i, w in pairs]
        layer = {"type": "FeatureCollection", "numberMatched": total, "features": features}
        return WishCollection.model_validate(layer)
    return WishPage(items=items, total=total, limit=limit, offset=offset)


def nearby(
    session: Session,
    *,
    user: User,
    settings: Settings,
    lon: float,
    lat: float,
    minutes: int,
    limit: int,
    kind: WishKind | None = None,
    category: str | None = None,
) -> NearbyWishes:
    """Open wishes within ``minutes`` of walking, nearest first: the whole walk on the street
    network (point → street → streets → street → the wish's building), as the station finder walks."""
    graph = network(session)  # 409 when there is no street network
    source = graph.snap(lon, lat)
    if source.offset_m > settings.max_snap_distance_m:
        raise Invalid(
            f"the point is {source.offset_m:.0f} m from the nearest street (limit "
            f"{settings.max_snap_distance_m:.0f} m); is it inside the served area?",
            field="lon",
        )
    budget = minutes_to_metres(minutes, settings.walking_speed_mps)
    frame = Point(lon, lat).buffer(metres_to_degrees(budget, lat) * 1.2).envelope
    query = select(Wish).where(Wish.status == WishStatus.OPEN, box_overlaps(session, Wish.location, frame))
    if kind is not None:
        query = query.where(Wish.kind == kind)
    if category is not None:
        query = query.where(Wish.category == category)
    rows = list(session.scalars(query.order_by(Wish.id)))
    items = []
    if rows:
        points = [to_shape(w.location) for w in rows]
        snaps = graph.snap_many(np.array([p.x for p in points]), np.array([p.y for p in points]))
        walks = graph.distances_to(source, snaps, limit_m=budget)
        ranked = sorted((float(m), w.id, w) for m, w in zip(walks, rows, strict=True) if m <= budget)
        for metres, _id, wish in ranked[:limit]:
            view = wish_view(session, wish, user)
            items.append(
                NearbyWish(
                    **view.model_dump(exclude_unset=True),
                    walk_m=round(metres, 1),
                    walk_minutes=round(metres / settings.walking_speed_mps / 60, 2),
                )
            )
    return NearbyWishes.model_validate({"from": Origin(lon=lon, lat=lat), "minutes": minutes, "items": items})


def categories() -> list[WishCategory]:
    return [WishCategory(code=code, name_zh=zh, name_en=en) for code, (zh, en, _kind) in WISH_CATEGORIES.items()]


_STEPS = ("posted", "claimed", "fulfilled", "confirmed")


def stats(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    grid_id: int | None = None,
    community_id: int | None = None,
    kind: WishKind | None = None,
) -> WishStats:
    """Each wish counts in the month of each of its own steps (local time, UTC+8): ``posted`` by
    when it was posted, ``claimed`` by its standing claim, ``fulfilled`` and ``confirmed`` by when
    they happened; only steps in [start, end)."""
    query = select(Wish)
    for column, value in ((Wish.grid_id, grid_id), (Wish.community_id, community_id), (Wish.kind, kind)):
        if value is not None:
            query = query.where(column == value)
    counts: dict[tuple[int | None, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(_STEPS, 0))
    totals = dict.fromkeys(_STEPS, 0)
    for w in session.scalars(query):
        for name, at in zip(_STEPS, (w.created_at, w.claimed_at, w.fulfilled_at, w.confirmed_at), strict=True):
            if at is not None and start <= at < end:
                counts[(w.grid_id, month_key(at))][name] += 1
                totals[name] += 1
    rows = [
        GridMonthCounts(grid_id=g, month=m, **c)
        for (g, m), c in sorted(counts.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1]))
    ]
    return WishStats(period=Period.of(start, end), totals=WishCounts(**totals), items=rows)


def open_ids_past_claim(session: Session, now: datetime) -> list[int]:
    return list(
        session.scalars(
            select(Wish.id).where(Wish.status == WishStatus.CLAIMED, Wish.claim_expires_at <= now).order_by(Wish.id)
        )
    )
