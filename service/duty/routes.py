"""``/api/v1/buildings/{id}/duty``: the building's chair and weekly rotation (楼栋轮值制), the
duty-holder's dispute log and property-service rating; ``/api/v1/property-scores``: the
per-compound property-service score over time."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from statistics import mean
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, Strict
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from service.areas.models import Area, AreaLevel
from service.audit.service import audit
from service.auth.deps import require_roles
from service.auth.models import Role, User
from service.buildings.models import Building
from service.common.fields import Id
from service.common.params import MAX_DB_ID, IdPath
from service.common.problems import Problem
from service.community.people import may_act_in_grid, volunteer_of
from service.community.times import local_date, month_key, parse_time, week_start
from service.deps import ClockDep, ReadSession, SettingsDep, WriteSession
from service.duty.models import BuildingRotation, DisputeLog, DisputeOutcome, PropertyRating, RotationMember
from service.duty.service import holder, rotation_dict, rotation_for
from service.requests.intake import IntakeError, NewRequest, create_request
from service.requests.models import Channel
from service.volunteers.models import Volunteer

router = APIRouter(prefix="/api/v1", tags=["building duty"])

Viewer = Annotated[
    User, Depends(require_roles(Role.VOLUNTEER, Role.GRID_WORKER, Role.DISPATCHER, Role.ADMIN, Role.PLANNER))
]
Organiser = Annotated[User, Depends(require_roles(Role.GRID_WORKER, Role.DISPATCHER, Role.ADMIN))]
DutyHolder = Annotated[User, Depends(require_roles(Role.VOLUNTEER))]


def _building(session, building_id: int) -> Building:
    building = session.get(Building, building_id)
    if building is None:
        raise Problem(404, f"no building with id {building_id}", field="building_id")
    return building


@router.get("/buildings/{building_id}/duty", summary="A building's chair, rotation and this week's duty-holder")
def get_duty(building_id: IdPath, session: ReadSession, clock: ClockDep, _user: Viewer) -> dict[str, Any]:
    building = _building(session, building_id)
    body = rotation_dict(session, rotation_for(session, building.id), now=clock())
    return {"building_id": building.id, "chair_name": building.chair_name, **body}


class RotationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    members: list[Id] = Field(max_length=60, description="volunteers who live in the building, in duty order")
    chair_volunteer_id: Id | None = Field(default=None, description="the building chair (楼栋主席); default the first")
    starts_on: date | None = Field(default=None, description="first week (moved to its Monday); default this week")


@router.put("/buildings/{building_id}/duty", summary="Set a building's chair and weekly rotation (the grid's staff)")
def set_duty(
    building_id: IdPath, body: RotationIn, session: WriteSession, clock: ClockDep, user: Organiser
) -> dict[str, Any]:
    """Members must be volunteers living in the building (``home_building_id``), each once; a rotation
    with nobody in it gets 422 naming ``members``."""
    building = _building(session, building_id)
    if not may_act_in_grid(session, user, building.grid_id):
        raise Problem(403, "grid workers organise duty only in their own grids")
    if not body.members:
        raise Problem(422, "a rotation needs at least one volunteer of the building", field="members")
    seen: set[int] = set()
    for i, vid in enumerate(body.members):
        volunteer = session.get(Volunteer, vid)
        if volunteer is None:
            raise Problem(422, f"no volunteer with id {vid}", field=f"members[{i}]")
        if volunteer.home_building_id != building.id:
            raise Problem(422, f"volunteer {vid} does not live in building {building.id}", field=f"members[{i}]")
        if vid in seen:
            raise Problem(422, f"volunteer {vid} is listed twice", field=f"members[{i}]")
        seen.add(vid)
    chair = body.chair_volunteer_id if body.chair_volunteer_id is not None else body.members[0]
    if chair not in seen:
        raise Problem(422, "the chair must be one of the members", field="chair_volunteer_id")
    now = clock()
    starts_on = week_start(body.starts_on or local_date(now))
    rotation = rotation_for(session, building.id)
    if rotation is None:
        rotation = BuildingRotation(
            building_id=building.id, starts_on=starts_on, updated_at=now, updated_by=user.username
        )
        session.add(rotation)
    rotation.chair_volunteer_id = chair
    rotation.starts_on = starts_on
    rotation.updated_at = now
    rotation.updated_by = user.username
    rotation.members.clear()
    session.flush()
    rotation.members.extend(RotationMember(position=i, volunteer_id=vid) for i, vid in enumerate(body.members))
    session.flush()
    audit(
        session,
        actor=user,
        action="duty:set",
        entity="building",
        entity_id=building.id,
        after={"members": body.members, "chair": chair, "starts_on": starts_on.isoformat()},
        now=now,
    )
    session.commit()
    session.refresh(rotation)
    return {"building_id": building.id, "chair_name": building.chair_name, **rotation_dict(session, rotation, now=now)}


def _this_weeks_holder(session, building: Building, user: User, now) -> tuple[Volunteer, date]:
    rotation = rotation_for(session, building.id)
    if rotation is None or not rotation.members:
        raise Problem(409, f"building {building.id} has no duty rotation; set one first", field="building_id")
    today = local_date(now)
    on = holder(rotation, today)
    volunteer = volunteer_of(session, user)
    if on is None or volunteer is None or volunteer.id != on[1]:
        raise Problem(403, "only this week's duty-holder of the building may do this", field="building_id")
    return volunteer, week_start(today)


class DisputeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: str = Field(min_length=1, max_length=2000, description="what the dispute was about (no names needed)")
    outcome: DisputeOutcome
    request_category: str | None = Field(
        default=None, max_length=40, description="refer it as a request of this category (outcome 'referred')"
    )


@router.post(
    "/buildings/{building_id}/duty/disputes", status_code=201, summary="Log a dispute handled (this week's duty-holder)"
)
def log_dispute(
    building_id: IdPath,
    body: DisputeIn,
    session: WriteSession,
    settings: SettingsDep,
    clock: ClockDep,
    user: DutyHolder,
) -> dict[str, Any]:
    building = _building(session, building_id)
    now = clock()
    volunteer, week = _this_weeks_holder(session, building, user, now)
    if not body.summary.strip():
        raise Problem(422, "summary must not be empty", field="summary")
    request_id = None
    if body.request_category is not None:
        if body.outcome is not DisputeOutcome.REFERRED:
            raise Problem(422, "only a referred dispute becomes a request", field="request_category")
        try:
            req = create_request(
                session,
                data=NewRequest(
                    category=body.request_category,
                    description=body.summary.strip(),
                    channel=Channel.WALK_IN,
                    building_id=building.id,
                ),
                settings=settings,
                now=now,
            )
        except IntakeError as exc:
            session.rollback()
            field = "request_category" if exc.field == "category" else exc.field
            raise Problem(exc.status, str(exc), field=field) from None
        request_id = req.id
    log = DisputeLog(
        building_id=building.id,
        volunteer_id=volunteer.id,
        week_start=week,
        at=now,
        summary=body.summary.strip(),
        outcome=body.outcome,
        request_id=request_id,
    )
    session.add(log)
    session.flush()
    audit(
        session,
        actor=user,
        action="duty:dispute",
        entity="building",
        entity_id=building.id,
        after={"dispute_id": log.id, "outcome": body.outcome.value, "request_id": request_id},
        now=now,
    )
    session.commit()
    return _dispute_dict(log)


def _dispute_dict(d: DisputeLog) -> dict[str, Any]:
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


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: Annotated[int, Strict(), Field(ge=1, le=5, description="1 (poor) to 5 (excellent)")]
    comment: str | None = Field(default=None, max_length=2000)


@router.post(
    "/buildings/{building_id}/duty/property-rating",
    status_code=201,
    summary="Rate this week's property-management service, 1-5 (this week's duty-holder)",
)
def rate_property(
    building_id: IdPath, body: RatingIn, session: WriteSession, clock: ClockDep, user: DutyHolder
) -> dict[str, Any]:
    """One rating per building and week (a second gets 409)."""
    building = _building(session, building_id)
    now = clock()
    volunteer, week = _this_weeks_holder(session, building, user, now)
    rating = PropertyRating(
        building_id=building.id,
        compound_id=building.compound_id,
        volunteer_id=volunteer.id,
        week_start=week,
        at=now,
        score=body.score,
        comment=body.comment,
    )
    session.add(rating)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Problem(
            409, f"building {building.id} is already rated for the week of {week}", field="building_id"
        ) from None
    audit(
        session,
        actor=user,
        action="duty:rate",
        entity="building",
        entity_id=building.id,
        after={"score": body.score, "week_start": week.isoformat()},
        now=now,
    )
    session.commit()
    return _rating_dict(rating)


def _rating_dict(r: PropertyRating) -> dict[str, Any]:
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


@router.get("/buildings/{building_id}/duty/log", summary="A building's disputes and property ratings, newest first")
def duty_log(
    building_id: IdPath,
    session: ReadSession,
    _user: Viewer,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    building = _building(session, building_id)
    disputes = session.scalars(
        select(DisputeLog).where(DisputeLog.building_id == building.id).order_by(DisputeLog.at.desc()).limit(limit)
    )
    ratings = session.scalars(
        select(PropertyRating)
        .where(PropertyRating.building_id == building.id)
        .order_by(PropertyRating.week_start.desc())
        .limit(limit)
    )
    return {
        "building_id": building.id,
        "disputes": [_dispute_dict(d) for d in disputes],
        "ratings": [_rating_dict(r) for r in ratings],
    }


@router.get(
    "/property-scores", tags=["building duty"], summary="Property-service score per compound over time (public)"
)
def property_scores(
    session: ReadSession,
    clock: ClockDep,
    compound_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    community_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    period: Annotated[str, Query(pattern="^(week|month)$")] = "month",
    start: Annotated[str | None, Query(max_length=40, description="ISO date; default a year before end")] = None,
    end: Annotated[str | None, Query(max_length=40, description="ISO date; default now")] = None,
) -> dict[str, Any]:
    """The duty-holders' weekly ratings (1-5) averaged per compound and week or month; ``score`` is the
    mean over the whole period. Aggregates only: no names."""
    now = clock()
    end_at = parse_time(end, "end", now + timedelta(seconds=1))
    start_at = parse_time(start, "start", end_at - timedelta(days=365))
    if start_at >= end_at:
        raise Problem(422, "start must be before end", field="start")
    query = select(PropertyRating).where(
        PropertyRating.at >= start_at, PropertyRating.at < end_at, PropertyRating.compound_id.is_not(None)
    )
    if compound_id is not None:
        query = query.where(PropertyRating.compound_id == compound_id)
    if community_id is not None:
        compounds = select(Area.id).where(Area.level == AreaLevel.COMPOUND, Area.parent_id == community_id)
        query = query.where(PropertyRating.compound_id.in_(compounds))
    per: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for r in session.scalars(query):
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
    return {"period": period, "start": start_at.isoformat(), "end": end_at.isoformat(), "items": items}
