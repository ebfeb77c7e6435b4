"""Volunteers: who they are, their duty switch and their last known position.

A position counts for the nearest-volunteer choice for ``max_age_minutes``; a report far outside
every township is refused (the phone most likely sent the wrong coordinate system)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from geo.crs import LocalProjection
from service.areas.models import Area, AreaLevel
from service.audit.service import audit
from service.auth.models import User
from service.common.errors import Forbidden, Invalid
from service.common.spatial import intersects
from service.grids.models import GridWorker
from service.volunteers.models import Volunteer


def volunteer_of(session: Session, user: User | None) -> Volunteer | None:
    """The account's volunteer record, if it has one."""
    if user is None:
        return None
    return session.scalar(select(Volunteer).where(Volunteer.user_id == user.id))


def require_volunteer(session: Session, user: User) -> Volunteer:
    """The caller's volunteer record; Forbidden when the account has none."""
    volunteer = volunteer_of(session, user)
    if volunteer is None:
        raise Forbidden("this account is not linked to a volunteer record")
    return volunteer


def list_volunteers(
    session: Session, *, on_duty: bool | None = None, skill: str | None = None, within: BaseGeometry | None = None
) -> list[Volunteer]:
    query = select(Volunteer).where(Volunteer.retired_at.is_(None)).order_by(Volunteer.id)
    if on_duty is not None:
        query = query.where(Volunteer.on_duty == on_duty)
    if within is not None:
        query = query.where(intersects(session, Volunteer.position, within))
    return [v for v in session.scalars(query) if skill is None or skill in (v.skills or [])]


def list_grid_workers(session: Session) -> Sequence[GridWorker]:
    query = select(GridWorker).options(selectinload(GridWorker.grids)).where(GridWorker.retired_at.is_(None))
    return session.scalars(query.order_by(GridWorker.id)).all()


def position_age(v: Volunteer, now: datetime, max_age_minutes: float | None) -> dict[str, Any]:
    """``position_age_minutes`` (None without a position) and ``position_fresh``."""
    if v.position_at is None or v.position is None:
        return {"position_age_minutes": None, "position_fresh": False}
    age = (now - v.position_at).total_seconds() / 60
    return {
        "position_age_minutes": round(age, 1),
        "position_fresh": max_age_minutes is None or age <= max_age_minutes,
    }


def volunteer_properties(v: Volunteer, now: datetime, max_age_minutes: float | None) -> dict[str, Any]:
    """The properties of a volunteer's map feature (staff only: it has the phone number)."""
    return {
        "name_zh": v.name_zh,
        "name_en": v.name_en,
        "phone": v.phone,
        "skills": v.skills,
        "team_zh": v.team_zh,
        "team_en": v.team_en,
        "on_duty": v.on_duty,
        "position_at": v.position_at.isoformat() if v.position_at else None,
        **position_age(v, now, max_age_minutes),
        "community_id": v.community_id,
        "home_building_id": v.home_building_id,
    }


def grid_worker_dict(w: GridWorker) -> dict[str, Any]:
    return {
        "id": w.id,
        "name_zh": w.name_zh,
        "name_en": w.name_en,
        "phone": w.phone,
        "role": w.role.value,
        "party_member": w.party_member,
        "on_duty": w.on_duty,
        "grid_ids": sorted(g.id for g in w.grids),
    }


def my_record(v: Volunteer, now: datetime, max_age_minutes: float | None) -> dict[str, Any]:
    """A volunteer's own record, with the position as lon/lat."""
    p = to_shape(v.position) if v.position is not None else None
    return {
        "id": v.id,
        "name_zh": v.name_zh,
        "name_en": v.name_en,
        "skills": v.skills,
        "team_zh": v.team_zh,
        "community_id": v.community_id,
        "home_building_id": v.home_building_id,
        "on_duty": v.on_duty,
        "lon": round(p.x, 7) if p else None,
        "lat": round(p.y, 7) if p else None,
        "position_at": v.position_at.isoformat() if v.position_at else None,
        **position_age(v, now, max_age_minutes),
    }


def set_duty(session: Session, *, user: User, on_duty: bool) -> Volunteer:
    """Go on or off duty (the caller's own record)."""
    volunteer = require_volunteer(session, user)
    volunteer.on_duty = on_duty
    audit(
        session,
        actor=user,
        action="volunteer:duty",
        entity="volunteer",
        entity_id=volunteer.id,
        after={"on_duty": on_duty},
    )
    return volunteer


def report_position(
    session: Session,
    *,
    user: User,
    lon: float,
    lat: float,
    on_duty: bool | None,
    now: datetime,
    max_outside_m: float,
) -> Volunteer:
    """Store the caller's position (WGS84); Invalid naming ``lon`` when it lies more than
    ``max_outside_m`` outside every township."""
    outside = metres_outside_townships(session, lon, lat)
    if outside is not None and outside > max_outside_m:
        raise Invalid(
            f"lon/lat lie {outside:.0f} m outside the served townships (limit "
            f"{max_outside_m:.0f} m); is coord_type right?",
            field="lon",
        )
    volunteer = require_volunteer(session, user)
    volunteer.position = from_shape(Point(lon, lat), srid=4326)
    volunteer.position_at = now
    if on_duty is not None:
        volunteer.on_duty = on_duty
    return volunteer


def metres_outside_townships(session: Session, lon: float, lat: float) -> float | None:
    """How far (lon, lat) lies outside the nearest township; 0 inside one; None when none is stored."""
    geoms = [
        to_shape(g)
        for g in session.scalars(select(Area.geom).where(Area.level == AreaLevel.TOWNSHIP, Area.retired_at.is_(None)))
    ]
    if not geoms:
        return None
    projection = LocalProjection.for_lonlat(lon, lat)
    here = projection.to_metric(Point(lon, lat))
    return min(float(projection.to_metric(g).distance(here)) for g in geoms)
