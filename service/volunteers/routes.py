"""``/api/v1/volunteers`` and ``/api/v1/grid-workers``: people, for staff only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from service.auth.deps import StaffUser, require_roles
from service.auth.models import Role, User
from service.common.geojson import feature
from service.common.params import BBoxParam
from service.common.spatial import intersects
from service.deps import ReadSession
from service.grids.models import GridWorker
from service.volunteers.models import Volunteer

router = APIRouter(prefix="/api/v1", tags=["people"])

Dispatching = Annotated[User, Depends(require_roles(Role.DISPATCHER, Role.GRID_WORKER, Role.ADMIN))]


@router.get("/volunteers", summary="Volunteers with skills, duty and last position (dispatchers)")
def volunteers(
    session: ReadSession,
    _user: Dispatching,
    bbox: BBoxParam,
    on_duty: bool | None = Query(None),
    skill: str | None = Query(None, max_length=40),
) -> dict[str, Any]:
    query = select(Volunteer).order_by(Volunteer.id)
    if on_duty is not None:
        query = query.where(Volunteer.on_duty == on_duty)
    if bbox is not None:
        query = query.where(intersects(session, Volunteer.position, bbox.polygon()))
    rows = [v for v in session.scalars(query) if skill is None or skill in (v.skills or [])]
    features = [
        feature(
            v.id,
            v.position,
            {
                "name_zh": v.name_zh,
                "name_en": v.name_en,
                "phone": v.phone,
                "skills": v.skills,
                "team_zh": v.team_zh,
                "team_en": v.team_en,
                "on_duty": v.on_duty,
                "position_at": v.position_at.isoformat() if v.position_at else None,
                "community_id": v.community_id,
            },
        )
        for v in rows
    ]
    return {"type": "FeatureCollection", "features": features}


@router.get("/grid-workers", summary="Grid workers and their grids (staff)")
def grid_workers(session: ReadSession, _user: StaffUser) -> list[dict[str, Any]]:
    rows = session.scalars(select(GridWorker).options(selectinload(GridWorker.grids)).order_by(GridWorker.id))
    return [
        {
            "id": w.id,
            "name_zh": w.name_zh,
            "name_en": w.name_en,
            "phone": w.phone,
            "role": w.role.value,
            "party_member": w.party_member,
            "on_duty": w.on_duty,
            "grid_ids": sorted(g.id for g in w.grids),
        }
        for w in rows
    ]
