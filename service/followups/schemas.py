"""What the follow-ups API takes and answers: the return-visit and result bodies, and the read
models of a follow-up (with a summary of its case), the list and the stats. Times are ISO 8601
strings as the service writes them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict

from service.common.fields import Id
from service.common.times import Period
from service.followups.models import FollowUpKind, FollowUpStatus, ResidentAnswer


class ReturnVisitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: Id
    due_at: str | None = Field(default=None, max_length=40, description="ISO 8601; default in 7 days (a setting)")
    assignee_user_id: Id | None = Field(default=None, description="default: the grid's secretary (lead worker)")


class ResultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resident_answer: ResidentAnswer
    result: str = Field(min_length=1, max_length=4000, description="what was found and said")
    satisfaction: Annotated[int, Strict()] | None = Field(default=None, description="the resident's rating, 1-5")
    reopen: bool = Field(default=False, description="the resident says it is not solved: reopen the case")
    reason: str | None = Field(default=None, max_length=2000)
    version: Id | None = None


class CaseSummary(BaseModel):
    """The case a follow-up is about, as much as its assignee needs to find it."""

    tracking_code: str
    status: str
    category: str
    grid_id: int | None
    building_id: int | None
    warning_level: str
    level: str


class FollowUpOut(BaseModel):
    id: int
    version: int
    request_id: int
    kind: FollowUpKind
    status: FollowUpStatus
    assignee_user_id: int | None
    assigned_by_rule: str = Field(description="how the assignee was chosen, e.g. grid_lead, chosen, unassigned")
    reason: str | None = Field(description="why the case is key, e.g. warning:red, level:community")
    due_at: str
    overdue: bool
    created_at: str
    created_by: str
    done_at: str | None
    done_by: str | None
    result: str | None
    resident_answer: ResidentAnswer | None
    satisfaction: int | None
    reopened: bool
    request: CaseSummary


class FollowUpPage(BaseModel):
    items: list[FollowUpOut]
    total: int
    now: str


class FollowUpStats(BaseModel):
    period: Period
    total: int
    pending: int
    overdue: int
    done: int
    done_on_time_rate: float | None
    by_kind: dict[str, int]
    answers: dict[str, int]
    mean_satisfaction: int | float | None
    reopened: int
