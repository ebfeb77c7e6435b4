"""Writing the audit log: one call per staff write (or sensitive read), in the same transaction."""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from service.audit.models import AuditEntry

#: The current HTTP request's id (set by the request-log middleware), stored with each entry.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


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
