"""Building duty: whose week it is, and the duty-holder's records. Weeks run Monday to Sunday on
the community's calendar (UTC+8); member ``i`` holds the weeks ``starts_on + (k·n + i)`` weeks."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.community.times import local_date, week_start
from service.duty.models import BuildingRotation
from service.volunteers.models import Volunteer


def holder(rotation: BuildingRotation, day: date) -> tuple[int, int] | None:
    """(position, volunteer id) on duty in ``day``'s week; None before the rotation starts or when empty."""
    members = rotation.members
    if not members:
        return None
    weeks = (week_start(day) - rotation.starts_on).days // 7
    if weeks < 0:
        return None
    m = members[weeks % len(members)]
    return m.position, m.volunteer_id


def rotation_for(session: Session, building_id: int) -> BuildingRotation | None:
    return session.scalar(select(BuildingRotation).where(BuildingRotation.building_id == building_id))


def rotation_dict(session: Session, rotation: BuildingRotation | None, *, now: datetime, weeks: int = 8) -> dict:
    if rotation is None:
        return {"rotation": None, "this_week": None, "schedule": []}
    ids = {m.volunteer_id for m in rotation.members} | ({rotation.chair_volunteer_id} - {None})
    people = {v.id: v for v in session.scalars(select(Volunteer).where(Volunteer.id.in_(ids)))} if ids else {}

    def person(vid: int | None) -> dict[str, Any] | None:
        v = people.get(vid) if vid is not None else None
        return {"volunteer_id": v.id, "name_zh": v.name_zh, "name_en": v.name_en} if v else None

    today = local_date(now)
    schedule = []
    for k in range(weeks):
        day = week_start(today) + timedelta(weeks=k)
        on = holder(rotation, day)
        schedule.append({"week_start": day.isoformat(), "holder": person(on[1]) if on else None})
    return {
        "rotation": {
            "id": rotation.id,
            "chair": person(rotation.chair_volunteer_id),
            "starts_on": rotation.starts_on.isoformat(),
            "members": [{"position": m.position, **(person(m.volunteer_id) or {})} for m in rotation.members],
            "updated_at": rotation.updated_at.isoformat(),
            "updated_by": rotation.updated_by,
        },
        "this_week": schedule[0],
        "schedule": schedule,
    }
