"""Building duty: whose week it is, and the duty-holder's records. Weeks run Monday to Sunday on
the community's calendar (UTC+8); member ``i`` holds the weeks ``starts_on + (k·n + i)`` weeks."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from statistics import mean
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.areas.models import Area, AreaLevel
from service.audit.service import audit
from service.auth.models import User
from service.buildings.models import Building
from service.common.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from service.community.people import may_act_in_grid, volunteer_of
from service.community.times import local_date, month_key, week_start
from service.config import Settings
from service.duty.models import BuildingRotation, DisputeLog, DisputeOutcome, PropertyRating, RotationMember
from service.requests.intake import IntakeError, NewRequest, create_request
from service.requests.models import Channel
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


def building(session: Session, building_id: int) -> Building:
    """The building, or NotFound naming ``building_id``."""
    found = session.get(Building, building_id)
    if found is None:
        raise NotFound(f"no building with id {building_id}", field="building_id")
    return found


def rotation_for(session: Session, building_id: int) -> BuildingRotation | None:
    return session.scalar(select(BuildingRotation).where(BuildingRotation.building_id == building_id))


def rotation_dict(
    session: Session, rotation: BuildingRotation | None, *, now: datetime, weeks: int = 8
) -> dict[str, Any]:
    if rotation is None:
        return {"rotation": None, "this_week": None, "schedule": []}
    ids = {m.volunteer_id for m in rotation.members} | (
        {rotation.chair_volunteer_id} if rotation.chair_volunteer_id is not None else set()
    )
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


def building_duty(session: Session, *, building_id: int, now: datetime) -> dict[str, Any]:
    """A building's chair, rotation, this week's duty-holder and the next weeks."""
    b = building(session, building_id)
    return {
        "building_id": b.id,
        "chair_name": b.chair_name,
        **rotation_dict(session, rotation_for(session, b.id), now=now),
    }


def set_rotation(
    session: Session,
    *,
    building_id: int,
    members: list[int],
    chair_volunteer_id: int | None,
    starts_on: date | None,
    user: User,
    now: datetime,
) -> BuildingRotation:
    """Set the building's chair and rotation. Members must be volunteers living in the building
    (``home_building_id``), each once; nobody in it is Invalid naming ``members``."""
    b = building(session, building_id)
    if not may_act_in_grid(session, user, b.grid_id):
        raise Forbidden("grid workers organise duty only in their own grids")
    if not members:
        raise Invalid("a rotation needs at least one volunteer of the building", field="members")
    seen: set[int] = set()
    for i, vid in enumerate(members):
        volunteer = session.get(Volunteer, vid)
        if volunteer is None:
            raise Invalid(f"no volunteer with id {vid}", field=f"members[{i}]")
        if volunteer.home_building_id != b.id:
            raise Invalid(f"volunteer {vid} does not live in building {b.id}", field=f"members[{i}]")
        if vid in seen:
            raise Invalid(f"volunteer {vid} is listed twice", field=f"members[{i}]")
        seen.add(vid)
    chair = chair_volunteer_id if chair_volunteer_id is not None else members[0]
    if chair not in seen:
        raise Invalid("the chair must be one of the members", field="chair_volunteer_id")
    first_week = week_start(starts_on or local_date(now))
    rotation = rotation_for(session, b.id)
    if rotation is None:
        rotation = BuildingRotation(building_id=b.id, starts_on=first_week, updated_at=now, updated_by=user.username)
        session.add(rotation)
    rotation.chair_volunteer_id = chair
    rotation.starts_on = first_week
    rotation.updated_at = now
    rotation.updated_by = user.username
    rotation.members.clear()
    session.flush()
    rotation.members.extend(RotationMember(position=i, volunteer_id=vid) for i, vid in enumerate(members))
    session.flush()
    audit(
        session,
        actor=user,
        action="duty:set",
        entity="building",
        entity_id=b.id,
        after={"members": members, "chair": chair, "starts_on": first_week.isoformat()},
        now=now,
    )
    return rotation


def this_weeks_holder(session: Session, b: Building, user: User, now: datetime) -> tuple[Volunteer, date]:
    """The caller's volunteer record and the week, when the caller holds this week's duty."""
    rotation = rotation_for(session, b.id)
    if rotation is None or not rotation.members:
        raise Conflict(f"building {b.id} has no duty rotation; set one first", field="building_id")
    today = local_date(now)
    on = holder(rotation, today)
    volunteer = volunteer_of(session, user)
    if on is None or volunteer is None or volunteer.id != on[1]:
        raise Forbidden("only this week's duty-holder of the building may do this", field="building_id")
    return volunteer, week_start(today)


def refer_dispute(
    session: Session, *, b: Building, category: str, summary: str, settings: Settings, now: datetime
) -> int:
    """Raise a referred dispute as a request at the building (walk-in channel); its id. Intake's
    refusals name ``request_category`` where intake names ``category``."""
    try:
        req = create_request(
            session,
            data=NewRequest(category=category, description=summary, channel=Channel.WALK_IN, building_id=b.id),
            settings=settings,
            now=now,
        )
    except IntakeError as exc:
        field = "request_category" if exc.field == "category" else exc.field
        raise DomainError(str(exc), field=field, status=exc.status) from None
    return req.id


def log_dispute(
    session: Session,
    *,
    building_id: int,
    summary: str,
    outcome: DisputeOutcome,
    request_category: str | None,
    user: User,
    settings: Settings,
    now: datetime,
) -> DisputeLog:
    """This week's duty-holder logs a dispute; a referred one may become a request."""
    b = building(session, building_id)
    volunteer, week = this_weeks_holder(session, b, user, now)
    if not summary.strip():
        raise Invalid("summary must not be empty", field="summary")
    request_id = None
    if request_category is not None:
        if outcome is not DisputeOutcome.REFERRED:
            raise Invalid("only a referred dispute becomes a request", field="request_category")
        request_id = refer_dispute(
            session, b=b, category=request_category, summary=summary.strip(), settings=settings, now=now
        )
    log = DisputeLog(
        building_id=b.id,
        volunteer_id=volunteer.id,
        week_start=week,
        at=now,
        summary=summary.strip(),
        outcome=outcome,
        request_id=request_id,
    )
    session.add(log)
    session.flush()
    audit(
        session,
        actor=user,
        action="duty:dispute",
        entity="building",
        entity_id=b.id,
        after={"dispute_id": log.id, "outcome": outcome.value, "request_id": request_id},
        now=now,
    )
    return log


def dispute_dict(d: DisputeLog) -> dict[str, Any]:
    return {
        "id": d.id,
        "building_id": d.building_id,
        "volunteer_id": d.volunteer_id,
        "week_start": d.week_start.isoformat(),
        "at": d.at.isoformat(),
        "summary": d.summary,
        "outcome": d.outcome.value,
        "request_id": d.request_id,
    }


def rate_property(
    session: Session, *, building_id: int, score: int, comment: str | None, user: User, now: datetime
) -> PropertyRating:
    """This week's duty-holder rates the property management, once per building and week."""
    b = building(session, building_id)
    volunteer, week = this_weeks_holder(session, b, user, now)
    rating = PropertyRating(
        building_id=b.id,
        compound_id=b.compound_id,
        volunteer_id=volunteer.id,
        week_start=week,
        at=now,
        score=score,
        comment=comment,
    )
    try:
        with session.begin_nested():  # a refused row rolls back to here, not the whole transaction
            session.add(rating)
    except IntegrityError:
        raise Conflict(f"building {b.id} is already rated for the week of {week}", field="building_id") from None
    audit(
        session,
        actor=user,
        action="duty:rate",
        entity="building",
        entity_id=b.id,
        after={"score": score, "week_start": week.isoformat()},
        now=now,
    )
    return rating


def rating_dict(r: PropertyRating) -> dict[str, Any]:
    return {
        "id": r.id,
        "building_id": r.building_id,
        "compound_id": r.compound_id,
        "volunteer_id": r.volunteer_id,
        "week_start": r.week_start.isoformat(),
        "at": r.at.isoformat(),
        "score": r.score,
        "comment": r.comment,
    }


def duty_log(session: Session, *, building_id: int, limit: int) -> dict[str, Any]:
    """A building's disputes and ratings, newest first."""
    b = building(session, building_id)
    disputes = session.scalars(
        select(DisputeLog).where(DisputeLog.building_id == b.id).order_by(DisputeLog.at.desc()).limit(limit)
    )
    ratings = session.scalars(
        select(PropertyRating)
        .where(PropertyRating.building_id == b.id)
        .order_by(PropertyRating.week_start.desc())
        .limit(limit)
    )
    return {
        "building_id": b.id,
        "disputes": [dispute_dict(d) for d in disputes],
        "ratings": [rating_dict(r) for r in ratings],
    }


def property_scores(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    period: str,
    compound_id: int | None = None,
    community_id: int | None = None,
) -> dict[str, Any]:
    """The duty-holders' weekly ratings averaged per compound and week or month (aggregates only)."""
    query = select(PropertyRating).where(
        PropertyRating.at >= start, PropertyRating.at < end, PropertyRating.compound_id.is_not(None)
    )
    if compound_id is not None:
        query = query.where(PropertyRating.compound_id == compound_id)
    if community_id is not None:
        compounds = select(Area.id).where(
            Area.level == AreaLevel.COMPOUND, Area.parent_id == community_id, Area.retired_at.is_(None)
        )
        query = query.where(PropertyRating.compound_id.in_(compounds))
    per: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for r in session.scalars(query):
        if r.compound_id is None:
            continue
        key = r.week_start.isoformat() if period == "week" else month_key(r.at)
        per[r.compound_id][key].append(r.score)
    names = {a.id: a for a in session.scalars(select(Area).where(Area.id.in_(list(per))))} if per else {}
    items = []
    for cid, series in sorted(per.items()):
        scores = [s for values in series.values() for s in values]
        items.append(
            {
                "compound_id": cid,
                "name_zh": names[cid].name_zh,
                "name_en": names[cid].name_en,
                "score": round(mean(scores), 2),
                "ratings": len(scores),
                "series": [
                    {"period": k, "score": round(mean(v), 2), "ratings": len(v)} for k, v in sorted(series.items())
                ],
            }
        )
    return {"period": period, "start": start.isoformat(), "end": end.isoformat(), "items": items}
