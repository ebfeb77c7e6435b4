"""What the organisation endpoints answer: departments with their paired communities, party orgs."""

from __future__ import annotations

from pydantic import BaseModel

from service.areas.schemas import AreaSummary
from service.organisations.models import PartyOrgKind


class DepartmentOut(BaseModel):
    """A county department, what it handles, and the communities it is paired with (结对共建)."""

    id: int
    code: str
    name_zh: str
    name_en: str | None
    handles: list[str]
    communities: list[AreaSummary]


class PartyOrgOut(BaseModel):
    """A party branch (党支部) or group (党小组)."""

    id: int
    kind: PartyOrgKind
    name_zh: str
    name_en: str | None
    parent_id: int | None
    community_id: int | None
