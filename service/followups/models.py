"""Follow-up tasks on requests: the secretary's door-knock visit for key cases, and return visits."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.orm import Base, UtcDateTime, enum_type


class FollowUpKind(StrEnum):
    SECRETARY_VISIT = "secretary_visit"  # 书记敲门: key cases, created when they close
    RETURN_VISIT = "return_visit"  # 回访: asked for by staff on any finished case


class FollowUpStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"


class ResidentAnswer(StrEnum):
    RESOLVED = "resolved"  # 已解决
    NOT_RESOLVED = "not_resolved"  # 未解决
    UNREACHABLE = "unreachable"  # 未联系上


class FollowUp(Base):
    __tablename__ = "follow_ups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    kind: Mapped[FollowUpKind] = mapped_column(enum_type(FollowUpKind))
    status: Mapped[FollowUpStatus] = mapped_column(enum_type(FollowUpStatus), default=FollowUpStatus.PENDING)
    #: The account that must do it (None: nobody with an account; dispatchers see it as unassigned).
    assignee_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    #: How the assignee was chosen, e.g. ``grid_lead`` (see service.followups.service).
    assigned_by_rule: Mapped[str] = mapped_column(String(40))
    #: Why the case counted as key, e.g. ``warning:red``, ``level:community``.
    reason: Mapped[str | None] = mapped_column(String(200))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(100))
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    done_by: Mapped[str | None] = mapped_column(String(100))
    result: Mapped[str | None] = mapped_column(Text)
    resident_answer: Mapped[ResidentAnswer | None] = mapped_column(enum_type(ResidentAnswer))
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    reopened: Mapped[bool] = mapped_column(Boolean, default=False)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative hook
