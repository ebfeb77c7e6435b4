"""What the points endpoints accept and answer."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict

from service.common.fields import Id
from service.common.times import Period
from service.points.models import SourceType
from service.points.rules import MAX_HOURS

Hours = Annotated[float, Strict(), Field(gt=0, le=MAX_HOURS, allow_inf_nan=False)]
Points = Annotated[int, Strict(), Field(ge=-100_000, le=100_000)]


# -- requests -------------------------------------------------------------------------------------


class CatalogueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    price: Annotated[int, Strict(), Field(ge=1, le=100_000)]
    unit_zh: str = Field(default="次", min_length=1, max_length=20)
    unit_en: str = Field(default="time", min_length=1, max_length=20)
    provider_zh: str | None = Field(default=None, max_length=200)
    community_id: Id | None = None


class CataloguePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name_zh: str | None = Field(default=None, min_length=1, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    price: Annotated[int, Strict(), Field(ge=1, le=100_000)] | None = None
    provider_zh: str | None = Field(default=None, max_length=200)
    active: bool | None = None


class RedeemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: Id = Field(description="a catalogue item id (GET /api/v1/points/catalogue)")
    quantity: Annotated[int, Strict(), Field(ge=1, le=20)] = 1
    volunteer_id: Id | None = Field(
        default=None, description="dispatchers and admins redeeming at the counter for a volunteer"
    )
    note: str | None = Field(default=None, max_length=500)


class EarnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    volunteer_id: Id
    source_type: SourceType = Field(description="request (handled), wish (fulfilled) or event (attended)")
    source_id: Id
    hours: Hours | None = Field(default=None, description="duration; wishes and events default to their own")
    kind: str | None = Field(default=None, max_length=40, description="service kind; see GET /api/v1/points/rules")
    note: str | None = Field(default=None, max_length=500)


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entry_id: Id = Field(description="the ledger entry being put right")
    amount: Points = Field(description="points to add (positive) or take back (negative)")
    note: str = Field(min_length=1, max_length=500, description="why")


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title_zh: str = Field(min_length=1, max_length=200)
    title_en: str | None = Field(default=None, max_length=200)
    service_kind: str = Field(default="event", max_length=40)
    starts_at: str = Field(max_length=40, description="ISO 8601 datetime")
    hours: Hours
    community_id: Id
    grid_id: Id | None = None


# -- answers --------------------------------------------------------------------------------------


class EntryOut(BaseModel):
    """A ledger entry; ``confirmed_by`` is who confirmed, redeemed or corrected it."""

    id: int
    at: str
    volunteer_id: int
    kind: str
    amount: int
    source_type: str | None
    source_id: int | None
    service_kind: str | None
    hours: float | None
    catalogue_item_id: int | None
    item_name_zh: str | None
    item_name_en: str | None
    quantity: int | None
    corrects_entry_id: int | None
    grid_id: int | None
    confirmed_by: str
    note: str | None


class HistoryEntry(EntryOut):
    balance_after: int


class VolunteerPoints(BaseModel):
    """A balance (the SUM of the ledger) and the history, newest first."""

    volunteer_id: int
    name_zh: str
    balance: int
    earned: int
    redeemed: int
    history: list[HistoryEntry]


class LedgerChange(BaseModel):
    """The entry written and the balance after it."""

    entry: EntryOut
    balance: int


class CatalogueItemOut(BaseModel):
    id: int
    name_zh: str
    name_en: str | None
    price: int
    unit_zh: str
    unit_en: str
    provider_zh: str | None
    community_id: int | None
    active: bool


class RuleKind(BaseModel):
    kind: str
    name_zh: str
    name_en: str
    points_per_hour: int


class Rules(BaseModel):
    formula: str
    kinds: list[RuleKind]


class VolunteerRank(BaseModel):
    volunteer_id: int
    name_zh: str
    name_en: str | None
    team_zh: str | None
    points: int
    rank: int


class TeamRank(BaseModel):
    team_id: int
    name_zh: str
    name_en: str | None
    kind: str
    members: int
    points: int
    rank: int


class GridRank(BaseModel):
    grid_id: int
    points: int
    rank: int


class Leaderboard(BaseModel):
    """Earned points ranked (``by``: volunteer, team or grid)."""

    by: str
    period: Period
    community_id: int | None
    items: list[VolunteerRank | TeamRank | GridRank]


class MonthTotals(BaseModel):
    month: str
    earned: int
    redeemed: int
    corrections: int


class Summary(BaseModel):
    period: Period
    community_id: int | None
    earned: int
    redeemed: int
    corrections: int
    volunteers_earning: int
    outstanding: int
    by_month: list[MonthTotals]


class CommunityEventOut(BaseModel):
    id: int
    title_zh: str
    title_en: str | None
    service_kind: str
    starts_at: str
    hours: float
    community_id: int
    grid_id: int | None
