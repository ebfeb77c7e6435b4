"""Applying deadlines: breaches, escalation, warning colours and auto-close, from data in the database.

Deadlines are columns, not timers, so a restart loses none. ``apply_deadlines`` runs on every
worker every few seconds; each change is a short transaction guarded by the request's version
(SQLAlchemy ``version_id_col``), so when two workers race only one update lands and the other
sees a stale row and skips it: a breach escalates a case exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm.exc import StaleDataError

from service.config import Settings
from service.db import Database
from service.requests import sla
from service.requests.models import OPEN_STATUSES, ServiceRequest, Status
from service.requests.workflow import after_close, escalate_to, record, refresh_warning
from service.stations.circles import refresh_stale_circles

log = logging.getLogger("neighborgrid.scheduler")

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


def _guarded(db: Database, request_id: int, result: TickResult, change: Callable) -> None:
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


def _apply_open(session, req: ServiceRequest, now: datetime) -> dict[str, int] | None:
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
    record(
        session,
        req,
        action="recolour",
        before=req.status,
        actor=None,
        now=now,
        data={"warning_level": req.warning_level.value},
    )
    session.flush()
    return {"recoloured": 1}


def _auto_close(session, req: ServiceRequest, now: datetime, settings: Settings) -> dict[str, int] | None:
    if req.status not in (Status.VERIFIED, Status.EVALUATED):
        return None
    before = req.status
    req.status = Status.CLOSED
    req.closed_at = now
    req.updated_at = now
    record(session, req, action="close", before=before, actor=None, now=now, note="closed automatically")
    after_close(session, req, now=now, settings=settings)
    session.flush()
    return {"closed": 1}


async def run_forever(db: Database, settings: Settings, clock: Callable[[], datetime]) -> None:
    """The in-service scheduler loop (one per worker process): deadlines, community life (wish claims
    that ran out, key households that became overdue), then stale service circles."""
    from service.community.tick import community_tick

    while True:
        await asyncio.sleep(settings.sla_tick_seconds)
        try:
            await asyncio.to_thread(apply_deadlines, db, now=clock(), settings=settings)
            await asyncio.to_thread(refresh_stale_circles, db, settings=settings)
        except asyncio.CancelledError:
            raise
        except Exception:  # keep the loop alive: the next tick retries from the database
            log.exception("deadline tick failed")
        try:
            await asyncio.to_thread(community_tick, db, now=clock())
        except asyncio.CancelledError:
            raise
        except Exception:  # its own failures must not stop the deadlines (nor the reverse)
            log.exception("community tick failed")
