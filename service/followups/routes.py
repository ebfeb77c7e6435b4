"""``/api/v1/follow-ups``: the secretary's door-knock visits for key cases and return visits; their
results feed satisfaction and can reopen a case (事事有回音、件件有着落)."""

from __future__ import annotations

from statistics import mean
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, Strict
from sqlalchemy import or_, select
from sqlalchemy.orm.exc import StaleDataError

from service.auth.deps import require_roles
from service.auth.models import Role, User
from service.common.fields import Id
from service.common.params import MAX_DB_ID, IdPath
from service.common.problems import Problem
from service.community.people import COMMUNITY_ADMINS, grids_of, may_act_in_grid
from service.community.times import parse_time
from service.deps import ClockDep, ReadSession, SettingsDep, WriteSession
from service.followups.models import FollowUp, FollowUpKind, FollowUpStatus, ResidentAnswer
from service.followups.service import FollowUpError, create_return_visit, follow_up_dict, record_result
from service.requests.models import ServiceRequest

router = APIRouter(prefix="/api/v1/follow-ups", tags=["follow-ups"])

Staff = Annotated[User, Depends(require_roles(Role.GRID_WORKER, Role.DISPATCHER, Role.ADMIN))]


def _problem(exc: FollowUpError) -> Problem:
    return Problem(exc.status, str(exc), field=exc.field)


def _may_see(session, user: User, f: FollowUp, req: ServiceRequest) -> bool:
    return user.role in COMMUNITY_ADMINS or f.assignee_user_id == user.id or may_act_in_grid(session, user, req.grid_id)


@router.get("", summary="Follow-ups: yours, your grids', or all (dispatchers)")
def list_follow_ups(
    session: ReadSession,
    clock: ClockDep,
    user: Staff,
    status: Annotated[list[FollowUpStatus] | None, Query(description="e.g. pending; default all")] = None,
    kind: FollowUpKind | None = None,
    request_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    mine: bool = Query(False, description="only those assigned to me"),
    unassigned: bool = Query(False, description="only those nobody with an account was found for"),
    overdue: bool | None = Query(None, description="true: pending past their due date"),
) -> dict[str, Any]:
    now = clock()
    query = select(FollowUp, ServiceRequest).join(ServiceRequest, ServiceRequest.id == FollowUp.request_id)
    if user.role not in COMMUNITY_ADMINS:
        query = query.where(
            or_(FollowUp.assignee_user_id == user.id, ServiceRequest.grid_id.in_(sorted(grids_of(session, user))))
        )
    if mine:
        query = query.where(FollowUp.assignee_user_id == user.id)
    if unassigned:
        query = query.where(FollowUp.assignee_user_id.is_(None))
    if status:
        query = query.where(FollowUp.status.in_(status))
    for column, value in ((FollowUp.kind, kind), (FollowUp.request_id, request_id)):
        if value is not None:
            query = query.where(column == value)
    items = [follow_up_dict(f, now, req) for f, req in session.execute(query.order_by(FollowUp.due_at, FollowUp.id))]
    if overdue is not None:
        items = [i for i in items if i["overdue"] == overdue]
    return {"items": items, "total": len(items), "now": now.isoformat()}


@router.get("/stats", summary="Follow-ups done, on time, answers, satisfaction and reopened cases (staff)")
def stats(
    session: ReadSession,
    clock: ClockDep,
    user: Staff,
    start: Annotated[str | None, Query(max_length=40)] = None,
    end: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    from datetime import timedelta

    now = clock()
    end_at = parse_time(end, "end", now + timedelta(seconds=1))
    start_at = parse_time(start, "start", end_at - timedelta(days=365))
    query = (
        select(FollowUp, ServiceRequest)
        .join(ServiceRequest, ServiceRequest.id == FollowUp.request_id)
        .where(FollowUp.created_at >= start_at, FollowUp.created_at < end_at)
    )
    if user.role not in COMMUNITY_ADMINS:
        query = query.where(ServiceRequest.grid_id.in_(sorted(grids_of(session, user))))
    rows = [f for f, _req in session.execute(query)]
    done = [f for f in rows if f.status is FollowUpStatus.DONE]
    rated = [f.satisfaction for f in done if f.satisfaction is not None]
    return {
        "period": {"start": start_at.isoformat(), "end": end_at.isoformat()},
        "total": len(rows),
        "pending": sum(f.status is FollowUpStatus.PENDING for f in rows),
        "overdue": sum(f.status is FollowUpStatus.PENDING and f.due_at <= now for f in rows),
        "done": len(done),
        "done_on_time_rate": round(sum(f.done_at <= f.due_at for f in done) / len(done), 4) if done else None,
        "by_kind": {k.value: sum(f.kind is k for f in rows) for k in FollowUpKind},
        "answers": {a.value: sum(f.resident_answer is a for f in done) for a in ResidentAnswer},
        "mean_satisfaction": round(mean(rated), 2) if rated else None,
        "reopened": sum(f.reopened for f in done),
    }


@router.get("/{follow_up_id}", summary="One follow-up with its case")
def get_follow_up(follow_up_id: IdPath, session: ReadSession, clock: ClockDep, user: Staff) -> dict[str, Any]:
    f = session.get(FollowUp, follow_up_id)
    if f is None:
        raise Problem(404, f"no follow-up with id {follow_up_id}", field="follow_up_id")
    req = session.get(ServiceRequest, f.request_id)
    if not _may_see(session, user, f, req):
        raise Problem(403, "this follow-up is neither yours nor in your grids", field="follow_up_id")
    return follow_up_dict(f, clock(), req)


class ReturnVisitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: Id
    due_at: str | None = Field(default=None, max_length=40, description="ISO 8601; default in 7 days (a setting)")
    assignee_user_id: Id | None = Field(default=None, description="default: the grid's secretary (lead worker)")


@router.post("", status_code=201, summary="Ask for a return visit on a finished case (the grid's staff)")
def create(body: ReturnVisitIn, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: Staff):
    req = session.get(ServiceRequest, body.request_id)
    if req is None:
        raise Problem(422, f"no request with id {body.request_id}", field="request_id")
    if not may_act_in_grid(session, user, req.grid_id):
        raise Problem(403, "grid workers ask for return visits only in their own grids", field="request_id")
    now = clock()
    due = parse_time(body.due_at, "due_at", now) if body.due_at else None
    if due is not None and due <= now:
        raise Problem(422, "due_at must lie in the future", field="due_at")
    try:
        f = create_return_visit(
            session, req=req, user=user, now=now, settings=settings, due_at=due, assignee_user_id=body.assignee_user_id
        )
        out = follow_up_dict(f, now, req)
        session.commit()
    except FollowUpError as exc:
        session.rollback()
        raise _problem(exc) from None
    return out


class ResultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resident_answer: ResidentAnswer
    result: str = Field(min_length=1, max_length=4000, description="what was found and said")
    satisfaction: Annotated[int, Strict()] | None = Field(default=None, description="the resident's rating, 1-5")
    reopen: bool = Field(default=False, description="the resident says it is not solved: reopen the case")
    reason: str | None = Field(default=None, max_length=2000)
    version: Id | None = None


@router.post("/{follow_up_id}/result", summary="Record a follow-up's result; it can reopen the case")
def result(
    follow_up_id: IdPath, body: ResultIn, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: Staff
) -> dict[str, Any]:
    """By the assignee, the grid's workers or a dispatcher. ``satisfaction`` becomes the case's
    rating when nobody rated it; ``reopen`` (only with ``not_resolved``) reopens it through the workflow."""
    f = session.get(FollowUp, follow_up_id)
    if f is None:
        raise Problem(404, f"no follow-up with id {follow_up_id}", field="follow_up_id")
    req = session.get(ServiceRequest, f.request_id)
    if not _may_see(session, user, f, req):
        raise Problem(403, "this follow-up is neither yours nor in your grids", field="follow_up_id")
    if body.version is not None and body.version != f.version:
        raise Problem(409, f"stale version {body.version}; the follow-up is at {f.version}", field="version")
    now = clock()
    try:
        record_result(
            session,
            follow_up=f,
            user=user,
            answer=body.resident_answer,
            result=body.result,
            satisfaction=body.satisfaction,
            reopen=body.reopen,
            reason=body.reason,
            now=now,
            settings=settings,
        )
        out = follow_up_dict(f, now, req)
        session.commit()
    except FollowUpError as exc:
        session.rollback()
        raise _problem(exc) from None
    except StaleDataError:
        session.rollback()
        raise Problem(409, "the follow-up or its case changed meanwhile; reload it", field="version") from None
    return out
