"""Deadlines and colour warnings, as plain functions of the case and the time.

The warning colour combines three things, as our reference practice grades cases by nature,
scope and severity:

* **severity** of the category: 1 → blue, 2 → yellow, 3 → orange, 4 → red;
* **impact**: a whole building (≥ 30 households) raises it one step, a compound (≥ 300) two;
* **time**: a running deadline more than half used raises it one step, a breached one two.

Red is the highest (level 1 in the Emergency Response Law's numbering).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from service.requests.models import OPEN_STATUSES, Status, WarningLevel

BUILDING_IMPACT_HOUSEHOLDS = 30
COMPOUND_IMPACT_HOUSEHOLDS = 300
_LEVELS = list(WarningLevel)


@dataclass(frozen=True)
class Deadlines:
    response: datetime
    onsite: datetime
    resolve: datetime


def deadlines(reported_at: datetime, *, response_minutes: float, onsite_minutes: float, resolve_hours: float):
    return Deadlines(
        response=reported_at + timedelta(minutes=response_minutes),
        onsite=reported_at + timedelta(minutes=onsite_minutes),
        resolve=reported_at + timedelta(hours=resolve_hours),
    )


@dataclass(frozen=True)
class Clock:
    """The stage timestamps that stop each deadline's clock."""

    reported_at: datetime
    accepted_at: datetime | None
    on_site_at: datetime | None
    resolved_at: datetime | None
    due_response_at: datetime
    due_onsite_at: datetime
    due_resolve_at: datetime


def clock_of(req) -> Clock:
    """The deadline clock of a stored request."""
    return Clock(
        reported_at=req.reported_at,
        accepted_at=req.accepted_at,
        on_site_at=req.on_site_at,
        resolved_at=req.resolved_at,
        due_response_at=req.due_response_at,
        due_onsite_at=req.due_onsite_at,
        due_resolve_at=req.due_resolve_at,
    )


def running_now(req) -> list[str]:
    """The deadlines whose clock runs for a stored case now: the unmet ones of an open case (a
    finished, rejected or merged case runs none). What the dispatcher's map counts down."""
    if req.status not in OPEN_STATUSES:
        return []
    return [name for name, _due in running_deadlines(clock_of(req))]


def running_deadlines(c: Clock) -> list[tuple[str, datetime]]:
    """The deadlines not yet met: (name, due)."""
    out = []
    if c.accepted_at is None:
        out.append(("response", c.due_response_at))
    if c.on_site_at is None and c.resolved_at is None:
        out.append(("onsite", c.due_onsite_at))
    if c.resolved_at is None:
        out.append(("resolve", c.due_resolve_at))
    return out


def time_pressure(c: Clock, now: datetime) -> int:
    """0 on track, 1 when a running deadline is more than half used, 2 when one is breached."""
    pressure = 0
    for _name, due in running_deadlines(c):
        total = (due - c.reported_at).total_seconds()
        used = (now - c.reported_at).total_seconds()
        if now >= due:
            return 2
        if total > 0 and used / total >= 0.5:
            pressure = 1
    return pressure


def impact_steps(households: int) -> int:
    if households >= COMPOUND_IMPACT_HOUSEHOLDS:
        return 2
    if households >= BUILDING_IMPACT_HOUSEHOLDS:
        return 1
    return 0


def warning_level(*, severity: int, households: int, clock: Clock, now: datetime, status: Status) -> WarningLevel:
    """The colour for a case now. Finished cases keep the colour of their severity and impact."""
    steps = max(1, min(4, severity)) - 1 + impact_steps(households)
    if status in OPEN_STATUSES:
        steps += time_pressure(clock, now)
    return _LEVELS[min(steps, len(_LEVELS) - 1)]


def breached(c: Clock, now: datetime) -> list[str]:
    """Names of the deadlines that have passed unmet."""
    return [name for name, due in running_deadlines(c) if now >= due]
