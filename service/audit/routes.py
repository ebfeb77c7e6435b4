"""``GET /api/v1/audit``: the append-only audit log (admins)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from service.audit.models import AuditEntry
from service.auth.deps import AdminUser
from service.common.params import OffsetParam
from service.deps import ReadSession

router = APIRouter(prefix="/api/v1", tags=["operations"])


@router.get("/audit", summary="Audit log entries, newest first (admins)")
def audit_log(
    session: ReadSession,
    _admin: AdminUser,
    entity: Annotated[str | None, Query(max_length=40)] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=60)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: OffsetParam = 0,
) -> list[dict[str, Any]]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
    for column, value in (
        (AuditEntry.entity, entity),
        (AuditEntry.entity_id, entity_id),
        (AuditEntry.actor, actor),
        (AuditEntry.action, action),
    ):
        if value is not None:
            query = query.where(column == value)
    return [
        {
            "id": e.id,
            "at": e.at.isoformat(),
            "actor": e.actor,
            "actor_user_id": e.actor_user_id,
            "role": e.role,
            "action": e.action,
            "entity": e.entity,
            "entity_id": e.entity_id,
            "before": e.before,
            "after": e.after,
            "request_id": e.request_id,
        }
        for e in session.scalars(query)
    ]
