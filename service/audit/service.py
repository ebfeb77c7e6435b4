"""Writing the audit log: one call per staff write (or sensitive read), in the same transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit.models import AuditEntry
from service.common.request_id import request_id_var


def audit(
    session: Session,
    *,
    actor: Any | None,
    action: str,
    entity: str,
    entity_id: Any = None,
    before: dict | None = None,
    after: dict | None = None,
    now: datetime | None = None,
) -> None:
    """Append an entry; ``actor`` is a User (or None for the system)."""
    session.add(
        AuditEntry(
            at=now or datetime.now(UTC),
            actor_user_id=getattr(actor, "id", None),
            actor=getattr(actor, "username", None) or "system",
            role=getattr(getattr(actor, "role", None), "value", None),
            action=action,
            entity=entity,
            entity_id=None if entity_id is None else str(entity_id),
            before=before,
            after=after,
            request_id=request_id_var.get(),
        )
    )


def entries(
    session: Session,
    *,
    entity: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditEntry]:
    """Entries, newest first, matching every filter given."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
    for column, value in (
        (AuditEntry.entity, entity),
        (AuditEntry.entity_id, entity_id),
        (AuditEntry.actor, actor),
        (AuditEntry.action, action),
    ):
        if value is not None:
            query = query.where(column == value)
    return list(session.scalars(query))
