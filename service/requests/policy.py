"""The rules of the closed loop, in one place: which action moves a case from where to where, who
may take it, and what this caller may do with this case now.

``TRANSITIONS`` is the table; ``allowed_actions`` reads it together with the rules that depend on
the case (a pending department hand-off, the handling level, the reporter's rating and the 30-day
window of reopening) so the routes, the tracking page and the dispatcher's map offer exactly what
``workflow.apply_transition`` accepts. Everything here is a plain function of the case, the actor
and the time, except ``scope_refusal`` (who works on which case needs the grid and volunteer rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auth.models import Role, User
from service.grids.service import worker_of
from service.requests.models import OPEN_STATUSES, DepartmentStatus, HandlingLevel, ServiceRequest, Status
from service.volunteers.models import Volunteer

REPORTER = "reporter"  # pseudo-role: the signed-in reporter, or anyone holding the tracking code
SUPERVISORS = frozenset({Role.DISPATCHER, Role.ADMIN})
STAFF_HANDLERS = SUPERVISORS | {Role.GRID_WORKER}
FIELD_HANDLERS = STAFF_HANDLERS | {Role.VOLUNTEER, Role.DEPARTMENT}
#: A closed case can be reopened by its reporter for this long; later, a new request is raised.
REOPEN_WINDOW = timedelta(days=30)
#: A rating at or below this is the reporter saying the problem is not solved: it may reopen.
LOW_SATISFACTION = 2
#: The actions the reporter takes on its own case wherever it lies (no grid or assignment scope).
REPORTER_ACTIONS = frozenset({"evaluate", "reopen"})
_TOP_LEVEL = list(HandlingLevel)[-1]


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
    "arrive": _rule({S.DISPATCHED}, S.ON_SITE, FIELD_HANDLERS),
    "resolve": _rule({S.DISPATCHED, S.ON_SITE}, S.RESOLVED, FIELD_HANDLERS, ("note",)),
    "redispatch": _rule({S.RESOLVED}, S.DISPATCHED, STAFF_HANDLERS, ("reason",)),
    "verify": _rule({S.RESOLVED}, S.VERIFIED, STAFF_HANDLERS),
    "evaluate": _rule({S.RESOLVED, S.VERIFIED}, S.EVALUATED, {REPORTER}, ("satisfaction",)),
    "reopen": _rule({S.RESOLVED, S.VERIFIED, S.EVALUATED, S.CLOSED}, S.REOPENED, SUPERVISORS | {REPORTER}, ("reason",)),
    "close": _rule({S.VERIFIED, S.EVALUATED}, S.CLOSED, SUPERVISORS),
    "escalate": _rule(OPEN_STATUSES, None, STAFF_HANDLERS, ("reason",)),
}


@dataclass(frozen=True)
class Actor:
    """Who acts: a signed-in user, and whether they count as the reporter of this case.

    ``label`` names an actor without an account in the trail (a planner's edit, the scheduler)."""

    user: User | None
    is_reporter: bool = False
    label: str | None = None

    @property
    def name(self) -> str:
        if self.label is not None:
            return self.label
        return self.user.username if self.user else REPORTER

    def roles(self) -> set[str]:
        out: set[str] = {self.user.role} if self.user else set()
        if self.is_reporter:
            out.add(REPORTER)
        return out

    @property
    def supervises(self) -> bool:
        """Dispatchers and admins: no grid scope, and no reporter's limits on reopening."""
        return self.user is not None and self.user.role in SUPERVISORS


def viewer(user: User, req: ServiceRequest) -> Actor:
    """A signed-in caller looking at a case: its reporter when it raised it."""
    return Actor(user, is_reporter=req.reporter_user_id == user.id)


def reopen_refusal(req: ServiceRequest, now: datetime) -> str | None:
    """Why the reporter may not reopen this finished case now (None: it may). An evaluated or
    closed case reopens only on a rating of ``LOW_SATISFACTION`` or less, a closed one only within
    ``REOPEN_WINDOW`` of its closing. Dispatchers and admins are not held to either."""
    if req.status in (S.EVALUATED, S.CLOSED) and (req.satisfaction or 5) > LOW_SATISFACTION:
        return f"only a rating of {LOW_SATISFACTION} or less can reopen an evaluated case"
    if req.status is S.CLOSED and req.closed_at and now - req.closed_at > REOPEN_WINDOW:
        return f"the case closed more than {REOPEN_WINDOW.days} days ago; raise a new request"
    return None


def can_reopen(req: ServiceRequest, now: datetime) -> bool:
    """Whether the reporter (or the tracking code's holder) may reopen the case now."""
    return req.status in TRANSITIONS["reopen"].sources and reopen_refusal(req, now) is None


def state_refusal(action: str, req: ServiceRequest, actor: Actor, now: datetime) -> str | None:
    """Why the case's own state refuses ``action`` beyond its status (None: it does not). The
    effects in ``workflow`` raise these same refusals."""
    if action in ("department_accept", "department_refuse") and req.department_status is not DepartmentStatus.PENDING:
        verb = action.removeprefix("department_")
        return f"there is no pending department dispatch to {verb}"
    if action == "reopen" and not actor.supervises:
        return reopen_refusal(req, now)
    if action == "escalate" and req.level is _TOP_LEVEL:
        return f"the case is already at {req.level.value}; escalate to a higher level"
    return None


def allowed_actions(req: ServiceRequest, actor: Actor, now: datetime, *, in_scope: bool = True) -> list[str]:
    """The actions ``actor`` may take on ``req`` now, in the table's order. ``in_scope``: the actor
    works on this case (see ``scope_refusal``; anyone who may view a case is in its scope)."""
    roles = actor.roles()
    return [
        name
        for name, rule in TRANSITIONS.items()
        if roles & rule.roles
        and req.status in rule.sources
        and (in_scope or (REPORTER in roles and name in REPORTER_ACTIONS))
        and state_refusal(name, req, actor, now) is None
    ]


def scope_refusal(session: Session, req: ServiceRequest, actor: Actor, action: str) -> str | None:
    """Grid workers act in their grids, volunteers on their cases, departments on theirs (None: in
    scope). The reporter evaluates and reopens its own case wherever it lies."""
    user = actor.user
    if user is None or user.role in SUPERVISORS:
        return None
    if REPORTER in actor.roles() and action in REPORTER_ACTIONS:
        return None
    if user.role is Role.GRID_WORKER:
        worker = worker_of(session, user_id=user.id)
        grid_ids = {g.id for g in worker.grids} if worker else set()
        if req.grid_id not in grid_ids and (worker is None or req.grid_worker_id != worker.id):
            return "grid workers act only on cases in their own grids"
    elif user.role is Role.VOLUNTEER:
        volunteer = session.scalar(select(Volunteer).where(Volunteer.user_id == user.id))
        if volunteer is None or req.volunteer_id != volunteer.id:
            return "volunteers act only on cases assigned to them"
    elif user.role is Role.DEPARTMENT and (user.department_id is None or user.department_id != req.department_id):
        return "departments act only on cases dispatched to them"
    return None


def actions_for(session: Session, req: ServiceRequest, actor: Actor, now: datetime) -> list[str]:
    """``allowed_actions`` with the actor's scope looked up (for a caller not known to view it)."""
    in_scope = scope_refusal(session, req, actor, "") is None
    return allowed_actions(req, actor, now, in_scope=in_scope)
