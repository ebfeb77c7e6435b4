"""``/api/v1/follow-ups``: the secretary's door-knock visits for key cases and return visits; their
results feed satisfaction and can reopen a case (事事有回音、件件有着落). The data work is in
``service.followups.service``."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from service.auth.deps import require_roles
from service.auth.models import Role, User
from service.common.params import MAX_DB_ID, IdPath
from service.common.times import time_param
from service.deps import ClockDep, ReadSession, SettingsDep, WriteSession
from service.followups import service as followups
from service.followups.models import FollowUpKind, FollowUpStatus
from service.followups.schemas import FollowUpOut, FollowUpPage, FollowUpStats, ResultIn, ReturnVisitIn
from service.followups.service import FollowUpFilter

router = APIRouter(prefix="/api/v1/follow-ups", tags=["follow-ups"])

Staff = Annotated[User, Depends(require_roles(Role.GRID_WORKER, Role.DISPATCHER, Role.ADMIN))]


@router.get("", summary="Follow-ups: yours, your grids', or all (dispatchers)", response_model=FollowUpPage)
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
) -> FollowUpPage:
    where = FollowUpFilter(
        status=status, kind=kind, request_id=request_id, mine=mine, unassigned=unassigned, overdue=overdue
    )
    return followups.list_for(session, user=user, where=where, now=clock())


@router.get(
    "/stats",
    summary="Follow-ups done, on time, answers, satisfaction and reopened cases (staff)",
    response_model=FollowUpStats,
)
def stats(
    session: ReadSession,
    clock: ClockDep,
    user: Staff,
    start: Annotated[str | None, Query(max_length=40)] = None,
    end: Annotated[str | None, Query(max_length=40)] = None,
) -> FollowUpStats:
    now = clock()
    end_at = time_param(end, "end", now + timedelta(seconds=1))
    start_at = time_param(start, "start", end_at - timedelta(days=365))
    return followups.stats(session, user=user, start=start_at, end=end_at, now=now)


@router.get("/{follow_up_id}", summary="One follow-up with its case", response_model=FollowUpOut)
def get_follow_up(follow_up_id: IdPath, session: ReadSession, clock: ClockDep, user: Staff) -> FollowUpOut:
    return followups.read(session, follow_up_id=follow_up_id, user=user, now=clock())


@router.post(
    "",
    status_code=201,
    summary="Ask for a return visit on a finished case (the grid's staff)",
    response_model=FollowUpOut,
)
def create(
    body: ReturnVisitIn, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: Staff
) -> FollowUpOut:
    now = clock()
    f = followups.create_return_visit(
        session,
        request_id=body.request_id,
        user=user,
        now=now,
        settings=settings,
        due_at=body.due_at,
        assignee_user_id=body.assignee_user_id,
    )
    out = followups.follow_up_view(f, now, followups.case_of(session, f))
    session.commit()
    return out


@router.post(
    "/{follow_up_id}/result",
    summary="Record a follow-up's result; it can reopen the case",
    response_model=FollowUpOut,
)
def result(
    follow_up_id: IdPath, body: ResultIn, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: Staff
) -> FollowUpOut:
    """By the assignee, the grid's workers or a dispatcher. ``satisfaction`` becomes the case's
    rating when nobody rated it; ``reopen`` (only with ``not_resolved``) reopens it through the workflow."""
    out = followups.close_with_result(
        session, follow_up_id=follow_up_id, data=body, user=user, now=clock(), settings=settings
    )
    session.commit()
    return out
