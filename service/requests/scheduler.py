"""Applying deadlines: breaches, escalation, warning colours and auto-close, from data in the database.

This is the requests part of the periodic work; ``service.jobs`` runs it with the other domains'.

Deadlines are columns, not timers, so a restart loses none. ``apply_deadlines`` runs on every
worker every few seconds; each change is a short transaction guarded by the request's version
(SQLAlchemy ``version_id_col``), so when two workers race only one update lands and the other
sees a stale row and skips it: a breach escalates a case exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from service.config import Settings
from service.db import Database
from service.requests import sla
from service.requests.models import OPEN_STATUSES, RECOLOUR, RecolourData, ServiceRequest, Status
from service.requests.workflow import close_automatically, escalate_to, record, refresh_warning

_BREACH_FLAGS = {"response": "response_breached", "onsite": "onsite_breached", "resolve": "resolve_breached"}


@dataclass
class TickResult:
    breaches: int = 0
    recoloured: int = 0
    closed: int = 0
    conflicts: int = 0


def apply_deadlines(db: Database, *, now: datetime, settings: Settings) -> TickResult:
    result = TickResult()
    with db.reader() as session:
        # One read decides which open cases need a change; only those get a transaction of their own.
        open_ids = [
            req.id
            for req in session.scalars(select(ServiceRequest).where(ServiceRequest.status.in_(OPEN_STATUSES)))
            if _needs_attention(req, now)
        ]
        cutoff = now - timedelta(days=settings.auto_close_after_days)
        stale_done = list(
            session.scalars(
                select(ServiceRequest.id).where(
                    or_(
                        (ServiceRequest.status == Status.VERIFIED) & (ServiceRequest.verified_at <= cutoff),
                        (ServiceRequest.status == Status.EVALUATED) & (ServiceRequest.evaluated_at <= cutoff),
                    )
                )
            )
        )
    for request_id in open_ids:
        _guarded(db, request_id, result, lambda s, req: _apply_open(s, req, now))
    for request_id in stale_done:
        _guarded(db, request_id, result, lambda s, req: _auto_close(s, req, now, settings))
    return result


def _needs_attention(req: ServiceRequest, now: datetime) -> bool:
    """A deadline newly breached, or a colour that time has changed."""
    clock = sla.clock_of(req)
    if any(not getattr(req, _BREACH_FLAGS[name]) for name in sla.breached(clock, now)):
        return True
    level = sla.warning_level(
        severity=req.category.severity, households=req.households_affected, clock=clock, now=now, status=req.status
    )
    return level != req.warning_level


Change = Callable[[Session, ServiceRequest], "dict[str, int] | None"]


def _guarded(db: Database, request_id: int, result: TickResult, change: Change) -> None:
    """Apply one change in its own transaction; count it only if it committed."""
    try:
        with db.transaction() as session:
            req = session.get(ServiceRequest, request_id)
            counts = change(session, req) if req is not None else None
    except StaleDataError:
        result.conflicts += 1  # another worker changed it first; the next tick sees its result
        return
    for name, n in (counts or {}).items():
        setattr(result, name, getattr(result, name) + n)


def _apply_open(session: Session, req: ServiceRequest, now: datetime) -> dict[str, int] | None:
    if req.status not in OPEN_STATUSES:
        return None
    new = [name for name in sla.breached(sla.clock_of(req), now) if not getattr(req, _BREACH_FLAGS[name])]
    recoloured = refresh_warning(req, now)
    if not new and not recoloured:
        return None
    req.updated_at = now
    if new:
        before_level = req.level
        for name in new:
            setattr(req, _BREACH_FLAGS[name], True)
            escalate_to(session, req, req.level.up(), now)
        record(
            session,
            req,
            action="breach",
            before=req.status,
            actor=None,
            now=now,
            note="deadline passed: " + ", ".join(new),
            data={"breached": new, "from_level": before_level.value, "to_level": req.level.value},
        )
        session.flush()
        return {"breaches": len(new)}
    colour: RecolourData = {"warning_level": req.warning_level.value}
    record(session, req, action=RECOLOUR, before=req.status, actor=None, now=now, data=colour)
    session.flush()
    return {"recoloured": 1}


def _auto_close(session: Session, req: ServiceRequest, now: datetime, settings: Settings) -> dict[str, int] | None:
    if not close_automatically(session, req, now=now, settings=settings):
        return None
    session.flush()
    return {"closed": 1}
