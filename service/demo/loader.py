"""Load the generated demo community (``fixtures/demo/``) into an empty database, through the same
import path a city uses for its own files.

Areas, grids, buildings, stations, grid workers and volunteers are imported from the import-ready
files in ``fixtures/demo/import/`` (written by ``fixtures/demo/import_files.py``) with
``service.imports.service.run_import``, exactly as ``neighborgrid import KIND FILE`` would; only what
has no import kind is written directly: party organisations (and their links to grids and grid
workers), departments, the street network, the demo accounts and community life.

It runs in the caller's transaction: either everything is loaded or nothing is. It refuses a
database that already holds areas or grids unless ``replace=True``, which first deletes the
community data (and the demo accounts) in the same transaction.

Community life (``community_life.json``: teams, registrations, points, wishes, key households,
building duty) is written as of a reference instant; the loader shifts it to the load time
(instants by the exact difference, dates by whole weeks) and stamps the volunteers' positions the
same way, so a freshly loaded demo has fresh positions, live claims and a few overdue households.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from geoalchemy2.shape import from_shape
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Table, delete, func, select
from sqlalchemy.orm import Session

from service.areas.models import Area, AreaLevel
from service.auth.models import Role, User
from service.auth.service import create_user, get_user
from service.buildings.models import Building
from service.common.layer_cache import AREAS, BUILDINGS, GRIDS
from service.common.progress import NoProgress, Progress
from service.common.revisions import bump_revision
from service.config import Settings
from service.demo.life import Shift, load_community_life
from service.duty.models import BuildingRotation, DisputeLog, PropertyRating, RotationMember
from service.followups.models import FollowUp
from service.grids.models import (
    Grid,
    GridLayer,
    GridVersion,
    GridWorker,
    grid_assignments,
)
from service.households.models import HouseholdVisit, KeyHousehold
from service.imports.models import FeatureVersion, ImportRun
from service.imports.options import ImportOptions
from service.imports.service import run_import
from service.network.graph import NETWORK_REVISION
from service.network.models import StreetEdge, StreetNode
from service.organisations.models import Department, PartyOrg, PartyOrgKind, department_pairings
from service.points.models import CatalogueItem, CommunityEvent
from service.points.purge import purge_ledger
from service.requests.models import (
    DuplicateSuggestion,
    JointMeetingItem,
    RequestEvent,
    RequestPhoto,
    ServiceRequest,
)
from service.stations.models import Station, StationCircle
from service.teams.models import PartyRegistration, RegistrationDuty, Team, TeamMember
from service.volunteers.models import Volunteer
from service.wishes.models import Wish

#: username -> (role, display name). ``volunteer1`` and ``gridworker1`` are linked to demo people.
DEMO_USERS: dict[str, tuple[Role, str]] = {
    "admin": (Role.ADMIN, "系统管理员 Administrator"),
    "dispatcher": (Role.DISPATCHER, "调度员 Dispatcher"),
    "planner": (Role.PLANNER, "规划员 Planner"),
    "volunteer1": (Role.VOLUNTEER, "志愿者 Volunteer"),
    "gridworker1": (Role.GRID_WORKER, "网格员 Grid worker"),
    "resident1": (Role.RESIDENT, "居民 Resident"),
    "dept_zjj": (Role.DEPARTMENT, "住建局 Housing bureau staff"),
}

# Deleted children first, so foreign keys hold at every step (the points ledger is emptied first,
# by service.points.purge, which lifts its append-only triggers for that transaction only).
_DATA_TABLES = (
    FollowUp.__table__,
    HouseholdVisit.__table__,
    KeyHousehold.__table__,
    PropertyRating.__table__,
    DisputeLog.__table__,
    RotationMember.__table__,
    BuildingRotation.__table__,
    Wish.__table__,
    RegistrationDuty.__table__,
    PartyRegistration.__table__,
    TeamMember.__table__,
    Team.__table__,
    CommunityEvent.__table__,
    CatalogueItem.__table__,
    RequestPhoto.__table__,
    DuplicateSuggestion.__table__,
    JointMeetingItem.__table__,
    RequestEvent.__table__,
    ServiceRequest.__table__,
    StationCircle.__table__,
    FeatureVersion.__table__,
    ImportRun.__table__,
    GridVersion.__table__,
    grid_assignments,
    department_pairings,
    Volunteer.__table__,
    GridWorker.__table__,
    Building.__table__,
    Grid.__table__,
    PartyOrg.__table__,
    Station.__table__,
    StreetEdge.__table__,
    StreetNode.__table__,
    Department.__table__,
)


#: The import-ready files (``fixtures/demo/import/``, written by ``fixtures/demo/import_files.py``).
IMPORT_DIR = "import"
DEMO_BY = "load-demo"
DEMO_COMMENT = "demo community"


class DemoAlreadyLoaded(RuntimeError):
    """The database already holds community data; pass ``replace=True`` to overwrite it."""


def is_empty(session: Session) -> bool:
    return not session.scalar(select(func.count()).select_from(Area)) and not session.scalar(
        select(func.count()).select_from(Grid)
    )


def clear(session: Session) -> None:
    """Delete community data and demo accounts (keeps other users)."""
    purge_ledger(session)
    for table in _DATA_TABLES:
        session.execute(delete(cast(Table, table)))
    # Areas reference their parents: delete the deepest level first.
    for level in reversed(list(AreaLevel)):
        session.execute(delete(Area).where(Area.level == level))
    session.execute(delete(User).where(User.username.in_(DEMO_USERS)))
    session.flush()


def load_demo(
    session: Session,
    *,
    settings: Settings,
    demo_dir: Path | None = None,
    replace: bool = False,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Load every demo layer (the stations with their service circles); returns counts per layer.
    Does not commit.

    Areas, grids, buildings, stations, grid workers and volunteers go through the one import path
    (``service.imports.service.run_import``, as ``neighborgrid import`` would send them) from
    ``demo_dir/import/``; what has no import kind (party organisations and their links, departments,
    the street network, the demo accounts, community life) is written here. A refused file raises
    ``ImportRefused`` naming the feature and the rule (grid codes are checked against
    ``settings.grid_code_pattern``, the deployment's national layout). The demo accounts get
    ``settings.demo_password``. ``now`` (default the real time) is the load time the community-life
    data and the volunteers' positions are shifted to."""
    progress = progress or NoProgress()
    now = now or datetime.now(UTC)
    demo = _Demo(session, settings, demo_dir or settings.demo_dir, now, progress)
    if not is_empty(session):
        if not replace:
            raise DemoAlreadyLoaded("the database already holds community data; use --replace to overwrite it")
        clear(session)

    areas = demo.areas()
    org = json.loads((demo.dir / "organisation.json").read_text(encoding="utf-8"))
    party = _load_party_orgs(session, org["party_orgs"], areas, progress)
    grids = demo.grids(party)
    workers = demo.workers()
    buildings = demo.buildings()
    nodes, edges = _load_network(session, demo.dir, progress)
    bump_revision(session, NETWORK_REVISION)  # before the stations: their circles walk this network
    stations = demo.stations()
    life_path = demo.dir / "community_life.json"
    life = json.loads(life_path.read_text(encoding="utf-8")) if life_path.exists() else None
    shift = Shift.to(now, life["reference_time"]) if life else None
    volunteers = demo.volunteers(shift)
    departments = _load_departments(session, org["departments"], areas, progress)
    for name in (AREAS, GRIDS, BUILDINGS):  # the links written after the imports (party orgs, refs)
        bump_revision(session, name)
    on_duty = next((v for v in volunteers if v.on_duty and v.position is not None), volunteers[0])
    _create_demo_users(session, password=settings.demo_password, volunteer=on_duty, worker=workers[0])
    session.flush()
    life_counts = (
        load_community_life(
            session, life, shift, areas, grids, workers, volunteers, settings, progress, list(DEMO_USERS)
        )
        if life and shift
        else {}
    )
    return {
        "areas": len(areas),
        "party_orgs": len(party),
        "grids": len(grids),
        "grid_workers": len(workers),
        "buildings": buildings,
        "street_nodes": nodes,
        "street_edges": edges,
        "stations": stations,
        "volunteers": len(volunteers),
        "departments": departments,
        "users": len(DEMO_USERS),
        **life_counts,
    }


class _Demo:
    """The demo's import-ready files, imported one kind at a time in the caller's transaction."""

    def __init__(self, session: Session, settings: Settings, folder: Path, now: datetime, progress: Progress):
        self.session, self.settings, self.dir, self.now, self.progress = session, settings, folder, now, progress

    def run(self, kind: str, name: str, label: str, **options: Any) -> list[dict[str, Any]]:
        """Import ``import/<name>`` as ``kind`` through the one import path (the same as ``neighborgrid
        import`` and ``POST /api/v1/imports/{kind}``); answers the file's rows (properties) in order.
        A refusal raises ImportRefused with the whole report."""
        path = self.dir / IMPORT_DIR / name
        data = path.read_bytes()
        advance = self.progress.task(label, 1)
        run_import(
            self.session,
            kind=kind,
            data=data,
            filename=name,
            options=ImportOptions(coord_type="wgs84", comment=DEMO_COMMENT, **options),
            by=DEMO_BY,
            actor=None,
            now=self.now,
            settings=self.settings,
        )
        advance(1)
        if name.endswith(".csv"):
            return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
        return [f["properties"] for f in json.loads(data)["features"]]

    def areas(self) -> dict[str, Area]:
        """Every level in one file, saved top-down by the areas kind; by the demo's key (kept as ref)."""
        key = {r["code"]: r["key"] for r in self.run("areas", "areas.geojson", "areas")}
        areas: dict[str, Area] = {}
        for area in self.session.scalars(select(Area).where(Area.code.in_(key))):
            area.ref = key[area.code]
            areas[area.ref] = area
        self.session.flush()
        return areas

    def grids(self, party: dict[str, PartyOrg]) -> dict[str, Grid]:
        """The one-network grids, then each linked to its party organisation; by the demo's key."""
        rows = {r["code"]: r for r in self.run("grids", "grids.geojson", "grids")}
        grids: dict[str, Grid] = {}
        query = select(Grid).where(Grid.layer == GridLayer.ONE_NETWORK, Grid.code.in_(rows))
        for grid in self.session.scalars(query):
            row = rows[grid.code]
            grid.ref = row["key"]
            grid.party_org = party.get(row.get("party_org_key") or "")
            grids[row["key"]] = grid
        self.session.flush()
        return grids

    def workers(self) -> list[GridWorker]:
        """The grid workers' roster (CSV: grids and party branch by code); in roster order."""
        rows = self.run("grid-workers", "grid_workers.csv", "grid workers", encoding="utf-8")
        by_ref = {w.ref: w for w in self.session.scalars(select(GridWorker).where(GridWorker.ref.is_not(None)))}
        return [by_ref[r["code"]] for r in rows]

    def buildings(self) -> int:
        """Footprints with their compounds; the buildings kind puts each in the grid holding its entrance."""
        return len(self.run("buildings", "buildings.geojson", "buildings"))

    def stations(self) -> int:
        """The stations, each with its service circles on the street network loaded before."""
        return len(self.run("stations", "stations.geojson", "stations and circles"))

    def volunteers(self, shift: Shift | None) -> list[Volunteer]:
        """The volunteers with their last positions, whose times (as of the demo's reference
        instant in the file) are then shifted to the load time. In file order."""
        rows = self.run("volunteers", "volunteers.geojson", "volunteers")
        by_ref = {v.ref: v for v in self.session.scalars(select(Volunteer).where(Volunteer.ref.is_not(None)))}
        volunteers = [by_ref[r["code"]] for r in rows]
        for volunteer, row in zip(volunteers, rows, strict=True):
            at = row.get("position_at")
            volunteer.position_at = (shift.at(at) if shift else datetime.fromisoformat(at)) if at else None
        self.session.flush()
        return volunteers


def _features(demo_dir: Path, name: str) -> list[dict[str, Any]]:
    with (demo_dir / name).open(encoding="utf-8") as fh:
        return json.load(fh)["features"]


def _wkb(geom: BaseGeometry):
    return from_shape(geom, srid=4326)


def _load_party_orgs(session: Session, rows: list[dict], areas: dict[str, Area], progress: Progress):
    advance = progress.task("party organisations", len(rows))
    orgs: dict[str, PartyOrg] = {}
    for r in sorted(rows, key=lambda r: (r["kind"] != "branch", r["key"])):
        org = PartyOrg(
            ref=r["key"],
            kind=PartyOrgKind(r["kind"]),
            name_zh=r["name_zh"],
            name_en=r.get("name_en"),
            parent=orgs.get(r.get("parent_key") or ""),
            community=areas.get(r.get("community_key") or ""),
        )
        session.add(org)
        orgs[r["key"]] = org
        advance(1)
    session.flush()
    return orgs


def _load_network(session, demo_dir, progress) -> tuple[int, int]:
    node_features = _features(demo_dir, "street_nodes.geojson")
    edge_features = _features(demo_dir, "street_edges.geojson")
    advance = progress.task("street network", len(node_features) + len(edge_features))
    nodes: dict[str, StreetNode] = {}
    for f in node_features:
        key = f["properties"]["key"]
        node = StreetNode(ref=key, geom=_wkb(shape(f["geometry"])))
        session.add(node)
        nodes[key] = node
    session.flush()
    advance(len(node_features))
    for f in edge_features:
        p = f["properties"]
        session.add(
            StreetEdge(
                ref=p["key"],
                u=nodes[p["u"]].id,
                v=nodes[p["v"]].id,
                length_m=float(p["length_m"]),
                kind=p.get("kind", "street"),
                name_zh=p.get("name_zh"),
                name_en=p.get("name_en"),
                geom=_wkb(shape(f["geometry"])),
            )
        )
    session.flush()
    advance(len(edge_features))
    return len(node_features), len(edge_features)


def _load_departments(session, rows, areas, progress) -> int:
    advance = progress.task("departments", len(rows))
    for r in rows:
        session.add(
            Department(
                ref=r["key"],
                code=r["code"],
                name_zh=r["name_zh"],
                name_en=r.get("name_en"),
                handles=list(r.get("handles", [])),
                communities=[areas[k] for k in r.get("paired_community_keys", [])],
            )
        )
        advance(1)
    session.flush()
    return len(rows)


def _create_demo_users(session: Session, *, password: str, volunteer: Volunteer, worker: GridWorker) -> None:
    for username, (role, display) in DEMO_USERS.items():
        user = get_user(session, username=username) or create_user(
            session, username=username, password=password, role=role, display_name=display
        )
        if username == "volunteer1":
            volunteer.user_id = user.id
        elif username == "gridworker1":
            worker.user_id = user.id
        elif role is Role.DEPARTMENT:
            code = username.removeprefix("dept_")
            user.department_id = session.scalar(select(Department.id).where(Department.code == code))
