"""Request bodies and read models of the requests API.

In request bodies numbers must be JSON numbers (no strings, NaN or Infinity)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict

from geo.coords import CoordType
from service.common.fields import Id, Number
from service.common.geojson import FeatureCollection
from service.common.times import Period
from service.requests.models import (
    CategoryGroup,
    Channel,
    DepartmentStatus,
    HandlingLevel,
    Scope,
    Status,
    WarningLevel,
)


class RequestIn(BaseModel):
    """A new request. Give ``lon``/``lat`` (in ``coord_type``) or a ``building_id``."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(max_length=40, description="a category code from GET /api/v1/categories")
    description: str = Field(max_length=20000, description="what is wrong (length limit is a setting)")
    lon: Number | None = Field(default=None, description="longitude in coord_type")
    lat: Number | None = Field(default=None, description="latitude in coord_type")
    coord_type: CoordType = CoordType.WGS84
    channel: Channel = Channel.WEB
    building_id: Id | None = None
    scope: Scope | None = Field(default=None, description="how far it reaches; default from the category")
    reporter_name: str | None = Field(default=None, max_length=100)
    reporter_phone: str | None = Field(default=None, max_length=32)
    attributes: dict[str, str | int | float | bool] | None = Field(
        default=None, max_length=20, description="category-specific answers, e.g. floor for a lift failure"
    )
    public: Annotated[bool, Strict()] = Field(
        default=False,
        description="the reporter agrees to show it on the public map and feeds (category, rounded place, "
        "masked text where the category allows); ignored when staff enter a request for someone",
    )


class TransitionIn(BaseModel):
    """One step of the closed loop. ``version`` (or an If-Match header) guards against stale edits."""

    model_config = ConfigDict(extra="forbid")

    action: str = Field(max_length=40, description="accept, dispatch, arrive, resolve, verify, evaluate, …")
    version: Id | None = None
    note: str | None = Field(default=None, max_length=2000)
    reason: str | None = Field(default=None, max_length=2000)
    volunteer_id: Id | None = None
    department_id: Id | None = None
    to_department: bool = False
    duplicate_of: Id | None = None
    level: HandlingLevel | None = None
    satisfaction: Annotated[int, Strict()] | None = None
    comment: str | None = Field(default=None, max_length=2000)
    tracking_code: str | None = Field(default=None, max_length=16, description="lets a reporter act without login")


# -- read models: what the requests API answers ---------------------------------------------------
#
# ``views.request_dict`` builds the case payload; ``CaseOut`` names and types every key of it (the
# same keys and values: the routes validate the dict against it). Keys that are sometimes absent
# (``allowed_actions`` until every route adds it) default to unset and are left out of the answer
# (``response_model_exclude_unset``), so the JSON is what it was.

#: A number as stored: an integer stays an integer and a fraction a fraction in the JSON.
Num = int | float


class CategoryKindOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    severity: int
    skill: str
    department_code: str | None
    default_scope: Scope
    default_level: HandlingLevel
    resolve_hours: Num
    keywords: list[str] | None
    attributes: list[dict[str, Any]] | None


class CategoryGroupOut(BaseModel):
    """A group of the taxonomy with its kinds (GET /categories)."""

    group: CategoryGroup
    name_zh: str
    name_en: str
    kinds: list[CategoryKindOut]


class RawPoint(BaseModel):
    """The point as the reporter sent it, before conversion to WGS84."""

    lon: Num | None
    lat: Num | None
    coord_type: str | None


class PublicCaseOut(BaseModel):
    """The part of a case anyone holding its tracking code sees (``views.public_status``): progress
    and deadlines, nothing about other people."""

    tracking_code: str
    version: int
    status: Status
    category: str
    category_name_zh: str
    category_name_en: str
    description: str | None
    warning_level: WarningLevel
    level: HandlingLevel
    lon: float
    lat: float
    reported_at: str | None
    due_response_at: str | None
    due_onsite_at: str | None
    due_resolve_at: str | None
    accepted_at: str | None
    dispatched_at: str | None
    on_site_at: str | None
    resolved_at: str | None
    verified_at: str | None
    evaluated_at: str | None
    closed_at: str | None
    satisfaction: int | None
    evaluation_comment: str | None
    reopen_count: int


class CaseOut(BaseModel):
    """A request as the caller may see it (``views.request_dict``, its keys in its order): the
    reporter's name only for those who handle the case, the phone masked for everyone else."""

    id: int
    tracking_code: str
    version: int
    status: Status
    category: str
    category_name_zh: str
    category_name_en: str
    description: str | None
    channel: Channel
    attributes: dict[str, Any]
    warning_level: WarningLevel
    level: HandlingLevel
    scope: Scope
    households_affected: int | None
    lon: float
    lat: float
    raw: RawPoint
    grid_id: int | None
    outside_coverage: bool | None
    grid_distance_m: Num | None
    community_id: int | None
    compound_id: int | None
    building_id: int | None
    grid_worker_id: int | None
    volunteer_id: int | None
    volunteer_walk_m: Num | None
    assignment_method: str | None
    department_id: int | None
    department_status: DepartmentStatus | None
    duplicate_of: int | None
    reporter_name: str | None
    reporter_phone: str | None
    reported_at: str | None
    due_response_at: str | None
    due_onsite_at: str | None
    due_resolve_at: str | None
    accepted_at: str | None
    dispatched_at: str | None
    on_site_at: str | None
    resolved_at: str | None
    verified_at: str | None
    evaluated_at: str | None
    closed_at: str | None
    breached: list[str] = Field(description="the deadlines missed: response, onsite, resolve")
    running_deadlines: list[str] = Field(description="the deadlines whose clock runs now (sla.running_now)")
    reopen_count: int
    satisfaction: int | None
    evaluation_comment: str | None
    allowed_actions: list[str] | None = Field(
        default=None, description="the transitions the caller may take now (service/requests/policy.py)"
    )


class DuplicateOut(BaseModel):
    """Another request that may be the same case."""

    request_id: int
    status: Status
    distance_m: Num
    hours_apart: Num


class TrailStep(BaseModel):
    """One step of a case's audit trail; actor, note and data for staff only."""

    model_config = ConfigDict(populate_by_name=True)

    action: str
    from_: str | None = Field(alias="from")
    to: str | None
    at: str
    actor: str | None
    note: str | None
    data: dict[str, Any]


class CaseCreatedOut(CaseOut):
    duplicates: list[DuplicateOut]


class CaseDetailOut(CaseOut):
    trail: list[TrailStep]
    duplicates: list[DuplicateOut]


class CaseTransitionedOut(CaseOut):
    can_reopen: bool


class CasePage(BaseModel):
    items: list[CaseOut]
    total: int
    limit: int
    offset: int
    now: str = Field(description="the service's time, to count deadlines down against")


class CaseFeatureCollection(FeatureCollection[CaseOut]):
    """GET /requests?format=geojson."""

    numberMatched: int  # OGC API spelling
    now: str


class TrackOut(PublicCaseOut):
    """A case by its tracking code: its public steps and what its reporter may do."""

    id: int
    trail: list[TrailStep]
    can_evaluate: bool
    can_reopen: bool


class VolunteerCandidateOut(BaseModel):
    volunteer_id: int
    name_zh: str
    name_en: str | None
    skills: list[str]
    team_zh: str | None
    walk_m: float
    walk_minutes: float
    method: str = Field(description="network or straight_line")
    open_cases: int
    available: bool


class PhotoStoredOut(BaseModel):
    id: int
    content_type: str
    size: int
    sha256: str
    stage: str
    url: str


class PhotoOut(BaseModel):
    id: int
    content_type: str
    size: int
    stage: str
    uploaded_at: str
    url: str


class StatsOut(BaseModel):
    """The KPIs of a period (service/requests/stats.py), with one set per grid or community when grouped."""

    period: Period
    grid_id: int | None
    community_id: int | None
    total: int
    open: int
    closed: int
    due_to_close: int
    closure_rate: float | None
    on_time_rate: float | None
    mean_response_minutes: Num | None
    mean_onsite_minutes: Num | None
    response_within_sla_rate: float | None
    onsite_within_sla_rate: float | None
    satisfaction_rate: float | None
    mean_satisfaction: Num | None
    rework_rate: float | None
    overdue_open: int
    by_category: dict[str, int]
    by_channel: dict[str, int]
    by_status: dict[str, int]
    by_warning_level: dict[str, int]
    groups: list[StatsOut] | None = Field(default=None, description="with group_by only")


class JointMeetingItemOut(BaseModel):
    id: int
    request_id: int
    level: HandlingLevel
    opened_at: str
    closed_at: str | None
    request_status: Status
    category: str
    warning_level: WarningLevel


class JointMeetingClosedOut(BaseModel):
    id: int
    closed_at: str
    closed_by: str


class RequestChange(BaseModel):
    """The payload of ``request.created`` / ``request.updated`` events (the live map's marker):
    no personal data. Built by ``views.event_payload``."""

    id: int
    action: str
    status: Status
    warning_level: WarningLevel
    level: HandlingLevel
    category: str | None
    channel: Channel
    lon: float
    lat: float
    grid_id: int | None
    volunteer_id: int | None
    version: int
    due_response_at: str | None
    due_onsite_at: str | None
    due_resolve_at: str | None
    breached: list[str]
    running_deadlines: list[str]


class QueueCounts(BaseModel):
    """How many of all the matching open cases (not only the page's) are at each level, overdue,
    and outside every grid."""

    red: int
    orange: int
    yellow: int
    blue: int
    overdue: int
    unassigned: int


class QueueItemOut(CaseOut):
    urgency: float = Field(description="severity × lateness (service/requests/triage.py); higher is more urgent")
    overdue_minutes: float = Field(description="minutes past the earliest running deadline; negative: not yet due")


class QueuePage(BaseModel):
    total: int
    counts: QueueCounts
    items: list[QueueItemOut]
    next_offset: int | None = Field(description="the offset of the next page; null on the last")
    now: str = Field(description="the service's time, to count deadlines down against")
