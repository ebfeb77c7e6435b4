"""The demo's community life (``community_life.json``): teams, party registrations, the points
catalogue and community events, wishes, the points ledger, key households and building duty.

The file is written as of a reference instant; :class:`Shift` moves it to the load time (instants by
the exact difference, dates by whole weeks). :func:`load_community_life` writes it in named steps,
each taking the keys it needs from :class:`Life` (the loaded areas, grids, people and buildings).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from geoalchemy2.shape import from_shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.areas.models import Area
from service.auth.models import User
from service.buildings.models import Building
from service.buildings.service import anchor_point
from service.common.progress import Progress
from service.community.times import local_date, week_start
from service.config import Settings
from service.duty.models import BuildingRotation, DisputeLog, DisputeOutcome, PropertyRating, RotationMember
from service.grids.models import Grid, GridWorker
from service.households.models import HouseholdVisit, KeyHousehold
from service.organisations.models import PartyOrg
from service.points.ledger import earn_key
from service.points.models import CatalogueItem, CommunityEvent, EntryKind, PointsEntry, SourceType
from service.teams.models import DutyKind, PartyRegistration, RegistrationDuty, Team, TeamMember, TeamRole
from service.volunteers.models import Volunteer
from service.wishes.models import Wish, WishKind, WishStatus


@dataclass(frozen=True)
class Shift:
    """Moves the demo's community life from its reference instant to the load time: instants by the
    exact difference, dates by whole weeks (so Mondays stay Mondays and the week's duty-holder is
    the one the data names for the reference week)."""

    delta: timedelta
    weeks: int

    @classmethod
    def to(cls, now: datetime, reference: str) -> Shift:
        ref = datetime.fromisoformat(reference)
        weeks = (week_start(local_date(now)) - week_start(local_date(ref))).days // 7
        return cls(now - ref, weeks)

    def at(self, value: str) -> datetime:
        return (datetime.fromisoformat(value) + self.delta).astimezone(UTC)

    def day(self, value: str) -> date:
        return date.fromisoformat(value) + timedelta(weeks=self.weeks)

    def week_at(self, value: str) -> datetime:
        return (datetime.fromisoformat(value) + timedelta(weeks=self.weeks)).astimezone(UTC)


@dataclass(frozen=True)
class Life:
    """What every step reads: the file, the shift, and the loaded rows its keys name."""

    session: Session
    data: dict[str, Any]
    shift: Shift
    settings: Settings
    areas: dict[str, Area]
    grids: dict[str, Grid]
    #: By key (``ref``): volunteers, grid workers, buildings; demo accounts by username.
    volunteers: dict[str, Volunteer]
    workers: dict[str, GridWorker]
    buildings: dict[str, Building]
    users: dict[str, User]

    @property
    def loaded_at(self) -> datetime:
        return self.shift.at(self.data["reference_time"])


def load_community_life(
    session: Session,
    life: dict[str, Any],
    shift: Shift,
    areas: dict[str, Area],
    grids: dict[str, Grid],
    workers: list[GridWorker],
    volunteers: list[Volunteer],
    settings: Settings,
    progress: Progress,
    usernames: list[str],
) -> dict[str, int]:
    """Write the community life in the caller's transaction; returns counts per kind."""
    advance = progress.task("community life", 9)
    ctx = Life(
        session=session,
        data=life,
        shift=shift,
        settings=settings,
        areas=areas,
        grids=grids,
        volunteers={v.ref: v for v in volunteers if v.ref is not None},
        workers={w.ref: w for w in workers if w.ref is not None},
        buildings={b.ref: b for b in session.scalars(select(Building)) if b.ref is not None},
        users={u.username: u for u in session.scalars(select(User).where(User.username.in_(usernames)))},
    )
    _homes_and_teams(ctx)
    advance(1)
    _party_registrations(ctx)
    advance(1)
    items, events = _catalogue_and_events(ctx)
    advance(1)
    wishes = _wishes(ctx)
    advance(1)
    entries = _points_ledger(ctx, items=items, events=events, wishes=wishes)
    advance(1)
    households = _key_households(ctx)
    advance(1)
    _building_rotations(ctx)
    advance(1)
    _building_disputes(ctx)
    advance(1)
    _property_ratings(ctx)
    advance(1)
    return {
        "teams": len(life["teams"]),
        "party_registrations": len(life["party_registrations"]),
        "catalogue_items": len(items),
        "community_events": len(events),
        "points_entries": entries,
        "wishes": len(wishes),
        "key_households": households,
        "building_rotations": len(life["building_rotations"]),
    }


def _homes_and_teams(ctx: Life) -> None:
    vol, loaded_at = ctx.volunteers, ctx.loaded_at
    for key, building_key in ctx.data["volunteer_homes"].items():
        vol[key].home_building_id = ctx.buildings[building_key].id
    for t in ctx.data["teams"]:
        team = Team(
            ref=t["key"],
            name_zh=t["name_zh"],
            name_en=t["name_en"],
            kind=t["kind"],
            community_id=ctx.areas[t["community_key"]].id,
            grid_id=ctx.grids[t["grid_key"]].id if t["grid_key"] else None,
            description=t["description_zh"],
            created_at=loaded_at,
        )
        team.members = [
            TeamMember(
                volunteer_id=vol[k].id,
                role=TeamRole.LEADER if k == t["leader_key"] else TeamRole.MEMBER,
                joined_at=loaded_at,
            )
            for k in t["member_keys"]
        ]
        ctx.session.add(team)


def _party_registrations(ctx: Life) -> None:
    shift = ctx.shift
    party = {o.ref: o.id for o in ctx.session.scalars(select(PartyOrg))}
    for r in ctx.data["party_registrations"]:
        reg = PartyRegistration(
            ref=r["key"],
            name_zh=r["name_zh"],
            name_en=r["name_en"],
            work_unit_zh=r["work_unit_zh"],
            phone=r["phone"],
            community_id=ctx.areas[r["community_key"]].id,
            party_org_id=party.get(r["party_org_key"]),
            registered_on=shift.day(r["registered_on"]),
        )
        reg.duties = [
            RegistrationDuty(
                kind=DutyKind(d["kind"]),
                done_on=shift.day(d["done_on"]),
                note=d["note"],
                recorded_by="load-demo",
                recorded_at=ctx.loaded_at,
            )
            for d in r["duties"]
        ]
        ctx.session.add(reg)


def _catalogue_and_events(ctx: Life) -> tuple[dict[str, CatalogueItem], dict[str, CommunityEvent]]:
    areas, grids = ctx.areas, ctx.grids
    items = {}
    for c in ctx.data["catalogue"]:
        items[c["key"]] = CatalogueItem(
            ref=c["key"],
            name_zh=c["name_zh"],
            name_en=c["name_en"],
            price=c["price"],
            unit_zh=c["unit_zh"],
            unit_en=c["unit_en"],
            provider_zh=c["provider_zh"],
            community_id=areas[c["community_key"]].id if c["community_key"] else None,
            created_at=ctx.loaded_at,
        )
    events = {}
    for e in ctx.data["community_events"]:
        events[e["key"]] = CommunityEvent(
            ref=e["key"],
            title_zh=e["title_zh"],
            title_en=e["title_en"],
            service_kind=e["service_kind"],
            starts_at=ctx.shift.at(e["starts_at"]),
            hours=e["hours"],
            community_id=areas[e["community_key"]].id,
            grid_id=grids[e["grid_key"]].id if e["grid_key"] else None,
            created_by="load-demo",
        )
    ctx.session.add_all([*items.values(), *events.values()])
    ctx.session.flush()
    return items, events


def _wishes(ctx: Life) -> dict[str, Wish]:
    shift, vol = ctx.shift, ctx.volunteers
    wishes = {}
    for w in ctx.data["wishes"]:
        b = ctx.buildings[w["building_key"]]
        claimed = shift.at(w["claimed_at"]) if w["claimed_at"] else None
        status = WishStatus(w["status"])
        wishes[w["key"]] = Wish(
            ref=w["key"],
            kind=WishKind(w["kind"]),
            category=w["category"],
            title=w["title"],
            description=w["description"],
            status=status,
            location=from_shape(anchor_point(b), srid=4326),
            building_id=b.id,
            grid_id=b.grid_id,
            community_id=ctx.grids[w["grid_key"]].community_id,
            poster_user_id=ctx.users[w["poster"]].id if w["poster"] else None,
            on_behalf_of=w["on_behalf_of"],
            hours=w["hours"],
            claimant_volunteer_id=vol[w["claimant_key"]].id if w["claimant_key"] else None,
            claimed_at=claimed,
            claim_expires_at=claimed + timedelta(hours=ctx.settings.wish_claim_hours)
            if claimed is not None and status is WishStatus.CLAIMED
            else None,
            claim_count=1 if claimed else 0,
            fulfilled_at=shift.at(w["fulfilled_at"]) if w["fulfilled_at"] else None,
            fulfil_note=w["fulfil_note"],
            confirmed_at=shift.at(w["confirmed_at"]) if w["confirmed_at"] else None,
            created_at=shift.at(w["created_at"]),
            updated_at=ctx.loaded_at,
        )
    ctx.session.add_all(wishes.values())
    ctx.session.flush()
    return wishes


def _points_ledger(
    ctx: Life,
    *,
    items: dict[str, CatalogueItem],
    events: dict[str, CommunityEvent],
    wishes: dict[str, Wish],
) -> int:
    """The ledger in its order; a correction names the entry it corrects by position. Returns its length."""
    entries: list[PointsEntry] = []
    for e in ctx.data["points_ledger"]:
        kind = EntryKind(e["kind"])
        v = ctx.volunteers[e["volunteer_key"]]
        source_type = SourceType(e["source_type"]) if e.get("source_type") else None
        source: CommunityEvent | Wish | None = None
        if source_type is SourceType.EVENT:
            source = events[e["source_key"]]
        elif source_type is SourceType.WISH:
            source = wishes[e["source_key"]]
        actor = ctx.users.get(e["confirmed_by"])
        entry = PointsEntry(
            at=ctx.shift.at(e["at"]),
            volunteer_id=v.id,
            kind=kind,
            amount=e["amount"],
            source_type=source_type,
            source_id=source.id if source else None,
            earn_key=earn_key(source_type, source.id, v.id)
            if kind is EntryKind.EARN and source_type is not None and source is not None
            else None,
            service_kind=e.get("service_kind"),
            hours=e.get("hours"),
            catalogue_item_id=items[e["item_key"]].id if e.get("item_key") else None,
            quantity=e.get("quantity"),
            grid_id=ctx.grids[e["grid_key"]].id if e.get("grid_key") else None,
            community_id=ctx.areas[e["community_key"]].id if e.get("community_key") else None,
            actor_user_id=actor.id if actor else None,
            actor=e["confirmed_by"],
            note=e["note"],
        )
        if kind is EntryKind.CORRECTION:
            ctx.session.flush()
            entry.corrects_entry_id = entries[e["corrects"]].id
        if isinstance(source, Wish) and kind is EntryKind.EARN:
            source.points_awarded = e["amount"]
        entries.append(entry)
        ctx.session.add(entry)
    ctx.session.flush()
    return len(entries)


def _key_households(ctx: Life) -> int:
    shift = ctx.shift
    households = 0
    for h in ctx.data["key_households"]:
        worker = ctx.workers.get(h["caretaker_worker_key"] or "")
        volunteer = ctx.volunteers.get(h["caretaker_volunteer_key"] or "")
        carer: GridWorker | Volunteer | None = worker or volunteer
        if carer is None:
            raise ValueError(f"community_life.json: key household {h['key']} has no caretaker")
        visits = [
            HouseholdVisit(
                at=shift.at(v["at"]),
                visitor_user_id=carer.user_id,
                visitor=carer.name_zh,
                notes=v["notes"],
                needs=v["needs"],
                recorded_at=shift.at(v["at"]),
            )
            for v in h["visits"]
        ]
        household = KeyHousehold(
            ref=h["key"],
            building_id=ctx.buildings[h["building_key"]].id,
            unit_label=h["unit_label"],
            head_name=h["head_name"],
            phone=h["phone"],
            kinds=h["kinds"],
            members=h["members"],
            notes=h["notes"],
            caretaker_worker_id=worker.id if worker else None,
            caretaker_volunteer_id=volunteer.id if volunteer else None,
            visit_every_days=h["visit_every_days"],
            last_visit_at=max((v.at for v in visits), default=None),
            created_at=shift.at(h["created_at"]),
            updated_at=ctx.loaded_at,
        )
        household.visits = visits
        ctx.session.add(household)
        households += 1
    return households


def _building_rotations(ctx: Life) -> None:
    vol = ctx.volunteers
    for r in ctx.data["building_rotations"]:
        rotation = BuildingRotation(
            building_id=ctx.buildings[r["building_key"]].id,
            chair_volunteer_id=vol[r["chair_key"]].id,
            starts_on=ctx.shift.day(r["starts_on"]),
            updated_at=ctx.loaded_at,
            updated_by="load-demo",
        )
        rotation.members = [RotationMember(position=i, volunteer_id=vol[k].id) for i, k in enumerate(r["member_keys"])]
        ctx.session.add(rotation)


def _building_disputes(ctx: Life) -> None:
    for d in ctx.data["building_disputes"]:
        ctx.session.add(
            DisputeLog(
                building_id=ctx.buildings[d["building_key"]].id,
                volunteer_id=ctx.volunteers[d["volunteer_key"]].id,
                week_start=ctx.shift.day(d["week_start"]),
                at=ctx.shift.week_at(d["at"]),
                summary=d["summary"],
                outcome=DisputeOutcome(d["outcome"]),
            )
        )


def _property_ratings(ctx: Life) -> None:
    for r in ctx.data["property_ratings"]:
        b = ctx.buildings[r["building_key"]]
        ctx.session.add(
            PropertyRating(
                building_id=b.id,
                compound_id=b.compound_id,
                volunteer_id=ctx.volunteers[r["volunteer_key"]].id,
                week_start=ctx.shift.day(r["week_start"]),
                at=ctx.shift.week_at(r["at"]),
                score=r["score"],
                comment=r["comment"],
            )
        )
    ctx.session.flush()
