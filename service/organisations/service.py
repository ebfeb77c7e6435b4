"""Reading the organisations: departments with their paired communities, party branches and groups."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from service.areas.service import area_summary
from service.organisations.models import Department, PartyOrg


def list_departments(session: Session) -> list[dict[str, Any]]:
    """Every department by code, with its communities by code."""
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


def list_party_orgs(session: Session) -> list[dict[str, Any]]:
    """Every party branch and group, in id order."""
    return [
        {
            "id": p.id,
            "kind": p.kind.value,
            "name_zh": p.name_zh,
            "name_en": p.name_en,
            "parent_id": p.parent_id,
            "community_id": p.community_id,
        }
        for p in session.scalars(select(PartyOrg).order_by(PartyOrg.id))
    ]
