"""``/api/v1/departments`` and ``/api/v1/party-orgs``: public organisational facts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from service.areas.service import area_summary
from service.deps import ReadSession
from service.organisations.models import Department, PartyOrg

router = APIRouter(prefix="/api/v1", tags=["organisations"])


@router.get("/departments", summary="County departments and the communities they are paired with (结对共建)")
def departments(session: ReadSession) -> list[dict[str, Any]]:
    rows = session.scalars(select(Department).options(selectinload(Department.communities)).order_by(Department.code))
    return [
        {
            "id": d.id,
            "code": d.code,
            "name_zh": d.name_zh,
            "name_en": d.name_en,
            "handles": d.handles,
            "communities": [area_summary(c) for c in sorted(d.communities, key=lambda c: c.code)],
        }
        for d in rows
    ]


@router.get("/party-orgs", summary="Party branches (党支部) and groups (党小组)")
def party_orgs(session: ReadSession) -> list[dict[str, Any]]:
    rows = session.scalars(select(PartyOrg).order_by(PartyOrg.id))
    return [
        {
            "id": p.id,
            "kind": p.kind.value,
            "name_zh": p.name_zh,
            "name_en": p.name_en,
            "parent_id": p.parent_id,
            "community_id": p.community_id,
        }
        for p in rows
    ]
