"""The key-household register: views, visits (a need found becomes a request in one step), and the
overdue check the scheduler runs. Functions take a session and never commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from service.audit.service import audit
from service.auth.models import User
from service.buildings.models import Building
from service.config import Settings
from service.db import Database
from service.events.outbox import publish
from service.grids.models import GridWorker
from service.households.models import HouseholdVisit, KeyHousehold
from service.requests.intake import IntakeError, NewRequest, create_request
from service.requests.models import Channel
from service.volunteers.models import Volunteer
from service.wishes.service import building_point

OVERDUE_TOPIC = "key_household.overdue"
VISITED_TOPIC = "key_household.visited"


class HouseholdError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


def due_at(h: KeyHousehold) -> datetime:
    """When the next visit is due: the last visit (or registration) plus the frequency."""
    return (h.last_visit_at or h.created_at) + timedelta(days=h.visit_every_days)


def is_overdue(h: KeyHousehold, now: datetime) -> bool:
    return h.active and due_at(h) <= now


def read_audit(session: Session, user: User, households: list[KeyHousehold], *, action: str, now: datetime) -> None:
    """Every read of a household is written to the audit log, one entry per household."""
    for h in households:
        audit(session, actor=user, action=f"key_household:{action}", entity="key_household", entity_id=h.id, now=now)


def household_dict(h: KeyHousehold, building: Building, now: datetime, *, with_visits: bool = False) -> dict[str, Any]:
    """The full record, for those who may see it (never for a map layer)."""
    p = building_point(building)
    due = due_at(h)
    out = {
        "id": h.id,
        "version": h.version,
        "building_id": building.id,
        "building_name_zh": building.name_zh,
        "grid_id": building.grid_id,
        "unit_label": h.unit_label,
        "head_name": h.head_name,
        "phone": h.phone,
        "kinds": h.kinds,
        "members": h.members,
        "notes": h.notes,
        "caretaker_worker_id": h.caretaker_worker_id,
        "caretaker_volunteer_id": h.caretaker_volunteer_id,
        "visit_every_days": h.visit_every_days,
        "last_visit_at": h.last_visit_at.isoformat() if h.last_visit_at else None,
        "due_at": due.isoformat(),
        "overdue": is_overdue(h, now),
        "overdue_days": round((now - due).total_seconds() / 86400, 2) if is_overdue(h, now) else 0,
        "active": h.active,
        "lon": round(p.x, 7),
        "lat": round(p.y, 7),
    }
    if with_visits:
        out["visits"] = [visit_dict(v) for v in h.visits]
    return out


def visit_dict(v: HouseholdVisit) -> dict[str, Any]:
    return {
        "id": v.id,
        "at": v.at.isoformat(),
        "visitor": v.visitor,
        "notes": v.notes,
        "needs": v.needs,
    }


def building_features(rows: list[tuple[KeyHousehold, Building]], now: datetime) -> list[dict[str, Any]]:
    """The map layer: one point per building (its entrance), with counts, never a flat or a name."""
    from geoalchemy2.shape import from_shape

    from service.common.geojson import feature

    per_building: dict[int, tuple[Building, list[KeyHousehold]]] = {}
    for h, b in rows:
        per_building.setdefault(b.id, (b, []))[1].append(h)
    out = []
    for bid, (b, households) in sorted(per_building.items()):
        overdue = [h for h in households if is_overdue(h, now)]
        props = {
            "building_id": bid,
            "building_name_zh": b.name_zh,
            "building_name_en": b.name_en,
            "grid_id": b.grid_id,
            "households": len(households),
            "overdue": len(overdue),
            "kinds": sorted({k for h in households for k in h.kinds}),
            "oldest_due_at": min(due_at(h) for h in households).isoformat(),
            "household_ids": sorted(h.id for h in households),
        }
        out.append(feature(bid, from_shape(building_point(b), srid=4326), props))
    return out


@dataclass
class Need:
    description: str
    category: str | None = None
    raise_request: bool = False


@dataclass
class NewVisit:
    notes: str
    at: datetime | None = None
    needs: list[Need] = field(default_factory=list)


def log_visit(
    session: Session, *, household: KeyHousehold, data: NewVisit, user: User, settings: Settings, now: datetime
) -> HouseholdVisit:
    """Record a visit; each need with ``raise_request`` becomes a request through the normal intake
    (located at the building, channel ``patrol``, no reporter: nothing in it names the household)."""
    at = data.at or now
    if at > now + timedelta(minutes=5):
        raise HouseholdError(422, "at must not lie in the future", "at")
    if at < now - timedelta(days=30):
        raise HouseholdError(422, "at must lie within the last 30 days", "at")
    if not data.notes.strip():
        raise HouseholdError(422, "notes must say how the household is", "notes")
    needs = []
    for i, need in enumerate(data.needs):
        if not need.description.strip():
            raise HouseholdError(422, "a need must be described", f"needs[{i}].description")
        entry: dict[str, Any] = {"description": need.description.strip(), "category": need.category, "request_id": None}
        if need.raise_request:
            if not need.category:
                raise HouseholdError(422, "a need raised as a request needs its category", f"needs[{i}].category")
            try:
                req = create_request(
                    session,
                    data=NewRequest(
                        category=need.category,
                        description=need.description.strip(),
                        channel=Channel.PATROL,
                        building_id=household.building_id,
                    ),
                    settings=settings,
                    now=now,
                )
            except IntakeError as exc:
                raise HouseholdError(exc.status, str(exc), f"needs[{i}].{exc.field}") from None
            entry["request_id"] = req.id
            entry["tracking_code"] = req.tracking_code
        needs.append(entry)
    visit = HouseholdVisit(
        household_id=household.id,
        at=at,
        visitor_user_id=user.id,
        visitor=user.display_name or user.username,
        notes=data.notes.strip(),
        needs=needs,
        recorded_at=now,
    )
    session.add(visit)
    if household.last_visit_at is None or at > household.last_visit_at:
        household.last_visit_at = at
    household.updated_at = now
    session.flush()
    audit(
        session,
        actor=user,
        action="key_household:visit",
        entity="key_household",
        entity_id=household.id,
        after={"visit_id": visit.id, "requests": [n["request_id"] for n in needs if n["request_id"]]},
        now=now,
    )
    grid_id = session.scalar(select(Building.grid_id).where(Building.id == household.building_id))
    publish(session, VISITED_TOPIC, {"grid_id": grid_id})
    return visit


def caretaker_exists(session: Session, *, worker_id: int | None, volunteer_id: int | None) -> None:
    if worker_id is None and volunteer_id is None:
        raise HouseholdError(
            422,
            "a key household needs a caretaker: caretaker_worker_id or caretaker_volunteer_id",
            "caretaker_worker_id",
        )
    if worker_id is not None and session.get(GridWorker, worker_id) is None:
        raise HouseholdError(422, f"no grid worker with id {worker_id}", "caretaker_worker_id")
    if volunteer_id is not None and session.get(Volunteer, volunteer_id) is None:
        raise HouseholdError(422, f"no volunteer with id {volunteer_id}", "caretaker_volunteer_id")


# -- the scheduler's overdue check ----------------------------------------------------------------


def flag_overdue(db: Database, *, now: datetime) -> int:
    """Publish ``key_household.overdue`` once for each household that has become overdue.

    Each overdue spell is announced once: the due instant is stored with the announcement, and the
    change is guarded by the household's version, so several workers racing announce it once. The
    event carries the grid and its overdue count only (the stream is open to every staff role, so
    it never names a household or a building); clients re-read ``GET /api/v1/key-households``.
    """
    with db.reader() as session:
        rows = list(session.scalars(select(KeyHousehold).where(KeyHousehold.active.is_(True))))
        pending = [h.id for h in rows if due_at(h) <= now and h.overdue_notified_due != due_at(h)]
    flagged = 0
    for household_id in pending:
        try:
            with db.transaction() as session:
                h = session.get(KeyHousehold, household_id)
                if h is None or not is_overdue(h, now) or h.overdue_notified_due == due_at(h):
                    continue
                h.overdue_notified_due = due_at(h)
                session.flush()
                grid_id = session.scalar(select(Building.grid_id).where(Building.id == h.building_id))
                in_grid = session.scalars(
                    select(KeyHousehold)
                    .join(Building, Building.id == KeyHousehold.building_id)
                    .where(Building.grid_id == grid_id, KeyHousehold.active.is_(True))
                )
                count = sum(1 for other in in_grid if is_overdue(other, now))
                audit(
                    session,
                    actor=None,
                    action="key_household:overdue",
                    entity="key_household",
                    entity_id=h.id,
                    after={"due_at": due_at(h).isoformat()},
                    now=now,
                )
                publish(session, OVERDUE_TOPIC, {"grid_id": grid_id, "overdue_in_grid": count})
                flagged += 1
        except StaleDataError:
            continue  # another worker announced it first
    return flagged
