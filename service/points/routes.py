"""``/api/v1/points``: the volunteer's balance and history, the catalogue, redeeming, earning,
corrections, leaderboards and totals; ``/api/v1/community-events``: events that earn points."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, Strict
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.audit.service import audit
from service.auth.deps import CurrentUser, require_roles
from service.auth.models import Role, User
from service.common.fields import Id
from service.common.params import MAX_DB_ID, IdPath
from service.common.problems import Problem
from service.community.people import may_act_in_community, require_volunteer
from service.community.times import month_key, parse_time
from service.deps import ClockDep, ReadSession, WriteSession
from service.points import ledger
from service.points.ledger import PointsError
from service.points.models import CatalogueItem, CommunityEvent, EntryKind, PointsEntry, SourceType
from service.points.rules import MAX_HOURS, SERVICE_KINDS
from service.points.sources import Earning, confirm_earning
from service.teams.models import Team
from service.volunteers.models import Volunteer

router = APIRouter(prefix="/api/v1", tags=["points"])

Confirmer = Annotated[User, Depends(require_roles(Role.GRID_WORKER, Role.DISPATCHER, Role.ADMIN))]
Manager = Annotated[User, Depends(require_roles(Role.DISPATCHER, Role.ADMIN))]
Redeemer = Annotated[User, Depends(require_roles(Role.VOLUNTEER, Role.DISPATCHER, Role.ADMIN))]
VolunteerUser = Annotated[User, Depends(require_roles(Role.VOLUNTEER))]

Hours = Annotated[float, Strict(), Field(gt=0, le=MAX_HOURS, allow_inf_nan=False)]
Points = Annotated[int, Strict(), Field(ge=-100_000, le=100_000)]


def _problem(exc: PointsError) -> Problem:
    return Problem(exc.status, str(exc), field=exc.field, **exc.extra)


# -- the volunteer's own points -------------------------------------------------------------------


@router.get("/points/me", summary="My points: balance and history (volunteers)")
def my_points(session: ReadSession, user: VolunteerUser) -> dict[str, Any]:
    """The balance is the sum of the ledger, never a stored number; ``history`` is newest first, each
    entry with the balance after it."""
    volunteer = require_volunteer(session, user)
    return _points_of(session, volunteer)


def _points_of(session: Session, volunteer: Volunteer) -> dict[str, Any]:
    entries = ledger.history(session, volunteer.id)
    earned = sum(e["amount"] for e in entries if e["kind"] == "earn")
    redeemed = -sum(e["amount"] for e in entries if e["kind"] == "redeem")
    return {
        "volunteer_id": volunteer.id,
        "name_zh": volunteer.name_zh,
        "balance": ledger.balance(session, volunteer.id),
        "earned": earned,
        "redeemed": redeemed,
        "history": entries,
    }


@router.get("/points/volunteers/{volunteer_id}", summary="One volunteer's points (staff, or the volunteer)")
def volunteer_points(volunteer_id: IdPath, session: ReadSession, user: CurrentUser) -> dict[str, Any]:
    volunteer = session.get(Volunteer, volunteer_id)
    if volunteer is None:
        raise Problem(404, f"no volunteer with id {volunteer_id}", field="volunteer_id")
    staff = user.role in (Role.DISPATCHER, Role.ADMIN, Role.GRID_WORKER)
    if not staff and volunteer.user_id != user.id:
        raise Problem(403, "only staff and the volunteer may see a volunteer's points")
    return _points_of(session, volunteer)


# -- the catalogue --------------------------------------------------------------------------------


def _item_dict(item: CatalogueItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "name_zh": item.name_zh,
        "name_en": item.name_en,
        "price": item.price,
        "unit_zh": item.unit_zh,
        "unit_en": item.unit_en,
        "provider_zh": item.provider_zh,
        "community_id": item.community_id,
        "active": item.active,
    }


@router.get("/points/catalogue", summary="Services to redeem, with their price in points (public)")
def catalogue(
    session: ReadSession,
    community_id: Annotated[
        int | None, Query(ge=1, le=MAX_DB_ID, description="items offered in this community")
    ] = None,
    include_inactive: bool = Query(False, description="also items no longer offered"),
) -> list[dict[str, Any]]:
    query = select(CatalogueItem).order_by(CatalogueItem.price, CatalogueItem.id)
    if community_id is not None:
        query = query.where(or_(CatalogueItem.community_id.is_(None), CatalogueItem.community_id == community_id))
    if not include_inactive:
        query = query.where(CatalogueItem.active.is_(True))
    return [_item_dict(i) for i in session.scalars(query)]


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


@router.post("/points/catalogue", status_code=201, summary="Add a catalogue item (dispatchers, admins)")
def add_catalogue_item(body: CatalogueIn, session: WriteSession, user: Manager, clock: ClockDep) -> dict[str, Any]:
    item = CatalogueItem(**body.model_dump(), created_at=clock())
    session.add(item)
    session.flush()
    audit(
        session, actor=user, action="catalogue:add", entity="catalogue_item", entity_id=item.id, after=_item_dict(item)
    )
    session.commit()
    return _item_dict(item)


@router.patch(
    "/points/catalogue/{item_id}", summary="Change a catalogue item's price or withdraw it (dispatchers, admins)"
)
def change_catalogue_item(
    item_id: IdPath, body: CataloguePatch, session: WriteSession, user: Manager
) -> dict[str, Any]:
    """Past redemptions keep the price they were paid: the ledger holds the amount, not a reference
    to the current price."""
    item = session.get(CatalogueItem, item_id)
    if item is None:
        raise Problem(404, f"no catalogue item {item_id}", field="item_id")
    before = _item_dict(item)
    for name, value in body.model_dump(exclude_unset=True).items():
        if value is None and name in ("name_zh", "price", "active"):
            raise Problem(422, f"{name} may not be null", field=name)
        setattr(item, name, value)
    audit(
        session,
        actor=user,
        action="catalogue:change",
        entity="catalogue_item",
        entity_id=item.id,
        before=before,
        after=_item_dict(item),
    )
    session.commit()
    return _item_dict(item)


# -- redeeming, earning, correcting ---------------------------------------------------------------


class RedeemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: Id = Field(description="a catalogue item id (GET /api/v1/points/catalogue)")
    quantity: Annotated[int, Strict(), Field(ge=1, le=20)] = 1
    volunteer_id: Id | None = Field(
        default=None, description="dispatchers and admins redeeming at the counter for a volunteer"
    )
    note: str | None = Field(default=None, max_length=500)


@router.post("/points/redeem", status_code=201, summary="Redeem points for a catalogue item")
def redeem(body: RedeemIn, session: WriteSession, user: Redeemer, clock: ClockDep) -> dict[str, Any]:
    """Volunteers redeem their own points; dispatchers and admins may redeem for a volunteer at the
    counter (``volunteer_id``). More than the balance gets 409 naming ``item``; two redemptions racing
    for the same points are serialised, so they cannot both succeed."""
    if user.role is Role.VOLUNTEER:
        if body.volunteer_id is not None:
            raise Problem(403, "volunteers redeem only their own points; leave volunteer_id out", field="volunteer_id")
        volunteer_id = require_volunteer(session, user).id
    else:
        if body.volunteer_id is None:
            raise Problem(422, "volunteer_id is required when staff redeem for a volunteer", field="volunteer_id")
        volunteer_id = body.volunteer_id
    item = session.get(CatalogueItem, body.item)
    if item is None:
        raise Problem(422, f"no catalogue item with id {body.item}", field="item")
    try:
        entry, after = ledger.redeem(
            session,
            volunteer_id=volunteer_id,
            item=item,
            quantity=body.quantity,
            actor=user,
            now=clock(),
            note=body.note,
        )
        audit(
            session,
            actor=user,
            action="points:redeem",
            entity="points_ledger",
            entity_id=entry.id,
            after={"volunteer_id": volunteer_id, "amount": entry.amount, "item": item.id},
        )
        session.commit()
    except PointsError as exc:
        session.rollback()
        raise _problem(exc) from None
    return {"entry": ledger.entry_dict(entry, items={item.id: item}), "balance": after}


class EarnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    volunteer_id: Id
    source_type: SourceType = Field(description="request (handled), wish (fulfilled) or event (attended)")
    source_id: Id
    hours: Hours | None = Field(default=None, description="duration; wishes and events default to their own")
    kind: str | None = Field(default=None, max_length=40, description="service kind; see GET /api/v1/points/rules")
    note: str | None = Field(default=None, max_length=500)


@router.post(
    "/points/earn", status_code=201, summary="Confirm service and credit its points (grid workers, dispatchers)"
)
def earn(body: EarnIn, session: WriteSession, user: Confirmer, clock: ClockDep) -> dict[str, Any]:
    """Points by duration and kind (``GET /api/v1/points/rules``). A source earns only once (a
    community event once per attending volunteer): a second confirmation gets 409."""
    try:
        entry = confirm_earning(session, data=Earning(**body.model_dump()), user=user, now=clock())
        audit(
            session,
            actor=user,
            action="points:earn",
            entity="points_ledger",
            entity_id=entry.id,
            after={"volunteer_id": entry.volunteer_id, "amount": entry.amount, "source": entry.earn_key},
        )
        session.commit()
    except PointsError as exc:
        session.rollback()
        raise _problem(exc) from None
    except IntegrityError:
        session.rollback()
        raise Problem(409, "this source already earned points", field="source_id") from None
    return {"entry": ledger.entry_dict(entry), "balance": ledger.balance(session, entry.volunteer_id)}


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entry_id: Id = Field(description="the ledger entry being put right")
    amount: Points = Field(description="points to add (positive) or take back (negative)")
    note: str = Field(min_length=1, max_length=500, description="why")


@router.post("/points/corrections", status_code=201, summary="Correct an entry with a new entry (dispatchers, admins)")
def correction(body: CorrectionIn, session: WriteSession, user: Manager, clock: ClockDep) -> dict[str, Any]:
    """The ledger is never edited: a correction is a new entry that names the entry it corrects."""
    if not body.note.strip():
        raise Problem(422, "note must say why", field="note")
    try:
        entry, after = ledger.correct(
            session, entry_id=body.entry_id, amount=body.amount, note=body.note, actor=user, now=clock()
        )
        audit(
            session,
            actor=user,
            action="points:correct",
            entity="points_ledger",
            entity_id=entry.id,
            after={"corrects": body.entry_id, "amount": body.amount},
        )
        session.commit()
    except PointsError as exc:
        session.rollback()
        raise _problem(exc) from None
    return {"entry": ledger.entry_dict(entry), "balance": after}


@router.get("/points/rules", summary="How service earns points: rate per hour by kind (public)")
def rules() -> dict[str, Any]:
    return {
        "formula": "points = max(1, round(hours × points_per_hour))",
        "kinds": [
            {"kind": k, "name_zh": zh, "name_en": en, "points_per_hour": rate}
            for k, (zh, en, rate) in SERVICE_KINDS.items()
        ],
    }


# -- leaderboards and totals ----------------------------------------------------------------------


def _period(clock, start: str | None, end: str | None) -> tuple:
    now = clock()
    end_at = parse_time(end, "end", now + timedelta(seconds=1))
    start_at = parse_time(start, "start", end_at - timedelta(days=365))
    if start_at >= end_at:
        raise Problem(422, "start must be before end", field="start")
    return start_at, end_at


@router.get("/points/leaderboard", summary="Points earned per volunteer, team or grid (signed in)")
def leaderboard(
    session: ReadSession,
    clock: ClockDep,
    _user: CurrentUser,
    by: Annotated[str, Query(pattern="^(volunteer|team|grid)$")] = "volunteer",
    community_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    grid_id: Annotated[
        int | None, Query(ge=1, le=MAX_DB_ID, description="volunteers ranked by service in this grid")
    ] = None,
    start: Annotated[str | None, Query(max_length=40, description="ISO date; default a year before end")] = None,
    end: Annotated[str | None, Query(max_length=40, description="ISO date; default now")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> dict[str, Any]:
    """Earned points (service confirmed, with its corrections), not balances: spending does not
    lower a rank. Names only; no phone numbers."""
    start_at, end_at = _period(clock, start, end)
    got = ledger.earned(session, start=start_at, end=end_at, community_id=community_id)
    if by == "grid":
        rows = [{"grid_id": g, "points": p} for g, p in got.by_grid.items() if g is not None]
    elif by == "team":
        teams = list(session.scalars(select(Team).where(Team.active.is_(True))))
        if community_id is not None:
            teams = [t for t in teams if t.community_id == community_id]
        rows = [
            {
                "team_id": t.id,
                "name_zh": t.name_zh,
                "name_en": t.name_en,
                "kind": t.kind,
                "members": len(t.members),
                "points": sum(got.by_volunteer.get(m.volunteer_id, 0) for m in t.members),
            }
            for t in teams
        ]
    else:
        if grid_id is not None:
            totals = {v: p for (v, g), p in got.by_volunteer_grid.items() if g == grid_id}
        else:
            totals = got.by_volunteer
        names = (
            {v.id: v for v in session.scalars(select(Volunteer).where(Volunteer.id.in_(list(totals))))}
            if totals
            else {}
        )
        rows = [
            {
                "volunteer_id": v,
                "name_zh": names[v].name_zh,
                "name_en": names[v].name_en,
                "team_zh": names[v].team_zh,
                "points": p,
            }
            for v, p in totals.items()
        ]
    key = next(k for k in ("volunteer_id", "team_id", "grid_id") if not rows or k in rows[0])
    rows.sort(key=lambda r: (-r["points"], r[key]))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return {
        "by": by,
        "period": {"start": start_at.isoformat(), "end": end_at.isoformat()},
        "community_id": community_id,
        "items": rows[:limit],
    }


@router.get("/points/summary", summary="Community totals: earned, redeemed, outstanding, per month (signed in)")
def summary(
    session: ReadSession,
    clock: ClockDep,
    _user: CurrentUser,
    community_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    start: Annotated[str | None, Query(max_length=40)] = None,
    end: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    start_at, end_at = _period(clock, start, end)
    query = select(PointsEntry).where(PointsEntry.at >= start_at, PointsEntry.at < end_at)
    if community_id is not None:
        query = query.where(PointsEntry.community_id == community_id)
    months: dict[str, dict[str, int]] = {}
    totals = {"earned": 0, "redeemed": 0, "corrections": 0}
    volunteers: set[int] = set()
    for e in session.scalars(query):
        bucket = months.setdefault(month_key(e.at), {"earned": 0, "redeemed": 0, "corrections": 0})
        name = {EntryKind.EARN: "earned", EntryKind.REDEEM: "redeemed", EntryKind.CORRECTION: "corrections"}[e.kind]
        amount = -e.amount if e.kind is EntryKind.REDEEM else e.amount
        bucket[name] += amount
        totals[name] += amount
        if e.kind is EntryKind.EARN:
            volunteers.add(e.volunteer_id)
    outstanding_query = select(func.coalesce(func.sum(PointsEntry.amount), 0))
    if community_id is not None:
        outstanding_query = outstanding_query.join(Volunteer, Volunteer.id == PointsEntry.volunteer_id).where(
            Volunteer.community_id == community_id
        )
    return {
        "period": {"start": start_at.isoformat(), "end": end_at.isoformat()},
        "community_id": community_id,
        **totals,
        "volunteers_earning": len(volunteers),
        "outstanding": int(session.scalar(outstanding_query) or 0),
        "by_month": [{"month": m, **v} for m, v in sorted(months.items())],
    }


# -- community events -----------------------------------------------------------------------------


def _event_dict(e: CommunityEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "title_zh": e.title_zh,
        "title_en": e.title_en,
        "service_kind": e.service_kind,
        "starts_at": e.starts_at.isoformat(),
        "hours": e.hours,
        "community_id": e.community_id,
        "grid_id": e.grid_id,
    }


@router.get("/community-events", tags=["points"], summary="Community events whose attendance earns points (signed in)")
def community_events(
    session: ReadSession,
    _user: CurrentUser,
    community_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
) -> list[dict[str, Any]]:
    query = select(CommunityEvent).order_by(CommunityEvent.starts_at.desc(), CommunityEvent.id)
    if community_id is not None:
        query = query.where(CommunityEvent.community_id == community_id)
    return [_event_dict(e) for e in session.scalars(query)]


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title_zh: str = Field(min_length=1, max_length=200)
    title_en: str | None = Field(default=None, max_length=200)
    service_kind: str = Field(default="event", max_length=40)
    starts_at: str = Field(max_length=40, description="ISO 8601 datetime")
    hours: Hours
    community_id: Id
    grid_id: Id | None = None


@router.post("/community-events", status_code=201, tags=["points"], summary="Announce a community event (staff)")
def add_community_event(body: EventIn, session: WriteSession, user: Confirmer, clock: ClockDep) -> dict[str, Any]:
    if body.service_kind not in SERVICE_KINDS:
        raise Problem(422, f"unknown service kind {body.service_kind!r}", field="service_kind")
    if not may_act_in_community(session, user, body.community_id):
        raise Problem(403, "grid workers announce events only in their own community", field="community_id")
    event = CommunityEvent(
        **(body.model_dump() | {"starts_at": parse_time(body.starts_at, "starts_at", clock())}),
        created_by=user.username,
    )
    session.add(event)
    session.flush()
    audit(
        session, actor=user, action="event:add", entity="community_event", entity_id=event.id, after=_event_dict(event)
    )
    session.commit()
    return _event_dict(event)
