"""``/api/v1/departments`` and ``/api/v1/party-orgs``: public organisational facts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from service.deps import ReadSession
from service.organisations import service
from service.organisations.schemas import DepartmentOut, PartyOrgOut

router = APIRouter(prefix="/api/v1", tags=["organisations"])


@router.get(
    "/departments",
    summary="County departments and the communities they are paired with (结对共建)",
    response_model=list[DepartmentOut],
)
def departments(session: ReadSession) -> list[dict[str, Any]]:
    return service.list_departments(session)


@router.get("/party-orgs", summary="Party branches (党支部) and groups (党小组)", response_model=list[PartyOrgOut])
def party_orgs(session: ReadSession) -> list[dict[str, Any]]:
    return service.list_party_orgs(session)
