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

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit.service import audit
from service.auth.models import User
from service.config import Settings
from service.followups.models import FollowUp, FollowUpKind, FollowUpStatus, ResidentAnswer
from service.grids.models import Grid, WorkerRole
from service.requests.models import HandlingLevel, RequestEvent, ServiceRequest, Status, WarningLevel

KEY_COLOURS = frozenset({WarningLevel.ORANGE.value, WarningLevel.RED.value})
FINISHED = frozenset({Status.RESOLVED, Status.VERIFIED, Status.EVALUATED, Status.CLOSED})


class FollowUpError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


def key_reason(session: Session, req: ServiceRequest) -> str | None:
    """Why the case is key, or None."""
    if req.level.rank >= HandlingLevel.COMMUNITY.rank:
        return f"level:{req.level.value}"
    if req.warning_level.value in KEY_COLOURS:
        return f"warning:{req.warning_level.value}"
    for data in session.scalars(select(RequestEvent.data).where(RequestEvent.request_id == req.id)):
        colour = (data or {}).get("warning_level")
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
    req: ServiceRequest,
    user: User,
    now: datetime,
    settings: Settings,
    due_at: datetime | None = None,
    assignee_user_id: int | None = None,
) -> FollowUp:
    if req.status not in FINISHED:
        raise FollowUpError(
            409, f"request {req.id} is {req.status.value}; return visits follow finished cases", "request_id"
        )
    if assignee_user_id is None:
        assignee_user_id, rule = secretary_for(session, req.grid_id)
    else:
        if session.get(User, assignee_user_id) is None:
            raise FollowUpError(422, f"no account with id {assignee_user_id}", "assignee_user_id")
        rule = "chosen"
    follow_up = FollowUp(
        request_id=req.id,
        kind=FollowUpKind.RETURN_VISIT,
        status=FollowUpStatus.PENDING,
        assignee_user_id=assignee_user_id,
        assigned_by_rule=rule,
        due_at=due_at or now + timedelta(days=settings.return_visit_due_days),
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
    from service.requests.workflow import Actor, TransitionError, TransitionInput, apply_transition, record

    if follow_up.status is not FollowUpStatus.PENDING:
        raise FollowUpError(409, f"the follow-up is already {follow_up.status.value}", "follow_up_id")
    if satisfaction is not None and not 1 <= satisfaction <= 5:
        raise FollowUpError(422, "satisfaction must be an integer from 1 to 5", "satisfaction")
    if reopen and answer is not ResidentAnswer.NOT_RESOLVED:
        raise FollowUpError(422, "only a resident who says the problem is not resolved can have it reopened", "reopen")
    if reopen and satisfaction is not None and satisfaction > 2:
        raise FollowUpError(422, "a resident who rates above 2 is not asking to reopen the case", "satisfaction")
    if answer is ResidentAnswer.UNREACHABLE and satisfaction is not None:
        raise FollowUpError(422, "an unreachable resident gives no rating", "satisfaction")
    req = session.get(ServiceRequest, follow_up.request_id)
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
        except TransitionError as exc:
            raise FollowUpError(exc.status, f"the case cannot be reopened: {exc}", "reopen") from None
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


def follow_up_dict(f: FollowUp, now: datetime, req: ServiceRequest | None = None) -> dict[str, Any]:
    out = {
        "id": f.id,
        "version": f.version,
        "request_id": f.request_id,
        "kind": f.kind.value,
        "status": f.status.value,
        "assignee_user_id": f.assignee_user_id,
        "assigned_by_rule": f.assigned_by_rule,
        "reason": f.reason,
        "due_at": f.due_at.isoformat(),
        "overdue": f.status is FollowUpStatus.PENDING and f.due_at <= now,
        "created_at": f.created_at.isoformat(),
        "created_by": f.created_by,
        "done_at": f.done_at.isoformat() if f.done_at else None,
        "done_by": f.done_by,
        "result": f.result,
        "resident_answer": f.resident_answer.value if f.resident_answer else None,
        "satisfaction": f.satisfaction,
        "reopened": f.reopened,
    }
    if req is not None:
        out["request"] = {
            "tracking_code": req.tracking_code,
            "status": req.status.value,
            "category": req.category.code,
            "grid_id": req.grid_id,
            "building_id": req.building_id,
            "warning_level": req.warning_level.value,
            "level": req.level.value,
        }
    return out
