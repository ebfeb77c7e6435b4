"""The points ledger: earning, redeeming and correcting, always as new rows; balances are SUMs.

Redemptions and corrections are serialised per volunteer, so two requests racing for the same
points cannot both succeed: on PostgreSQL the volunteer's row is locked (``SELECT … FOR UPDATE``)
before the balance is read; SpatiaLite writers already hold the database's write lock from their
first statement (``BEGIN IMMEDIATE``, see ``service.db``). Earning is idempotent per source: the
unique ``earn_key`` makes a second earning for the same request, wish or event attendance fail.
These functions never commit.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.auth.models import User
from service.common.errors import Conflict, Invalid, NotFound
from service.points.models import CatalogueItem, EntryKind, PointsEntry, SourceType
from service.points.rules import SERVICE_KINDS, points_for
from service.volunteers.models import Volunteer


def balance(session: Session, volunteer_id: int) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(PointsEntry.amount), 0)).where(PointsEntry.volunteer_id == volunteer_id)
    )
    return int(total or 0)


def lock_volunteer(session: Session, volunteer_id: int) -> Volunteer | None:
    """Serialise ledger writes for one volunteer (PostgreSQL row lock; SQLite's writer lock is held)."""
    query = select(Volunteer).where(Volunteer.id == volunteer_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalar(query)


def _actor(user: User | None) -> tuple[int | None, str]:
    return (user.id, user.username) if user is not None else (None, "system")


def earn_key(source_type: SourceType, source_id: int, volunteer_id: int) -> str:
    """Requests and wishes earn once; a community event earns once per attending volunteer."""
    if source_type is SourceType.EVENT:
        return f"event:{source_id}:volunteer:{volunteer_id}"
    return f"{source_type.value}:{source_id}"


def existing_earning(session: Session, key: str) -> PointsEntry | None:
    return session.scalar(select(PointsEntry).where(PointsEntry.earn_key == key))


def earn(
    session: Session,
    *,
    volunteer_id: int,
    source_type: SourceType,
    source_id: int,
    hours: float,
    service_kind: str,
    grid_id: int | None,
    community_id: int | None,
    actor: User | None,
    now: datetime,
    note: str | None = None,
) -> PointsEntry:
    """Add an earning entry (the caller has checked the source and the confirmer)."""
    if service_kind not in SERVICE_KINDS:
        raise Invalid(f"unknown service kind {service_kind!r}; one of {', '.join(SERVICE_KINDS)}", field="kind")
    key = earn_key(source_type, source_id, volunteer_id)
    already = existing_earning(session, key)
    if already is not None:
        raise Conflict(
            f"this {source_type.value} already earned points (ledger entry {already.id})",
            field="source_id",
            entry_id=already.id,
        )
    actor_id, actor_name = _actor(actor)
    entry = PointsEntry(
        at=now,
        volunteer_id=volunteer_id,
        kind=EntryKind.EARN,
        amount=points_for(hours, service_kind),
        source_type=source_type,
        source_id=source_id,
        earn_key=key,
        service_kind=service_kind,
        hours=hours,
        grid_id=grid_id,
        community_id=community_id,
        actor_user_id=actor_id,
        actor=actor_name,
        note=note,
    )
    try:
        with session.begin_nested():  # a racing twin fails here on the unique earn_key
            session.add(entry)
    except IntegrityError:
        raise Conflict("this source already earned points", field="source_id") from None
    return entry


def redeem(
    session: Session,
    *,
    volunteer_id: int,
    item: CatalogueItem,
    quantity: int,
    actor: User,
    now: datetime,
    note: str | None = None,
) -> tuple[PointsEntry, int]:
    """Spend points on a catalogue item; returns the entry and the balance after it."""
    volunteer = lock_volunteer(session, volunteer_id)
    if volunteer is None:
        raise NotFound(f"no volunteer with id {volunteer_id}", field="volunteer_id")
    if not item.active:
        raise Conflict(f"catalogue item {item.id} is no longer offered", field="item")
    if item.community_id is not None and item.community_id != volunteer.community_id:
        raise Invalid(f"catalogue item {item.id} is offered in another community", field="item")
    cost = item.price * quantity
    available = balance(session, volunteer_id)
    if cost > available:
        raise Conflict(
            f"item costs {cost} points but the balance is {available}", field="item", balance=available, cost=cost
        )
    actor_id, actor_name = _actor(actor)
    entry = PointsEntry(
        at=now,
        volunteer_id=volunteer_id,
        kind=EntryKind.REDEEM,
        amount=-cost,
        catalogue_item_id=item.id,
        quantity=quantity,
        community_id=volunteer.community_id,
        actor_user_id=actor_id,
        actor=actor_name,
        note=note,
    )
    session.add(entry)
    session.flush()
    return entry, available - cost


def correct(
    session: Session, *, entry_id: int, amount: int, note: str, actor: User, now: datetime
) -> tuple[PointsEntry, int]:
    """A correction of an earlier entry, as a new entry; the balance may not go below zero."""
    target = session.get(PointsEntry, entry_id)
    if target is None:
        raise NotFound(f"no ledger entry with id {entry_id}", field="entry_id")
    if amount == 0:
        raise Invalid("amount must not be zero", field="amount")
    lock_volunteer(session, target.volunteer_id)
    available = balance(session, target.volunteer_id)
    if available + amount < 0:
        raise Conflict(
            f"the correction would take the balance from {available} below zero", field="amount", balance=available
        )
    actor_id, actor_name = _actor(actor)
    entry = PointsEntry(
        at=now,
        volunteer_id=target.volunteer_id,
        kind=EntryKind.CORRECTION,
        amount=amount,
        source_type=target.source_type,
        source_id=target.source_id,
        service_kind=target.service_kind,
        corrects_entry_id=target.id,
        grid_id=target.grid_id,
        community_id=target.community_id,
        actor_user_id=actor_id,
        actor=actor_name,
        note=note,
    )
    session.add(entry)
    session.flush()
    return entry, available + amount


def entry_dict(
    e: PointsEntry, *, balance_after: int | None = None, items: dict[int, CatalogueItem] | None = None
) -> dict[str, Any]:
    item = (items or {}).get(e.catalogue_item_id) if e.catalogue_item_id else None
    out: dict[str, Any] = {
        "id": e.id,
        "at": e.at.isoformat(),
        "volunteer_id": e.volunteer_id,
        "kind": e.kind.value,
        "amount": e.amount,
        "source_type": e.source_type.value if e.source_type else None,
        "source_id": e.source_id,
        "service_kind": e.service_kind,
        "hours": e.hours,
        "catalogue_item_id": e.catalogue_item_id,
        "item_name_zh": item.name_zh if item else None,
        "item_name_en": item.name_en if item else None,
        "quantity": e.quantity,
        "corrects_entry_id": e.corrects_entry_id,
        "grid_id": e.grid_id,
        "confirmed_by": e.actor,
        "note": e.note,
    }
    if balance_after is not None:
        out["balance_after"] = balance_after
    return out


def history(session: Session, volunteer_id: int) -> list[dict[str, Any]]:
    """Every entry of a volunteer, newest first, each with the balance after it."""
    rows = list(
        session.scalars(select(PointsEntry).where(PointsEntry.volunteer_id == volunteer_id).order_by(PointsEntry.id))
    )
    item_ids = {e.catalogue_item_id for e in rows if e.catalogue_item_id}
    items = (
        {i.id: i for i in session.scalars(select(CatalogueItem).where(CatalogueItem.id.in_(item_ids)))}
        if item_ids
        else {}
    )
    out: list[dict[str, Any]] = []
    running = 0
    for e in rows:
        running += e.amount
        out.append(entry_dict(e, balance_after=running, items=items))
    return out[::-1]


@dataclass
class Earned:
    """Points earned (earnings and their corrections) per volunteer and per grid, in a period."""

    by_volunteer: dict[int, int]
    by_grid: dict[int | None, int]
    by_volunteer_grid: dict[tuple[int, int | None], int]


def earned(session: Session, *, start: datetime, end: datetime, community_id: int | None = None) -> Earned:
    query = select(PointsEntry).where(
        PointsEntry.kind.in_([EntryKind.EARN, EntryKind.CORRECTION]), PointsEntry.at >= start, PointsEntry.at < end
    )
    if community_id is not None:
        query = query.where(PointsEntry.community_id == community_id)
    rows = list(session.scalars(query))
    corrected = {e.corrects_entry_id for e in rows if e.kind is EntryKind.CORRECTION}
    earn_ids = (
        set(
            session.scalars(
                select(PointsEntry.id).where(PointsEntry.id.in_(corrected), PointsEntry.kind == EntryKind.EARN)
            )
        )
        if corrected
        else set()
    )
    by_volunteer: dict[int, int] = defaultdict(int)
    by_grid: dict[int | None, int] = defaultdict(int)
    by_pair: dict[tuple[int, int | None], int] = defaultdict(int)
    for e in rows:
        if e.kind is EntryKind.CORRECTION and e.corrects_entry_id not in earn_ids:
            continue  # corrections of redemptions are refunds, not service
        by_volunteer[e.volunteer_id] += e.amount
        by_grid[e.grid_id] += e.amount
        by_pair[(e.volunteer_id, e.grid_id)] += e.amount
    return Earned(dict(by_volunteer), dict(by_grid), dict(by_pair))
