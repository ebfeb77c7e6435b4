"""The points ledger, the redemption catalogue and community events.

The ledger is append-only: the database refuses UPDATE and DELETE on ``points_ledger`` (triggers,
migration 0007). A balance is always the SUM of a volunteer's entries; a mistake is put right by a
new ``correction`` entry that names the entry it corrects. For the same reason the ledger has no
foreign key that could rewrite it (no ``ON DELETE SET NULL``, no self-reference a restore would
fill in with an UPDATE): only ``volunteer_id`` references its volunteer, and it restricts deletion.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.orm import Base, NamedMixin, RefMixin, UtcDateTime, enum_type, utcnow


class EntryKind(StrEnum):
    EARN = "earn"  # positive: service confirmed
    REDEEM = "redeem"  # negative: a catalogue item
    CORRECTION = "correction"  # either sign: puts an earlier entry right


class SourceType(StrEnum):
    """What earned the points. Each source earns once (per volunteer for community events)."""

    REQUEST = "request"  # a request handled (the case's volunteer)
    WISH = "wish"  # a micro-wish or mutual-aid project fulfilled (its claimant)
    EVENT = "event"  # a community event attended


class PointsEntry(Base):
    __tablename__ = "points_ledger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id"), index=True)
    kind: Mapped[EntryKind] = mapped_column(enum_type(EntryKind))
    amount: Mapped[int] = mapped_column(Integer)
    source_type: Mapped[SourceType | None] = mapped_column(enum_type(SourceType))
    source_id: Mapped[int | None] = mapped_column(Integer)
    #: ``request:12``, ``wish:3``, ``event:4:volunteer:17``: unique, so a source earns only once.
    earn_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    service_kind: Mapped[str | None] = mapped_column(String(40))
    hours: Mapped[float | None] = mapped_column(Float)
    catalogue_item_id: Mapped[int | None] = mapped_column(Integer)
    quantity: Mapped[int | None] = mapped_column(Integer)
    corrects_entry_id: Mapped[int | None] = mapped_column(Integer, index=True)
    #: Where the service took place (for the per-grid leaderboard); no foreign key (see above).
    grid_id: Mapped[int | None] = mapped_column(Integer, index=True)
    community_id: Mapped[int | None] = mapped_column(Integer, index=True)
    #: Who confirmed (earn), redeemed or corrected; the account id without a foreign key, as in the audit log.
    actor_user_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)


class CatalogueItem(Base, NamedMixin, RefMixin):
    """A service the community offers for points (haircut, appliance repair, an hour of childcare…)."""

    __tablename__ = "points_catalogue"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    price: Mapped[int] = mapped_column(Integer)
    unit_zh: Mapped[str] = mapped_column(String(20), default="次")
    unit_en: Mapped[str] = mapped_column(String(20), default="time")
    provider_zh: Mapped[str | None] = mapped_column(String(200))
    #: None: offered in every community.
    community_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CommunityEvent(Base, RefMixin):
    """A community event (邻里文化节, 厝边讲坛, 环境整治日…); attending volunteers earn points."""

    __tablename__ = "community_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title_zh: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str | None] = mapped_column(String(200))
    service_kind: Mapped[str] = mapped_column(String(40), default="event")
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    hours: Mapped[float] = mapped_column(Float)
    community_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id", ondelete="SET NULL"))
    created_by: Mapped[str] = mapped_column(String(100))
