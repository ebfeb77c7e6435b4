"""Follow-ups: the door-knock plan (书记敲门) for key cases and return visits (回访).

**Key cases.** A request counts as key when it closes if, at any point, it was warned orange or red
(its colour now, or any recolour in its trail), or it was handled at community level or above
(``HandlingLevel.COMMUNITY``, ``TOWNSHIP``, ``DEPARTMENT``: escalated past the compound).

**Who knocks.** The follow-up goes to the compound/community secretary. In our practice the party
branch secretary or group leader serves as the lead grid worker of the grid (党支部书记或党小组组长兼任
网格员), so the rule is: the account of the request's grid's **lead** worker; else any worker of that
grid with an account (lowest id); else nobody — dispatchers then see it in the unassigned list.

**The answer.** A done follow-up records the resident's answer. A rating feeds satisfaction: on a
case nobody rated yet it becomes the case's satisfaction (the KPIs count it); a resident who says
the problem is not solved can have the case reopened through the normal workflow, the secretary
acting for the resident (as the reporter would; the 30-day window of reopening applies).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import mean

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from service.audit.service import audit
from service.auth.models import User
from service.common.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from service.common.times import Period, time_param
from service.community.people import COMMUNITY_ADMINS, grids_of, may_act_in_grid
from service.config import Settings
from service.followups.models import FollowUp, FollowUpKind, FollowUpStatus, ResidentAnswer
from service.followups.schemas import CaseSummary, FollowUpOut, FollowUpPage, FollowUpStats, ResultIn
from service.grids.models import Grid, WorkerRole
from service.requests.models import (
    HandlingLevel,
    RequestEvent,
    ServiceRequest,
    Status,
    WarningLevel,
    recorded_warning_level,
)
from service.requests.policy import LOW_SATISFACTION
from service.requests.workflow import Actor, TransitionError, TransitionInput, apply_transition, record

KEY_COLOURS = frozenset({WarningLevel.ORANGE.value, WarningLevel.RED.value})
FINISHED = frozenset({Status.RESOLVED, Status.VERIFIED, Status.EVALUATED, Status.CLOSED})


def key_reason(session: Session, req: ServiceRequest) -> str | None:
    """Why the case is key, or None."""
    if req.level.rank >= HandlingLevel.COMMUNITY.rank:
        return f"level:{req.level.value}"
    if req.warning_level.value in KEY_COLOURS:
        return f"warning:{req.warning_level.value}"
    for data in session.scalars(select(RequestEvent.data).where(RequestEvent.request_id == req.id)):
        colour = recorded_warning_level(data)
        if colour in KEY_COLOURS:
            return f"warning:{colour}"
    return None


def secretary_for(session: Session, grid_id: int | None) -> tuple[int | None, str]:
    """(account id, rule) of whoever knocks for a case in ``grid_id`` (see the module docstring)."""
    grid = session.get(Grid, grid_id) if grid_id is not None else None
    if grid is None:
        return None, "no_grid"
    workers = sorted(grid.workers, key=lambda w: (w.role is not WorkerRole.LEAD, w.id))
    for w in workers:
        if w.user_id is not None:
            return w.user_id, "grid_lead" if w.role is WorkerRole.LEAD else "grid_worker"
    return None, "unassigned"


def on_request_closed(session: Session, req: ServiceRequest, *, now: datetime, settings: Settings) -> FollowUp | None:
    """The workflow's hook: a key case that closes gets the secretary's door-knock follow-up."""
    reason = key_reason(session, req)
    if reason is None:
        return None
    pending = session.scalar(
        select(FollowUp).where(
            FollowUp.request_id == req.id,
            FollowUp.kind == FollowUpKind.SECRETARY_VISIT,
            FollowUp.status == FollowUpStatus.PENDING,
        )
    )
    if pending is not None:
        return pending
    assignee, rule = secretary_for(session, req.grid_id)
    follow_up = FollowUp(
        request_id=req.id,
        kind=FollowUpKind.SECRETARY_VISIT,
        status=FollowUpStatus.PENDING,
        assignee_user_id=assignee,
        assigned_by_rule=rule,
        reason=reason,
        due_at=now + timedelta(days=settings.follow_up_due_days),
        created_at=now,
        created_by="system",
    )
    session.add(follow_up)
    session.flush()
    return follow_up


def create_return_visit(
    session: Session,
    *,
    request_id: int,
    user: User,
    now: datetime,
    settings: Settings,
    due_at: str | None = None,
    assignee_user_id: int | None = None,
) -> FollowUp:
    """A return visit on a finished case, asked for by the grid's staff; due in
    ``return_visit_due_days`` unless ``due_at`` (ISO 8601, in the future) says when."""
    req = session.get(ServiceRequest, request_id)
    if req is None:
        raise Invalid(f"no request with id {request_id}", field="request_id")
    if not may_act_in_grid(session, user, req.grid_id):
        raise Forbidden("grid workers ask for return visits only in their own grids", field="request_id")
    due = time_param(due_at, "due_at", now) if due_at else None
    if due is not None and due <= now:
        raise Invalid("due_at must lie in the future", field="due_at")
    if req.status not in FINISHED:
        raise Conflict(
            f"request {req.id} is {req.status.value}; return visits follow finished cases", field="request_id"
        )
    if assignee_user_id is None:
        assignee_user_id, rule = secretary_for(session, req.grid_id)
    else:
        if session.get(User, assignee_user_id) is None:
            raise Invalid(f"no account with id {assignee_user_id}", field="assignee_user_id")
        rule = "chosen"
    follow_up = FollowUp(
        request_id=req.id,
        kind=FollowUpKind.RETURN_VISIT,
        status=FollowUpStatus.PENDING,
        assignee_user_id=assignee_user_id,
        assigned_by_rule=rule,
        due_at=due or now + timedelta(days=settings.return_visit_due_days),
        created_at=now,
        created_by=user.username,
    )
    session.add(follow_up)
    session.flush()
    audit(
        session,
        actor=user,
        action="follow_up:create",
        entity="follow_up",
        entity_id=follow_up.id,
        after={"request_id": req.id, "kind": follow_up.kind.value},
        now=now,
    )
    return follow_up


def record_result(
    session: Session,
    *,
    follow_up: FollowUp,
    user: User,
    answer: ResidentAnswer,
    result: str,
    satisfaction: int | None,
    reopen: bool,
    reason: str | None,
    now: datetime,
    settings: Settings,
) -> FollowUp:
    """Close the follow-up with the resident's answer; feed satisfaction; reopen the case if asked."""
    if follow_up.status is not FollowUpStatus.PENDING:
        raise Conflict(f"the follow-up is already {follow_up.status.value}", field="follow_up_id")
    if satisfaction is not None and not 1 <= satisfaction <= 5:
        raise Invalid("satisfaction must be an integer from 1 to 5", field="satisfaction")
    if reopen and answer is not ResidentAnswer.NOT_RESOLVED:
        raise Invalid("only a resident who says the problem is not resolved can have it reopened", field="reopen")
    if reopen and satisfaction is not None and satisfaction > LOW_SATISFACTION:
        raise Invalid("a resident who rates above 2 is not asking to reopen the case", field="satisfaction")
    if answer is ResidentAnswer.UNREACHABLE and satisfaction is not None:
        raise Invalid("an unreachable resident gives no rating", field="satisfaction")
    req = case_of(session, follow_up)
    follow_up.status = FollowUpStatus.DONE
    follow_up.done_at = now
    follow_up.done_by = user.username
    follow_up.result = result
    follow_up.resident_answer = answer
    follow_up.satisfaction = satisfaction
    if satisfaction is not None and req.satisfaction is None and not reopen:
        before = req.status
        req.satisfaction = satisfaction
        req.updated_at = now
        record(
            session,
            req,
            action="return_visit",
            before=before,
            actor=Actor(user),
            now=now,
            note=result,
            data={"follow_up_id": follow_up.id, "satisfaction": satisfaction},
        )
    if reopen:
        if req.status in (Status.EVALUATED, Status.CLOSED):
            req.satisfaction = satisfaction or 1  # the resident's answer, as the reporter's rating would be
        try:
            apply_transition(
                session,
                req=req,
                data=TransitionInput(action="reopen", reason=reason or f"return visit {follow_up.id}: {result}"),
                actor=Actor(user, is_reporter=True),
                now=now,
                settings=settings,
            )
        except TransitionError as exc:  # the workflow's refusal, said of this follow-up's reopen
            raise DomainError(f"the case cannot be reopened: {exc}", field="reopen", status=exc.status) from None
        follow_up.reopened = True
    session.flush()
    audit(
        session,
        actor=user,
        action="follow_up:result",
        entity="follow_up",
        entity_id=follow_up.id,
        after={"answer": answer.value, "satisfaction": satisfaction, "reopened": follow_up.reopened},
        now=now,
    )
    return follow_up


def case_of(session: Session, follow_up: FollowUp) -> ServiceRequest:
    """The case a follow-up is about (the foreign key cascades: a follow-up never outlives it)."""
    req = session.get(ServiceRequest, follow_up.request_id)
    if req is None:
        raise NotFound(f"no request with id {follow_up.request_id}", field="request_id")
    return req


def follow_up_view(f: FollowUp, now: datetime, req: ServiceRequest) -> FollowUpOut:
    return FollowUpOut(
        id=f.id,
        version=f.version,
        request_id=f.request_id,
        kind=f.kind,
        status=f.status,
        assignee_user_id=f.assignee_user_id,
        assigned_by_rule=f.assigned_by_rule,
        reason=f.reason,
        due_at=f.due_at.isoformat(),
        overdue=f.status is FollowUpStatus.PENDING and f.due_at <= now,
        created_at=f.created_at.isoformat(),
        created_by=f.created_by,
        done_at=f.done_at.isoformat() if f.done_at else None,
        done_by=f.done_by,
        result=f.result,
        resident_answer=f.resident_answer,
        satisfaction=f.satisfaction,
        reopened=f.reopened,
        request=CaseSummary(
            tracking_code=req.tracking_code,
            status=req.status.value,
            category=req.category.code,
            grid_id=req.grid_id,
            building_id=req.building_id,
            warning_level=req.warning_level.value,
            level=req.level.value,
        ),
    )


# -- reads for the staff: their own, their grids', or all (dispatchers and admins) -----------------


def _may_see(session: Session, user: User, f: FollowUp, req: ServiceRequest) -> bool:
    return user.role in COMMUNITY_ADMINS or f.assignee_user_id == user.id or may_act_in_grid(session, user, req.grid_id)


def load_for(session: Session, *, follow_up_id: int, user: User) -> tuple[FollowUp, ServiceRequest]:
    """A follow-up with its case, if ``user`` may see it (404 when there is none, 403 when it is
    neither theirs nor in their grids)."""
    f = session.get(FollowUp, follow_up_id)
    if f is None:
        raise NotFound(f"no follow-up with id {follow_up_id}", field="follow_up_id")
    req = case_of(session, f)
    if not _may_see(session, user, f, req):
        raise Forbidden("this follow-up is neither yours nor in your grids", field="follow_up_id")
    return f, req


def read(session: Session, *, follow_up_id: int, user: User, now: datetime) -> FollowUpOut:
    f, req = load_for(session, follow_up_id=follow_up_id, user=user)
    return follow_up_view(f, now, req)


@dataclass
class FollowUpFilter:
    status: list[FollowUpStatus] | None = None
    kind: FollowUpKind | None = None
    request_id: int | None = None
    mine: bool = False
    unassigned: bool = False
    overdue: bool | None = None


def list_for(session: Session, *, user: User, where: FollowUpFilter, now: datetime) -> FollowUpPage:
    """Follow-ups ``user`` may see, soonest due first."""
    query = select(FollowUp, ServiceRequest).join(ServiceRequest, ServiceRequest.id == FollowUp.request_id)
    if user.role not in COMMUNITY_ADMINS:
        query = query.where(
            or_(FollowUp.assignee_user_id == user.id, ServiceRequest.grid_id.in_(sorted(grids_of(session, user))))
        )
    if where.mine:
        query = query.where(FollowUp.assignee_user_id == user.id)
    if where.unassigned:
        query = query.where(FollowUp.assignee_user_id.is_(None))
    if where.status:
        query = query.where(FollowUp.status.in_(where.status))
    for column, value in ((FollowUp.kind, where.kind), (FollowUp.request_id, where.request_id)):
        if value is not None:
            query = query.where(column == value)
    rows = session.execute(query.order_by(FollowUp.due_at, FollowUp.id))
    items = [follow_up_view(f, now, req) for f, req in rows]
    if where.overdue is not None:
        items = [i for i in items if i.overdue == where.overdue]
    return FollowUpPage(items=items, total=len(items), now=now.isoformat())


def stats(session: Session, *, user: User, start: datetime, end: datetime, now: datetime) -> FollowUpStats:
    """Follow-ups created in [start, end) that ``user`` may see: done, on time, the residents'
    answers, their mean rating and the cases reopened."""
    query = (
        select(FollowUp, ServiceRequest)
        .join(ServiceRequest, ServiceRequest.id == FollowUp.request_id)
        .where(FollowUp.created_at >= start, FollowUp.created_at < end)
    )
    if user.role not in COMMUNITY_ADMINS:
        query = query.where(ServiceRequest.grid_id.in_(sorted(grids_of(session, user))))
    rows = [f for f, _req in session.execute(query)]
    done = [f for f in rows if f.status is FollowUpStatus.DONE]
    on_time = sum(f.done_at is not None and f.done_at <= f.due_at for f in done)
    rated = [f.satisfaction for f in done if f.satisfaction is not None]
    return FollowUpStats(
        period=Period.of(start, end),
        total=len(rows),
        pending=sum(f.status is FollowUpStatus.PENDING for f in rows),
        overdue=sum(f.status is FollowUpStatus.PENDING and f.due_at <= now for f in rows),
        done=len(done),
        done_on_time_rate=round(on_time / len(done), 4) if done else None,
        by_kind={k.value: sum(f.kind is k for f in rows) for k in FollowUpKind},
        answers={a.value: sum(f.resident_answer is a for f in done) for a in ResidentAnswer},
        mean_satisfaction=round(mean(rated), 2) if rated else None,
        reopened=sum(f.reopened for f in done),
    )


def close_with_result(
    session: Session, *, follow_up_id: int, data: ResultIn, user: User, now: datetime, settings: Settings
) -> FollowUpOut:
    """Record a follow-up's result (its assignee, the grid's workers or a dispatcher), guarded by
    its version; answers with the follow-up as it now stands."""
    f, req = load_for(session, follow_up_id=follow_up_id, user=user)
    if data.version is not None and data.version != f.version:
        raise Conflict(f"stale version {data.version}; the follow-up is at {f.version}", field="version")
    try:
        record_result(
            session,
            follow_up=f,
            user=user,
            answer=data.resident_answer,
            result=data.result,
            satisfaction=data.satisfaction,
            reopen=data.reopen,
            reason=data.reason,
            now=now,
            settings=settings,
        )
        session.flush()
    except StaleDataError:
        raise Conflict("the follow-up or its case changed meanwhile; reload it", field="version") from None
    return follow_up_view(f, now, req)
