"""Residents' requests (诉求), their categories, audit trail, duplicate links and joint meetings."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, TypedDict

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.orm import Base, UtcDateTime, enum_type, utcnow


class CategoryGroup(StrEnum):
    """The three groups of our reference practice (Zhao'an's 1+X model)."""

    INFO_CONSULTING = "info_consulting"  # 信息咨询类
    ENVIRONMENTAL = "environmental"  # 环境保护类
    LIVELIHOOD = "livelihood"  # 民生需求类


class Channel(StrEnum):
    WECHAT = "wechat"
    MINI_PROGRAM = "mini_program"
    PHONE = "phone"
    WALK_IN = "walk_in"
    PATROL = "patrol"
    WEB = "web"
    OPEN311 = "open311"


#: Channels through which residents report for themselves: anyone may use them (``open311`` only
#: through the Open311 endpoint), and only their cases can be published on the public feeds.
RESIDENT_CHANNELS = frozenset({Channel.WEB, Channel.WECHAT, Channel.MINI_PROGRAM, Channel.OPEN311})
#: Channels where staff enter a case for someone (a call, a visit, a patrol): staff only, never public.
STAFF_CHANNELS = frozenset({Channel.PHONE, Channel.WALK_IN, Channel.PATROL})


class Status(StrEnum):
    """The closed loop: reported → accepted → dispatched → on_site → resolved → verified →
    evaluated → closed, with the side paths rejected, merged and reopened."""

    REPORTED = "reported"  # 信息收集/上报
    ACCEPTED = "accepted"  # 受理
    DISPATCHED = "dispatched"  # 派遣
    ON_SITE = "on_site"  # 到场
    RESOLVED = "resolved"  # 处置反馈
    VERIFIED = "verified"  # 核查结案
    EVALUATED = "evaluated"  # 评价
    CLOSED = "closed"
    REJECTED = "rejected"
    MERGED = "merged"
    REOPENED = "reopened"


#: States in which a case is still being worked on.
OPEN_STATUSES = frozenset({Status.REPORTED, Status.ACCEPTED, Status.DISPATCHED, Status.ON_SITE, Status.REOPENED})
#: States that count as 结案 (closed) for the closure rate.
CLOSED_STATUSES = frozenset({Status.VERIFIED, Status.EVALUATED, Status.CLOSED})


class WarningLevel(StrEnum):
    """Colour warnings; red is level 1, the highest (Emergency Response Law, Art. 42)."""

    BLUE = "blue"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"

    @property
    def rank(self) -> int:
        return list(WarningLevel).index(self)


class HandlingLevel(StrEnum):
    """Who handles a case: small things stay in the compound, big things in the community."""

    GRID = "grid"
    COMPOUND = "compound"
    COMMUNITY = "community"
    TOWNSHIP = "township"
    DEPARTMENT = "department"

    @property
    def rank(self) -> int:
        return list(HandlingLevel).index(self)

    def up(self) -> HandlingLevel:
        order = list(HandlingLevel)
        return order[min(self.rank + 1, len(order) - 1)]


class Scope(StrEnum):
    """How far a problem reaches; it sets the impact (households affected)."""

    FLAT = "flat"
    BUILDING = "building"
    COMPOUND = "compound"
    COMMUNITY = "community"


class DepartmentStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REFUSED = "refused"


class RequestCategory(Base):
    __tablename__ = "request_categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    group: Mapped[CategoryGroup] = mapped_column(enum_type(CategoryGroup))
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    #: 1 (minor) … 4 (critical); the starting colour before impact and time pressure.
    severity: Mapped[int] = mapped_column(Integer)
    skill: Mapped[str] = mapped_column(String(40))
    department_code: Mapped[str | None] = mapped_column(String(32))
    default_scope: Mapped[Scope] = mapped_column(enum_type(Scope), default=Scope.FLAT)
    default_level: Mapped[HandlingLevel] = mapped_column(enum_type(HandlingLevel), default=HandlingLevel.GRID)
    resolve_hours: Mapped[float] = mapped_column(Float)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Extra data a category asks for (Open311 service attributes), e.g. the floor of a lift failure.
    attributes: Mapped[list[dict]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Whether a published request of this kind may show its (masked) description to the public.
    #: Off for kinds whose text is about a person's health, age, family or a dispute.
    public_text: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ServiceRequest(Base):
    __tablename__ = "requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tracking_code: Mapped[str] = mapped_column(String(16), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    idempotency_fingerprint: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)

    category_id: Mapped[int] = mapped_column(ForeignKey("request_categories.id"), index=True)
    description: Mapped[str] = mapped_column(Text)
    channel: Mapped[Channel] = mapped_column(enum_type(Channel))
    attributes: Mapped[dict] = mapped_column(JSON, default=dict)
    #: The reporter agreed at intake to show this request on the public feeds (Open311, OGC API).
    #: Only residents and client apps can set it; staff, patrol and key-household intake never do.
    public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    status: Mapped[Status] = mapped_column(enum_type(Status), default=Status.REPORTED, index=True)
    warning_level: Mapped[WarningLevel] = mapped_column(enum_type(WarningLevel), default=WarningLevel.BLUE)
    level: Mapped[HandlingLevel] = mapped_column(enum_type(HandlingLevel), default=HandlingLevel.GRID)
    scope: Mapped[Scope] = mapped_column(enum_type(Scope), default=Scope.FLAT)
    households_affected: Mapped[int] = mapped_column(Integer, default=1)

    # Where: the converted WGS84 point, and the raw input with its declared coordinate system.
    location: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))
    raw_lon: Mapped[float | None] = mapped_column(Float)
    raw_lat: Mapped[float | None] = mapped_column(Float)
    raw_coord_type: Mapped[str] = mapped_column(String(8), default="wgs84")
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id", ondelete="SET NULL"), index=True)
    outside_coverage: Mapped[bool] = mapped_column(Boolean, default=False)
    grid_distance_m: Mapped[float | None] = mapped_column(Float)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    compound_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id", ondelete="SET NULL"))

    # Who.
    grid_worker_id: Mapped[int | None] = mapped_column(ForeignKey("grid_workers.id", ondelete="SET NULL"))
    volunteer_id: Mapped[int | None] = mapped_column(ForeignKey("volunteers.id", ondelete="SET NULL"), index=True)
    volunteer_walk_m: Mapped[float | None] = mapped_column(Float)
    assignment_method: Mapped[str | None] = mapped_column(String(20))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="SET NULL"))
    department_status: Mapped[DepartmentStatus | None] = mapped_column(enum_type(DepartmentStatus))
    pledged_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reporter_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    reporter_name: Mapped[str | None] = mapped_column(String(100))
    reporter_phone: Mapped[str | None] = mapped_column(String(32))
    #: The Open311 client application that posted it, if any. (No foreign key: SQLite cannot add one
    #: to an existing table without rebuilding it, which SpatiaLite's geometry registration forbids.)
    api_client_id: Mapped[int | None] = mapped_column(Integer)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"))

    # When: deadlines are data, so a restart loses none.
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    due_response_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_onsite_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_resolve_at: Mapped[datetime] = mapped_column(UtcDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    on_site_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    evaluated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Breaches are recorded once, so escalation happens once per deadline.
    response_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    onsite_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    resolve_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)

    satisfaction: Mapped[int | None] = mapped_column(Integer)
    evaluation_comment: Mapped[str | None] = mapped_column(Text)

    category: Mapped[RequestCategory] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative hook


class RequestEvent(Base):
    """The audit trail: every transition with actor, time, from, to and note."""

    __tablename__ = "request_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(100))  # username, "system" or "reporter"
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict] = mapped_column(JSON, default=dict)


#: ``RequestEvent.action`` of the scheduler's step that changes a case's colour.
RECOLOUR = "recolour"
#: The key of ``RequestEvent.data`` that holds the colour a step gave the case: written by the
#: scheduler's recolour (``RecolourData``), read by follow-ups (a case ever orange or red is key).
WARNING_LEVEL_KEY = "warning_level"


class RecolourData(TypedDict):
    """``RequestEvent.data`` of a ``recolour`` step: the colour the case took."""

    warning_level: str


def recorded_warning_level(data: Mapping[str, Any] | None) -> str | None:
    """The colour a trail step recorded (``WARNING_LEVEL_KEY``), or None if it recorded none."""
    value = (data or {}).get(WARNING_LEVEL_KEY)
    return value if isinstance(value, str) else None


class DuplicateSuggestion(Base):
    """A possible duplicate shown to the dispatcher: same category, close in space and time."""

    __tablename__ = "duplicate_suggestions"
    __table_args__ = (UniqueConstraint("request_id", "candidate_id", name="uq_duplicate_pair"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    distance_m: Mapped[float] = mapped_column(Float)
    hours_apart: Mapped[float] = mapped_column(Float)


class JointMeetingItem(Base):
    """A case escalated to township level or above, tracked at the joint meeting until closed (销号)."""

    __tablename__ = "joint_meeting_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), unique=True)
    level: Mapped[HandlingLevel] = mapped_column(enum_type(HandlingLevel))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)


class RequestPhoto(Base):
    """A photo attached to a request (at intake or later); the bytes live in ``media_dir``."""

    __tablename__ = "request_photos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(300))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    stage: Mapped[str] = mapped_column(String(20), default="report")  # report | resolution | verification
    #: The client address of an anonymous, resident or volunteer upload (None for staff): the
    #: per-IP hourly quota counts these rows, so it holds across worker processes.
    uploader_ip: Mapped[str | None] = mapped_column(String(45))

    __table_args__ = (Index("ix_request_photos_uploader_ip_uploaded_at", "uploader_ip", "uploaded_at"),)
