"""The closed loop as a table of transitions, each role-checked and audited.

reported → accepted (受理) → dispatched (派遣) → on_site → resolved (处置反馈) → verified (核查结案)
→ evaluated (评价) → closed, with the side paths rejected, merged (as a duplicate) and reopened
(the resident is unhappy; it goes back to dispatch). Dispatch to a department follows
"community dispatches, department accepts, party member pledges, resident rates" (派单/接单/诺单/评单).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auth.models import Role, User
from service.config import Settings
from service.grids.models import GridWorker
from service.organisations.models import Department
from service.requests import access, sla
from service.requests.models import (
    OPEN_STATUSES,
    DepartmentStatus,
    HandlingLevel,
    JointMeetingItem,
    RequestEvent,
    ServiceRequest,
    Status,
)
from service.requests.views import event_payload
from service.volunteers.models import Volunteer

REPORTER = "reporter"  # pseudo-role: the signed-in reporter, or anyone holding the tracking code
STAFF_HANDLERS = frozenset({Role.DISPATCHER, Role.GRID_WORKER, Role.ADMIN})
REOPEN_WINDOW = timedelta(days=30)
LOW_SATISFACTION = 2


class TransitionError(Exception):
    """A refused transition: ``status`` is the HTTP status (403, 409, 422), ``field`` the culprit."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


@dataclass(frozen=True)
class Rule:
    sources: frozenset[Status]
    target: Status | None  # None: the status stays as it is
    roles: frozenset[str]
    needs: tuple[str, ...] = ()


def _rule(sources, target, roles, needs=()) -> Rule:
    return Rule(frozenset(sources), target, frozenset(roles), tuple(needs))


S = Status
TRANSITIONS: dict[str, Rule] = {
    "accept": _rule({S.REPORTED}, S.ACCEPTED, STAFF_HANDLERS),
    "reject": _rule({S.REPORTED, S.ACCEPTED}, S.REJECTED, STAFF_HANDLERS, ("reason",)),
    "merge": _rule({S.REPORTED, S.ACCEPTED}, S.MERGED, STAFF_HANDLERS, ("duplicate_of",)),
    "dispatch": _rule({S.ACCEPTED, S.REOPENED}, S.DISPATCHED, STAFF_HANDLERS),
    "department_accept": _rule({S.DISPATCHED}, None, {Role.DEPARTMENT, Role.ADMIN}),
    "department_refuse": _rule({S.DISPATCHED}, S.ACCEPTED, {Role.DEPARTMENT, Role.ADMIN}, ("reason",)),
    "pledge": _rule({S.DISPATCHED, S.ON_SITE}, None, {Role.VOLUNTEER, Role.GRID_WORKER}),
    "arrive": _rule({S.DISPATCHED}, S.ON_SITE, STAFF_HANDLERS | {Role.VOLUNTEER, Role.DEPARTMENT}),
    "resolve": _rule(
        {S.DISPATCHED, S.ON_SITE}, S.RESOLVED, STAFF_HANDLERS | {Role.VOLUNTEER, Role.DEPARTMENT}, ("note",)
    ),
    "redispatch": _rule({S.RESOLVED}, S.DISPATCHED, STAFF_HANDLERS, ("reason",)),
    "verify": _rule({S.RESOLVED}, S.VERIFIED, STAFF_HANDLERS),
    "evaluate": _rule({S.RESOLVED, S.VERIFIED}, S.EVALUATED, {REPORTER}, ("satisfaction",)),
    "reopen": _rule(
        {S.RESOLVED, S.VERIFIED, S.EVALUATED, S.CLOSED},
        S.REOPENED,
        {REPORTER, Role.DISPATCHER, Role.ADMIN},
        ("reason",),
    ),
    "close": _rule({S.VERIFIED, S.EVALUATED}, S.CLOSED, {Role.DISPATCHER, Role.ADMIN}),
    "escalate": _rule(OPEN_STATUSES, None, STAFF_HANDLERS, ("reason",)),
}

_STAMP = {
    S.ACCEPTED: "accepted_at",
    S.DISPATCHED: "dispatched_at",
    S.ON_SITE: "on_site_at",
    S.RESOLVED: "resolved_at",
    S.VERIFIED: "verified_at",
    S.EVALUATED: "evaluated_at",
    S.CLOSED: "closed_at",
}


@dataclass(frozen=True)
class Actor:
    """Who acts: a signed-in user, and whether they count as the reporter of this case."""

    user: User | None
    is_reporter: bool = False

    @property
    def name(self) -> str:
        return self.user.username if self.user else REPORTER

    def roles(self) -> set[str]:
        out: set[str] = {self.user.role} if self.user else set()
        if self.is_reporter:
            out.add(REPORTER)
        return out


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


def _check_scope(session: Session, req: ServiceRequest, actor: Actor, action: str) -> None:
    """Grid workers act in their grids, volunteers on their cases, departments on theirs."""
    user = actor.user
    if user is None or user.role in (Role.DISPATCHER, Role.ADMIN):
        return
    if REPORTER in actor.roles() and action in ("evaluate", "reopen"):
        return
    if user.role is Role.GRID_WORKER:
        worker = session.scalar(select(GridWorker).where(GridWorker.user_id == user.id))
        grid_ids = {g.id for g in worker.grids} if worker else set()
        if req.grid_id not in grid_ids and (worker is None or req.grid_worker_id != worker.id):
            raise TransitionError(403, "grid workers act only on cases in their own grids")
    elif user.role is Role.VOLUNTEER:
        volunteer = session.scalar(select(Volunteer).where(Volunteer.user_id == user.id))
        if volunteer is None or req.volunteer_id != volunteer.id:
            raise TransitionError(403, "volunteers act only on cases assigned to them")
    elif user.role is Role.DEPARTMENT and (user.department_id is None or user.department_id != req.department_id):
        raise TransitionError(403, "departments act only on cases dispatched to them")


def apply_transition(
    session: Session, *, req: ServiceRequest, data: TransitionInput, actor: Actor, now: datetime, settings: Settings
) -> ServiceRequest:
    """Check and apply one action; writes the audit entry and the event. Does not commit."""
    rule = TRANSITIONS.get(data.action)
    if rule is None:
        raise TransitionError(422, f"unknown action {data.action!r}; one of {', '.join(TRANSITIONS)}", "action")
    if not (actor.roles() & rule.roles):
        allowed = ", ".join(sorted(str(r) for r in rule.roles))
        raise TransitionError(403 if actor.user else 401, f"{data.action} needs one of: {allowed}")
    _check_scope(session, req, actor, data.action)
    if data.version is not None and data.version != req.version:
        raise TransitionError(409, f"stale version {data.version}; the request is at version {req.version}", "version")
    if req.status not in rule.sources:
        raise TransitionError(409, f"cannot {data.action} a request that is {req.status.value}", "action")
    for name in rule.needs:
        value = getattr(data, name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise TransitionError(422, f"{name} is required to {data.action}", name)

    before = req.status
    ctx = Ctx(session, req, data, actor, now, settings)
    _EFFECTS.get(data.action, _no_effect)(ctx)
    if rule.target is not None:
        req.status = rule.target
        stamp = _STAMP.get(rule.target)
        if stamp:
            setattr(req, stamp, now)
    req.updated_at = now
    refresh_warning(req, now)
    record(
        session,
        req,
        action=data.action,
        before=before,
        actor=actor,
        now=now,
        note=data.note or data.reason or data.comment,
        data=ctx.details,
    )
    if req.status is S.CLOSED and before is not S.CLOSED:
        after_close(session, req, now=now, settings=settings)
    return req


def after_close(session: Session, req: ServiceRequest, *, now: datetime, settings: Settings) -> None:
    """In the closing transaction: a key case gets the secretary's follow-up (service.followups)."""
    from service.followups.service import on_request_closed

    on_request_closed(session, req, now=now, settings=settings)


def record(
    session: Session,
    req: ServiceRequest,
    *,
    action: str,
    before: Status | None,
    actor: Actor | None,
    now: datetime,
    note: str | None = None,
    data: dict | None = None,
) -> None:
    """Audit entry and live event for a change (``actor`` None: the system scheduler)."""
    from service.events.outbox import publish

    session.add(
        RequestEvent(
            request_id=req.id,
            action=action,
            from_status=before.value if before else None,
            to_status=req.status.value,
            actor_user_id=actor.user.id if actor and actor.user else None,
            actor=actor.name if actor else "system",
            at=now,
            note=note,
            data=data or {},
        )
    )
    session.flush()
    publish(session, "request.updated", event_payload(req, action=action))


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
        if volunteer is None:
            raise TransitionError(422, f"no volunteer with id {data.volunteer_id}", "volunteer_id")
        req.volunteer_id = volunteer.id
        req.volunteer_walk_m = None
        req.assignment_method = "dispatcher"
    if req.volunteer_id is None:
        raise TransitionError(
            422, "no volunteer is assigned: give volunteer_id, or dispatch to a department", "volunteer_id"
        )
    ctx.details["volunteer_id"] = req.volunteer_id


def _department_for(session: Session, req: ServiceRequest, department_id: int | None) -> Department:
    if department_id is not None:
        department = session.get(Department, department_id)
        if department is None:
            raise TransitionError(422, f"no department with id {department_id}", "department_id")
        return department
    paired = [d for d in session.scalars(select(Department)) if any(c.id == req.community_id for c in d.communities)]
    preferred = [d for d in paired if d.code == req.category.department_code]
    if preferred or paired:
        return (preferred or paired)[0]
    raise TransitionError(422, "no department is paired with this community; give department_id", "department_id")


def _department_accept(ctx: Ctx) -> None:
    if ctx.req.department_status is not DepartmentStatus.PENDING:
        raise TransitionError(409, "there is no pending department dispatch to accept", "action")
    ctx.req.department_status = DepartmentStatus.ACCEPTED


def _department_refuse(ctx: Ctx) -> None:
    req = ctx.req
    if req.department_status is not DepartmentStatus.PENDING:
        raise TransitionError(409, "there is no pending department dispatch to refuse", "action")
    ctx.details["department_id"] = req.department_id
    req.department_status = DepartmentStatus.REFUSED
    req.department_id = None


def _pledge(ctx: Ctx) -> None:
    ctx.req.pledged_by_user_id = ctx.actor.user.id if ctx.actor.user else None


def _evaluate(ctx: Ctx) -> None:
    score = ctx.data.satisfaction
    if score is None or not 1 <= score <= 5:
        raise TransitionError(422, "satisfaction must be an integer from 1 to 5", "satisfaction")
    ctx.req.satisfaction = score
    ctx.req.evaluation_comment = ctx.data.comment
    ctx.details["satisfaction"] = score
    ctx.details["can_reopen"] = score <= LOW_SATISFACTION


def _reopen(ctx: Ctx) -> None:
    req, now = ctx.req, ctx.now
    staff = ctx.actor.user is not None and ctx.actor.user.role in (Role.DISPATCHER, Role.ADMIN)
    if not staff and req.status in (S.EVALUATED, S.CLOSED) and (req.satisfaction or 5) > LOW_SATISFACTION:
        raise TransitionError(
            409, f"only a rating of {LOW_SATISFACTION} or less can reopen an evaluated case", "action"
        )
    if not staff and req.status is S.CLOSED and req.closed_at and now - req.closed_at > REOPEN_WINDOW:
        raise TransitionError(409, "the case closed more than 30 days ago; raise a new request", "action")
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
        raise TransitionError(422, f"no other request with id {target_id}", "duplicate_of")
    if target.status in (S.MERGED, S.REJECTED):
        raise TransitionError(
            409, f"request {target.id} is {target.status.value}; merge into a live one", "duplicate_of"
        )
    req.duplicate_of_id = target.id
    ctx.details["duplicate_of"] = target.id


def _escalate(ctx: Ctx) -> None:
    req = ctx.req
    target = ctx.data.level or req.level.up()
    if target.rank <= req.level.rank:
        raise TransitionError(409, f"the case is already at {req.level.value}; escalate to a higher level", "level")
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
