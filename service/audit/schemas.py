"""How an audit entry is answered."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from service.audit.models import AuditEntry


class AuditEntryOut(BaseModel):
    id: int
    at: str
    actor: str
    actor_user_id: int | None
    role: str | None
    action: str
    entity: str
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None

    @classmethod
    def of(cls, e: AuditEntry) -> AuditEntryOut:
        return cls(
            id=e.id,
            at=e.at.isoformat(),
            actor=e.actor,
            actor_user_id=e.actor_user_id,
            role=e.role,
            action=e.action,
            entity=e.entity,
            entity_id=e.entity_id,
            before=e.before,
            after=e.after,
            request_id=e.request_id,
        )
