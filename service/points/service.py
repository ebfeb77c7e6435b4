"""What the points endpoints do: balances and histories, the catalogue, redeeming, confirming
earnings, corrections, leaderboards, totals and community events. The ledger's own rules live in
``ledger`` (append-only, serialised per volunteer), what a source earns in ``sources``. These
functions never commit; each write answers with the body the route returns once committed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from service.audit.service import audit
from service.auth.models import Role, User
from service.common.errors import Forbidden, Invalid, NotFound
from service.community.people import may_act_in_community, require_volunteer
from service.community.times import month_key, parse_time
from service.points import ledger
from service.points.models import CatalogueItem, CommunityEvent, EntryKind, PointsEntry
from service.points.rules import SERVICE_KINDS
from service.points.sources import Earning, confirm_earning
from service.teams.models import Team
from service.volunteers.models import Volunteer

#: Who may see any volunteer's points.
POINTS_STAFF = frozenset({Role.DISPATCHER, Role.ADMIN, Role.GRID_WORKER})

# -- balances -------------------------------------------------------------------------------------


def points_of(session: Session, volunteer: Volunteer) -> dict[str, Any]:
    """Balance (a SUM of the ledger, never a stored number), earned, redeemed and the history."""
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


def my_points(session: Session, *, user: User) -> dict[str, Any]:
    return points_of(session, require_volunteer(session, user))


def volunteer_points(session: Session, *, volunteer_id: int, user: User) -> dict[str, Any]:
    """One volunteer's points, for staff and for the volunteer."""
    volunteer = session.get(Volunteer, volunteer_id)
    if volunteer is None:
        raise NotFound(f"no volunteer with id {volunteer_id}", field="volunteer_id")
    if user.role not in POINTS_STAFF and volunteer.user_id != user.id:
        raise Forbidden("only staff and the volunteer may see a volunteer's points")
    return points_of(session, volunteer)


# -- the catalogue --------------------------------------------------------------------------------


def item_dict(item: CatalogueItem) -> dict[str, Any]:
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


def catalogue(session: Session, *, community_id: int | None, include_inactive: bool) -> list[dict[str, Any]]:
    """Items by price; with ``community_id``, those offered there (or everywhere)."""
    query = select(CatalogueItem).order_by(CatalogueItem.price, CatalogueItem.id)
    if community_id is not None:
        query = query.where(or_(CatalogueItem.community_id.is_(None), CatalogueItem.community_id == community_id))
    if not include_inactive:
        query = query.where(CatalogueItem.active.is_(True))
    return [item_dict(i) for i in session.scalars(query)]


def add_catalogue_item(session: Session, *, data: dict[str, Any], user: User, now: datetime) -> dict[str, Any]:
    item = CatalogueItem(**data, created_at=now)
    session.add(item)
    session.flush()
    audit(
        session, actor=user, action="catalogue:add", entity="catalogue_item", entity_id=item.id, after=item_dict(item)
    )
    return item_dict(item)


def change_catalogue_item(session: Session, *, item_id: int, changes: dict[str, Any], user: User) -> dict[str, Any]:
    """Change what ``changes`` names. Past redemptions keep the price they were paid."""
    item = session.get(CatalogueItem, item_id)
    if item is None:
        raise NotFound(f"no catalogue item {item_id}", field="item_id")
    before = item_dict(item)
    for name, value in changes.items():
        if value is None and name in ("name_zh", "price", "active"):
            raise Invalid(f"{name} may not be null", field=name)
        setattr(item, name, value)
    audit(
        session,
        actor=user,
        action="catalogue:change",
        entity="catalogue_item",
        entity_id=item.id,
        before=before,
        after=item_dict(item),
    )
    return item_dict(item)


# -- redeeming, earning, correcting ---------------------------------------------------------------


def redeem(
    session: Session,
    *,
    user: User,
    item_id: int,
    quantity: int,
    volunteer_id: int | None,
    note: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Volunteers redeem their own points; dispatchers and admins for ``volunteer_id`` at the counter."""
    if user.role is Role.VOLUNTEER:
        if volunteer_id is not None:
            raise Forbidden("volunteers redeem only their own points; leave volunteer_id out", field="volunteer_id")
        volunteer_id = require_volunteer(session, user).id
    elif volunteer_id is None:
        raise Invalid("volunteer_id is required when staff redeem for a volunteer", field="volunteer_id")
    item = session.get(CatalogueItem, item_id)
    if item is None:
        raise Invalid(f"no catalogue item with id {item_id}", field="item")
    entry, after = ledger.redeem(
        session, volunteer_id=volunteer_id, item=item, quantity=quantity, actor=user, now=now, note=note
    )
    audit(
        session,
        actor=user,
        action="points:redeem",
        entity="points_ledger",
        entity_id=entry.id,
        after={"volunteer_id": volunteer_id, "amount": entry.amount, "item": item.id},
    )
    return {"entry": ledger.entry_dict(entry, items={item.id: item}), "balance": after}


def earn(session: Session, *, data: Earning, user: User, now: datetime) -> dict[str, Any]:
    """Confirm a source and credit its points (once per source)."""
    entry = confirm_earning(session, data=data, user=user, now=now)
    audit(
        session,
        actor=user,
        action="points:earn",
        entity="points_ledger",
        entity_id=entry.id,
        after={"volunteer_id": entry.volunteer_id, "amount": entry.amount, "source": entry.earn_key},
    )
    return {"entry": ledger.entry_dict(entry), "balance": ledger.balance(session, entry.volunteer_id)}


def correct(session: Session, *, entry_id: int, amount: int, note: str, user: User, now: datetime) -> dict[str, Any]:
    """A correction is a new entry naming the entry it corrects; ``note`` must say why."""
    if not note.strip():
        raise Invalid("note must say why", field="note")
    entry, after = ledger.correct(session, entry_id=entry_id, amount=amount, note=note, actor=user, now=now)
    audit(
        session,
        actor=user,
        action="points:correct",
        entity="points_ledger",
        entity_id=entry.id,
        after={"corrects": entry_id, "amount": amount},
    )
    return {"entry": ledger.entry_dict(entry), "balance": after}


def rules() -> dict[str, Any]:
    return {
        "formula": "points = max(1, round(hours × points_per_hour))",
        "kinds": [
            {"kind": k, "name_zh": zh, "name_en": en, "points_per_hour": rate}
            for k, (zh, en, rate) in SERVICE_KINDS.items()
        ],
    }


# -- leaderboards and totals ----------------------------------------------------------------------


def _rank_rows(session: Session, got: ledger.Earned, *, by: str, community_id: int | None, grid_id: int | None):
    if by == "grid":
        return [{"grid_id": g, "points": p} for g, p in got.by_grid.items() if g is not None]
    if by == "team":
        teams = list(session.scalars(select(Team).where(Team.active.is_(True))))
        if community_id is not None:
            teams = [t for t in teams if t.community_id == community_id]
        return [
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
    if grid_id is not None:
        totals = {v: p for (v, g), p in got.by_volunteer_grid.items() if g == grid_id}
    else:
        totals = got.by_volunteer
    names = (
        {v.id: v for v in session.scalars(select(Volunteer).where(Volunteer.id.in_(list(totals))))} if totals else {}
    )
    return [
        {
            "volunteer_id": v,
            "name_zh": names[v].name_zh,
            "name_en": names[v].name_en,
            "team_zh": names[v].team_zh,
            "points": p,
        }
        for v, p in totals.items()
    ]


def leaderboard(
    session: Session,
    *,
    by: str,
    start: datetime,
    end: datetime,
    community_id: int | None = None,
    grid_id: int | None = None,
    limit: int = 20,
) -> dict[str, Any]:
    """Earned points (service confirmed, with its corrections), not balances: spending does not
    lower a rank. Ties go to the lower id. Names only; no phone numbers."""
    got = ledger.earned(session, start=start, end=end, community_id=community_id)
    rows: list[dict[str, Any]] = _rank_rows(session, got, by=by, community_id=community_id, grid_id=grid_id)
    key = next(k for k in ("volunteer_id", "team_id", "grid_id") if not rows or k in rows[0])
    rows.sort(key=lambda r: (-r["points"], r[key]))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return {
        "by": by,
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "community_id": community_id,
        "items": rows[:limit],
    }


def summary(session: Session, *, start: datetime, end: datetime, community_id: int | None = None) -> dict[str, Any]:
    """Earned, redeemed and corrected per month in the period, and the outstanding balance."""
    query = select(PointsEntry).where(PointsEntry.at >= start, PointsEntry.at < end)
    if community_id is not None:
        query = query.where(PointsEntry.community_id == community_id)
    months: dict[str, dict[str, int]] = {}
    totals = {"earned": 0, "redeemed": 0, "corrections": 0}
    volunteers: set[int] = set()
    names = {EntryKind.EARN: "earned", EntryKind.REDEEM: "redeemed", EntryKind.CORRECTION: "corrections"}
    for e in session.scalars(query):
        bucket = months.setdefault(month_key(e.at), {"earned": 0, "redeemed": 0, "corrections": 0})
        amount = -e.amount if e.kind is EntryKind.REDEEM else e.amount
        bucket[names[e.kind]] += amount
        totals[names[e.kind]] += amount
        if e.kind is EntryKind.EARN:
            volunteers.add(e.volunteer_id)
    outstanding_query = select(func.coalesce(func.sum(PointsEntry.amount), 0))
    if community_id is not None:
        outstanding_query = outstanding_query.join(Volunteer, Volunteer.id == PointsEntry.volunteer_id).where(
            Volunteer.community_id == community_id
        )
    return {
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "community_id": community_id,
        **totals,
        "volunteers_earning": len(volunteers),
        "outstanding": int(session.scalar(outstanding_query) or 0),
        "by_month": [{"month": m, **v} for m, v in sorted(months.items())],
    }


# -- community events -----------------------------------------------------------------------------


def event_dict(e: CommunityEvent) -> dict[str, Any]:
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


def community_events(session: Session, *, community_id: int | None = None) -> list[dict[str, Any]]:
    query = select(CommunityEvent).order_by(CommunityEvent.starts_at.desc(), CommunityEvent.id)
    if community_id is not None:
        query = query.where(CommunityEvent.community_id == community_id)
    return [event_dict(e) for e in session.scalars(query)]


def add_community_event(session: Session, *, data: dict[str, Any], user: User, now: datetime) -> dict[str, Any]:
    """Announce an event in a community the caller keeps; ``starts_at`` is ISO 8601 (naive: UTC)."""
    if data["service_kind"] not in SERVICE_KINDS:
        raise Invalid(f"unknown service kind {data['service_kind']!r}", field="service_kind")
    if not may_act_in_community(session, user, data["community_id"]):
        raise Forbidden("grid workers announce events only in their own community", field="community_id")
    event = CommunityEvent(
        **(data | {"starts_at": parse_time(data["starts_at"], "starts_at", now)}), created_by=user.username
    )
    session.add(event)
    session.flush()
    audit(
        session, actor=user, action="event:add", entity="community_event", entity_id=event.id, after=event_dict(event)
    )
    return event_dict(event)
