"""The closed loop as a table of transitions, each role-checked and audited.

reported → accepted (受理) → dispatched (派遣) → on_site → resolved (处置反馈) → verified (核查结案)
→ evaluated (评价) → closed, with the side paths rejected, merged (as a duplicate) and reopened
(the resident is unhappy; it goes back to dispatch). Dispatch to a department follows
"community dispatches, department accepts, party member pledges, resident rates" (派单/接单/诺单/评单).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.common.errors import DomainError
from service.common.hooks import Hook
from service.config import Settings
from service.organisations.models import Department
from service.requests import access, sla
from service.requests.models import (
    DepartmentStatus,
    HandlingLevel,
    JointMeetingItem,
    RequestEvent,
    ServiceRequest,
    Status,
)
from service.requests.policy import (
    LOW_SATISFACTION,
    REOPEN_WINDOW,
    REPORTER,
    STAFF_HANDLERS,
    TRANSITIONS,
    Actor,
    Rule,
    reopen_refusal,
    scope_refusal,
    state_refusal,
)
from service.requests.views import event_payload
from service.volunteers.models import Volunteer

S = Status
SYSTEM = "system"  # the trail's actor for the scheduler's steps
_STAMP = {
    S.ACCEPTED: "accepted_at",
    S.DISPATCHED: "dispatched_at",
    S.ON_SITE: "on_site_at",
    S.RESOLVED: "resolved_at",
    S.VERIFIED: "verified_at",
    S.EVALUATED: "evaluated_at",
    S.CLOSED: "closed_at",
}

__all__ = [
    "LOW_SATISFACTION",
    "REOPEN_WINDOW",
    "REPORTER",
    "STAFF_HANDLERS",
    "TRANSITIONS",
    "Actor",
    "Rule",
    "TransitionError",
    "TransitionInput",
    "apply_transition",
    "close_automatically",
    "record",
    "request_closed",
]

#: Fired in the closing transaction when a case becomes closed (by a dispatcher or automatically);
#: follow-ups connect their handler in ``service.wiring`` (requests never imports them).
request_closed: Hook[[Session, ServiceRequest, datetime, Settings]] = Hook("requests.request_closed")


class TransitionError(DomainError):
    """A refused transition; ``status`` says why (403 not yours, 409 not now, 422 bad input)."""


@dataclass
class TransitionInput:
    action: str
    version: int | None = None
    note: str | None = None
    reason: str | None = None
    volunteer_id: int | None = None
    department_id: int | None = None
    to_department: bool = False
    duplicate_of: int | None = None
    level: HandlingLevel | None = None
    satisfaction: int | None = None
    comment: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Ctx:
    """Everything an action's effect may need."""

    session: Session
    req: ServiceRequest
    data: TransitionInput
    actor: Actor
    now: datetime
    settings: Settings
    details: dict = field(default_factory=dict)


def _check(session: Session, req: ServiceRequest, data: TransitionInput, actor: Actor) -> Rule:
    """The table's checks, in the order a caller is told: the action, the role, the scope, the
    version, the status and the inputs the action needs."""
    rule = TRANSITIONS.get(data.action)
    if rule is None:
        raise TransitionError(
            f"unknown action {data.action!r}; one of {', '.join(TRANSITIONS)}", field="action", status=422
        )
    if not (actor.roles() & rule.roles):
        allowed = ", ".join(sorted(str(r) for r in rule.roles))
        raise TransitionError(f"{data.action} needs one of: {allowed}", status=403 if actor.user else 401)
    out_of_scope = scope_refusal(session, req, actor, data.action)
    if out_of_scope:
        raise TransitionError(out_of_scope, status=403)
    if data.version is not None and data.version != req.version:
        raise TransitionError(
            f"stale version {data.version}; the request is at version {req.version}", field="version", status=409
        )
    if req.status not in rule.sources:
        raise TransitionError(f"cannot {data.action} a request that is {req.status.value}", field="action", status=409)
    for name in rule.needs:
        value = getattr(data, name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise TransitionError(f"{name} is required to {data.action}", field=name, status=422)
    return rule


def apply_transition(
    session: Session, *, req: ServiceRequest, data: TransitionInput, actor: Actor, now: datetime, settings: Settings
) -> ServiceRequest:
    """Check and apply one action; writes the audit entry and the event. Does not commit."""
    rule = _check(session, req, data, actor)
    ctx = Ctx(session, req, data, actor, now, settings)
    _EFFECTS.get(data.action, _no_effect)(ctx)
    _enter(
        ctx,
        rule.target,
        action=data.action,
        actor=actor,
        note=data.note or data.reason or data.comment,
    )
    return req


def close_automatically(session: Session, req: ServiceRequest, *, now: datetime, settings: Settings) -> bool:
    """The scheduler's close of a case left verified or evaluated: the table's ``close``, taken by
    the system (no actor, no role check). False when the case is no longer closable."""
    rule = TRANSITIONS["close"]
    if req.status not in rule.sources:
        return False
    ctx = Ctx(session, req, TransitionInput(action="close"), Actor(None), now, settings)
    _enter(ctx, rule.target, action="close", actor=None, note="closed automatically")
    return True


def _enter(ctx: Ctx, target: Status | None, *, action: str, actor: Actor | None, note: str | None) -> None:
    """Move the case to ``target`` (None: stay), stamp the stage, recolour, record the step and,
    when it closes, fire ``request_closed``."""
    req, now = ctx.req, ctx.now
    before = req.status
    if target is not None:
        req.status = target
        stamp = _STAMP.get(target)
        if stamp:
            setattr(req, stamp, now)
    req.updated_at = now
    refresh_warning(req, now)
    record(ctx.session, req, action=action, before=before, actor=actor, now=now, note=note, data=ctx.details)
    if req.status is Status.CLOSED and before is not Status.CLOSED:
        request_closed.fire(ctx.session, req, now, ctx.settings)


def record(
    session: Session,
    req: ServiceRequest,
    *,
    action: str,
    before: Status | None,
    actor: Actor | None,
    now: datetime,
    note: str | None = None,
    data: Mapping[str, Any] | None = None,
    event: str = "request.updated",
) -> RequestEvent:
    """The one writer of ``RequestEvent``: the audit entry of a step and its live ``event`` (the
    map's marker). ``actor`` None: the system scheduler."""
    from service.events.outbox import publish

    row = RequestEvent(
        request_id=req.id,
        action=action,
        from_status=before.value if before else None,
        to_status=req.status.value,
        actor_user_id=actor.user.id if actor and actor.user else None,
        actor=actor.name if actor else SYSTEM,
        at=now,
        note=note,
        data=dict(data or {}),
    )
    session.add(row)
    session.flush()
    publish(session, event, event_payload(req, action=action))
    return row


def refresh_warning(req: ServiceRequest, now: datetime) -> bool:
    """Recompute the colour; True when it changed."""
    level = sla.warning_level(
        severity=req.category.severity,
        households=req.households_affected,
        clock=sla.clock_of(req),
        now=now,
        status=req.status,
    )
    changed = level != req.warning_level
    req.warning_level = level
    return changed


def escalate_to(session: Session, req: ServiceRequest, level: HandlingLevel, now: datetime) -> None:
    """Raise the handling level; township and above join the joint-meeting list (联席会议)."""
    if level.rank <= req.level.rank:
        return
    req.level = level
    if level.rank >= HandlingLevel.TOWNSHIP.rank:
        exists = session.scalar(select(JointMeetingItem).where(JointMeetingItem.request_id == req.id))
        if exists is None:
            session.add(JointMeetingItem(request_id=req.id, level=level, opened_at=now))
        elif exists.closed_at is None:
            exists.level = level


# -- per-action effects ------------------------------------------------------------------


def _no_effect(_ctx: Ctx) -> None:
    return None


def _dispatch(ctx: Ctx) -> None:
    req, data = ctx.req, ctx.data
    if data.to_department or data.department_id is not None:
        department = _department_for(ctx.session, req, data.department_id)
        req.department_id = department.id
        req.department_status = DepartmentStatus.PENDING
        escalate_to(ctx.session, req, HandlingLevel.DEPARTMENT, ctx.now)
        ctx.details["department_id"] = department.id
        return
    if data.volunteer_id is not None:
        volunteer = ctx.session.get(Volunteer, data.volunteer_id)
        if volunteer is None or volunteer.retired_at is not None:  # a retired volunteer takes no cases
            raise TransitionError(f"no volunteer with id {data.volunteer_id}", field="volunteer_id", status=422)
        req.volunteer_id = volunteer.id
        req.volunteer_walk_m = None
        req.assignment_method = "dispatcher"
    if req.volunteer_id is None:
        raise TransitionError(
            "no volunteer is assigned: give volunteer_id, or dispatch to a department",
            field="volunteer_id",
            status=422,
        )
    ctx.details["volunteer_id"] = req.volunteer_id


def _department_for(session: Session, req: ServiceRequest, department_id: int | None) -> Department:
    if department_id is not None:
        department = session.get(Department, department_id)
        if department is None:
            raise TransitionError(f"no department with id {department_id}", field="department_id", status=422)
        return department
    paired = [d for d in session.scalars(select(Department)) if any(c.id == req.community_id for c in d.communities)]
    preferred = [d for d in paired if d.code == req.category.department_code]
    if preferred or paired:
        return (preferred or paired)[0]
    raise TransitionError(
        "no department is paired with this community; give department_id", field="department_id", status=422
    )


def _department_accept(ctx: Ctx) -> None:
    refusal = state_refusal("department_accept", ctx.req, ctx.actor, ctx.now)
    if refusal:
        raise TransitionError(refusal, field="action", status=409)
    ctx.req.department_status = DepartmentStatus.ACCEPTED


def _department_refuse(ctx: Ctx) -> None:
    req = ctx.req
    refusal = state_refusal("department_refuse", req, ctx.actor, ctx.now)
    if refusal:
        raise TransitionError(refusal, field="action", status=409)
    ctx.details["department_id"] = req.department_id
    req.department_status = DepartmentStatus.REFUSED
    req.department_id = None


def _pledge(ctx: Ctx) -> None:
    ctx.req.pledged_by_user_id = ctx.actor.user.id if ctx.actor.user else None


def _evaluate(ctx: Ctx) -> None:
    score = ctx.data.satisfaction
    if score is None or not 1 <= score <= 5:
        raise TransitionError("satisfaction must be an integer from 1 to 5", field="satisfaction", status=422)
    ctx.req.satisfaction = score
    ctx.req.evaluation_comment = ctx.data.comment
    ctx.details["satisfaction"] = score
    ctx.details["can_reopen"] = score <= LOW_SATISFACTION  # the rating alone: the case is not closed yet


def _reopen(ctx: Ctx) -> None:
    req, now = ctx.req, ctx.now
    refusal = None if ctx.actor.supervises else reopen_refusal(req, now)
    if refusal:
        raise TransitionError(refusal, field="action", status=409)
    req.reopen_count += 1
    for stamp in ("on_site_at", "resolved_at", "verified_at", "evaluated_at", "closed_at"):
        setattr(req, stamp, None)
    req.satisfaction = None
    fresh = sla.deadlines(
        now,
        response_minutes=ctx.settings.response_minutes,
        onsite_minutes=ctx.settings.onsite_minutes,
        resolve_hours=req.category.resolve_hours,
    )
    req.due_onsite_at, req.due_resolve_at = fresh.onsite, fresh.resolve
    req.onsite_breached = req.resolve_breached = False


def _redispatch(ctx: Ctx) -> None:
    ctx.req.resolved_at = None
    ctx.req.on_site_at = None


def _merge(ctx: Ctx) -> None:
    req, target_id = ctx.req, ctx.data.duplicate_of
    target = ctx.session.get(ServiceRequest, target_id)
    # The target must be a case the actor may see (a grid worker: in its grids), and one it may not
    # see answers as one that does not exist.
    user = ctx.actor.user
    hidden = target is not None and user is not None and not access.can_view(ctx.session, user, target)
    if target is None or target.id == req.id or hidden:
        raise TransitionError(f"no other request with id {target_id}", field="duplicate_of", status=422)
    if target.status in (S.MERGED, S.REJECTED):
        raise TransitionError(
            f"request {target.id} is {target.status.value}; merge into a live one", field="duplicate_of", status=409
        )
    req.duplicate_of_id = target.id
    ctx.details["duplicate_of"] = target.id


def _escalate(ctx: Ctx) -> None:
    req = ctx.req
    target = ctx.data.level or req.level.up()
    if target.rank <= req.level.rank:
        raise TransitionError(
            f"the case is already at {req.level.value}; escalate to a higher level", field="level", status=409
        )
    ctx.details["from_level"] = req.level.value
    escalate_to(ctx.session, req, target, ctx.now)
    ctx.details["to_level"] = req.level.value


_EFFECTS = {
    "dispatch": _dispatch,
    "department_accept": _department_accept,
    "department_refuse": _department_refuse,
    "pledge": _pledge,
    "evaluate": _evaluate,
    "reopen": _reopen,
    "redispatch": _redispatch,
    "merge": _merge,
    "escalate": _escalate,
}
