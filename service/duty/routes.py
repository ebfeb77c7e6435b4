"""``/api/v1/buildings/{id}/duty``: the building's chair and weekly rotation (楼栋轮值制), the
duty-holder's dispute log and property-service rating; ``/api/v1/property-scores``: the
per-compound property-service score over time."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from service.auth.deps import require_roles
from service.auth.models import Role, User
from service.common.params import MAX_DB_ID, IdPath
from service.community.times import period as period_of
from service.deps import ClockDep, ReadSession, SettingsDep, WriteSession
from service.duty import service
from service.duty.schemas import (
    BuildingDuty,
    DisputeIn,
    DisputeOut,
    DutyLog,
    PropertyScores,
    RatingIn,
    RatingOut,
    RotationIn,
)

router = APIRouter(prefix="/api/v1", tags=["building duty"])

Viewer = Annotated[
    User, Depends(require_roles(Role.VOLUNTEER, Role.GRID_WORKER, Role.DISPATCHER, Role.ADMIN, Role.PLANNER))
]
Organiser = Annotated[User, Depends(require_roles(Role.GRID_WORKER, Role.DISPATCHER, Role.ADMIN))]
DutyHolder = Annotated[User, Depends(require_roles(Role.VOLUNTEER))]


@router.get(
    "/buildings/{building_id}/duty",
    response_model=BuildingDuty,
    response_model_exclude_unset=True,
    summary="A building's chair, rotation and this week's duty-holder",
)
def get_duty(building_id: IdPath, session: ReadSession, clock: ClockDep, _user: Viewer) -> dict[str, Any]:
    return service.building_duty(session, building_id=building_id, now=clock())


@router.put(
    "/buildings/{building_id}/duty",
    response_model=BuildingDuty,
    response_model_exclude_unset=True,
    summary="Set a building's chair and weekly rotation (the grid's staff)",
)
def set_duty(
    building_id: IdPath, body: RotationIn, session: WriteSession, clock: ClockDep, user: Organiser
) -> dict[str, Any]:
    """Members must be volunteers living in the building (``home_building_id``), each once; a rotation
    with nobody in it gets 422 naming ``members``."""
    now = clock()
    service.set_rotation(
        session,
        building_id=building_id,
        members=body.members,
        chair_volunteer_id=body.chair_volunteer_id,
        starts_on=body.starts_on,
        user=user,
        now=now,
    )
    session.commit()
    return service.building_duty(session, building_id=building_id, now=now)


@router.post(
    "/buildings/{building_id}/duty/disputes",
    status_code=201,
    response_model=DisputeOut,
    summary="Log a dispute handled (this week's duty-holder)",
)
def log_dispute(
    building_id: IdPath,
    body: DisputeIn,
    session: WriteSession,
    settings: SettingsDep,
    clock: ClockDep,
    user: DutyHolder,
) -> dict[str, Any]:
    log = service.log_dispute(
        session,
        building_id=building_id,
        summary=body.summary,
        outcome=body.outcome,
        request_category=body.request_category,
        user=user,
        settings=settings,
        now=clock(),
    )
    session.commit()
    return service.dispute_dict(log)


@router.post(
    "/buildings/{building_id}/duty/property-rating",
    status_code=201,
    response_model=RatingOut,
    summary="Rate this week's property-management service, 1-5 (this week's duty-holder)",
)
def rate_property(
    building_id: IdPath, body: RatingIn, session: WriteSession, clock: ClockDep, user: DutyHolder
) -> dict[str, Any]:
    """One rating per building and week (a second gets 409)."""
    rating = service.rate_property(
        session, building_id=building_id, score=body.score, comment=body.comment, user=user, now=clock()
    )
    session.commit()
    return service.rating_dict(rating)


@router.get(
    "/buildings/{building_id}/duty/log",
    response_model=DutyLog,
    summary="A building's disputes and property ratings, newest first",
)
def duty_log(
    building_id: IdPath,
    session: ReadSession,
    _user: Viewer,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    return service.duty_log(session, building_id=building_id, limit=limit)


@router.get(
    "/property-scores",
    tags=["building duty"],
    response_model=PropertyScores,
    summary="Property-service score per compound over time (public)",
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
    start_at, end_at = period_of(start, end, clock())
    return service.property_scores(
        session, start=start_at, end=end_at, period=period, compound_id=compound_id, community_id=community_id
    )
