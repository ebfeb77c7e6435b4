"""The wish lifecycle: open → claimed → fulfilled → confirmed (by the poster), with release, cancel
and claim expiry. Confirmation credits the claimant's points. Functions take a session and keyword
arguments and never commit; every change is audited and published (``wish.updated``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.coords import CoordType, checked_to_wgs84
from geo.errors import GeoInputError
from service.audit.service import audit
from service.auth.models import Role, User
from service.buildings.models import Building
from service.community.people import COMMUNITY_ADMINS, may_act_in_grid, volunteer_of
from service.config import Settings
from service.events.outbox import publish
from service.grids.service import locate_point
from service.points import ledger
from service.points.models import SourceType
from service.volunteers.models import Volunteer
from service.wishes.models import WISH_CATEGORIES, Wish, WishKind, WishStatus

STAFF_POSTERS = frozenset({Role.GRID_WORKER, Role.DISPATCHER, Role.ADMIN})


class WishError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


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


def building_point(building: Building) -> Point:
    """Where a building is shown: its entrance, else a point inside its footprint."""
    if building.entrance is not None:
        return to_shape(building.entrance)
    return to_shape(building.geom).representative_point()


def post_wish(session: Session, *, data: NewWish, user: User, settings: Settings, now: datetime) -> Wish:
    if data.category not in WISH_CATEGORIES:
        raise WishError(422, f"unknown category {data.category!r}; one of {', '.join(WISH_CATEGORIES)}", "category")
    if not data.title.strip():
        raise WishError(422, "title must not be empty", "title")
    if data.on_behalf_of is not None and user.role not in STAFF_POSTERS:
        raise WishError(403, "only staff post wishes on behalf of a resident", "on_behalf_of")
    building = None
    if data.building_id is not None:
        building = session.get(Building, data.building_id)
        if building is None:
            raise WishError(422, f"no building with id {data.building_id}", "building_id")
        lon, lat = building_point(building).coords[0]
    elif data.lon is not None and data.lat is not None:
        try:
            lon, lat = checked_to_wgs84(data.lon, data.lat, data.coord_type)
        except GeoInputError as exc:
            raise WishError(422, str(exc), exc.field) from None
    else:
        raise WishError(422, "a location is required: lon and lat, or building_id", "lon")
    where = locate_point(session, lon=lon, lat=lat, max_distance_m=settings.locate_max_distance_m)
    if where.grid is None:
        raise WishError(422, "the location is outside every grid of the served area", "lon")
    building = building or where.building
    if building is not None:  # shown at building level, never as a flat
        lon, lat = building_point(building).coords[0]
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
        raise WishError(409, f"stale version {version}; the wish is at version {wish.version}", "version")


def _claimant(session: Session, wish: Wish, user: User) -> Volunteer:
    volunteer = volunteer_of(session, user)
    if volunteer is None or wish.claimant_volunteer_id != volunteer.id:
        raise WishError(403, "only the volunteer who claimed this wish may do this")
    return volunteer


def claim(
    session: Session, *, wish: Wish, user: User, settings: Settings, now: datetime, version: int | None = None
) -> Wish:
    volunteer = volunteer_of(session, user)
    if volunteer is None:
        raise WishError(403, "only volunteers claim wishes; this account has no volunteer record")
    _check_version(wish, version)
    if wish.status is not WishStatus.OPEN:
        raise WishError(409, f"the wish is {wish.status.value}; only open wishes can be claimed", "wish_id")
    if wish.poster_user_id == user.id:
        raise WishError(409, "you posted this wish; someone else claims it", "wish_id")
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
        raise WishError(409, f"the wish is {wish.status.value}; only a claimed wish can be released", "wish_id")
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
        raise WishError(409, f"the wish is {wish.status.value}; only a claimed wish can be fulfilled", "wish_id")
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
        raise WishError(403, "only the resident who posted this wish may confirm it", "wish_id")
    _check_version(wish, version)
    if wish.status is not WishStatus.FULFILLED:
        raise WishError(409, f"the wish is {wish.status.value}; only a fulfilled wish can be confirmed", "wish_id")
    wish.status = WishStatus.CONFIRMED
    wish.confirmed_at = now
    key = ledger.earn_key(SourceType.WISH, wish.id, wish.claimant_volunteer_id)
    entry = ledger.existing_earning(session, key)
    if entry is None:
        entry = ledger.earn(
            session,
            volunteer_id=wish.claimant_volunteer_id,
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
        raise WishError(403, "only the poster or the grid's staff may cancel a wish", "wish_id")
    _check_version(wish, version)
    if wish.status not in (WishStatus.OPEN, WishStatus.CLAIMED):
        raise WishError(409, f"the wish is {wish.status.value}; it can no longer be cancelled", "wish_id")
    wish.status = WishStatus.CANCELLED
    wish.cancelled_at = now
    wish.claim_expires_at = None
    _changed(session, wish, action="cancel", user=user, now=now)
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


def wish_dict(wish: Wish, *, people: bool, viewer_id: int | None = None) -> dict[str, Any]:
    p = to_shape(wish.location)
    zh, en, _kind = WISH_CATEGORIES[wish.category]
    out = {
        "id": wish.id,
        "version": wish.version,
        "kind": wish.kind.value,
        "category": wish.category,
        "category_name_zh": zh,
        "category_name_en": en,
        "title": wish.title,
        "description": wish.description,
        "status": wish.status.value,
        "lon": round(p.x, 7),
        "lat": round(p.y, 7),
        "building_id": wish.building_id,
        "grid_id": wish.grid_id,
        "community_id": wish.community_id,
        "hours": wish.hours,
        "posted_at": wish.created_at.isoformat(),
        "claimed_at": wish.claimed_at.isoformat() if wish.claimed_at else None,
        "claim_expires_at": wish.claim_expires_at.isoformat() if wish.claim_expires_at else None,
        "fulfilled_at": wish.fulfilled_at.isoformat() if wish.fulfilled_at else None,
        "confirmed_at": wish.confirmed_at.isoformat() if wish.confirmed_at else None,
        "points_awarded": wish.points_awarded,
        "mine": viewer_id is not None and wish.poster_user_id == viewer_id,
    }
    if people:
        out["claimant_volunteer_id"] = wish.claimant_volunteer_id
        out["on_behalf_of"] = wish.on_behalf_of
        out["fulfil_note"] = wish.fulfil_note
    return out


def load(session: Session, wish_id: int) -> Wish:
    wish = session.get(Wish, wish_id)
    if wish is None:
        raise WishError(404, f"no wish with id {wish_id}", "wish_id")
    return wish


def open_ids_past_claim(session: Session, now: datetime) -> list[int]:
    return list(
        session.scalars(
            select(Wish.id).where(Wish.status == WishStatus.CLAIMED, Wish.claim_expires_at <= now).order_by(Wish.id)
        )
    )
