"""Load the generated demo community (``fixtures/demo/*.geojson``) into an empty database.

It runs in the caller's transaction: either everything is loaded or nothing is. It refuses a
database that already holds areas or grids unless ``replace=True``, which first deletes the
community data (and the demo accounts) in the same transaction.

Community life (``community_life.json``: teams, registrations, points, wishes, key households,
building duty) is written as of a reference instant; the loader shifts it to the load time
(instants by the exact difference, dates by whole weeks) and stamps the volunteers' positions the
same way, so a freshly loaded demo has fresh positions, live claims and a few overdue households.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, Point, shape
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
from service.grids.history import record_version
from service.grids.models import (
    Grid,
    GridChange,
    GridLayer,
    GridVersion,
    GridWorker,
    WorkerRole,
    grid_assignments,
)
from service.grids.service import check_grid_code
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
from service.stations.circles import rebuild_all_circles
from service.stations.models import Station, StationCircle, StationType
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


def _features(demo_dir: Path, name: str) -> list[dict[str, Any]]:
    with (demo_dir / name).open(encoding="utf-8") as fh:
        return json.load(fh)["features"]


def _multi(geom: BaseGeometry) -> MultiPolygon:
    return geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])


def _wkb(geom: BaseGeometry):
    return from_shape(geom, srid=4326)


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
    """Load every demo layer and build the stations' service circles; returns counts per layer.
    Does not commit.

    Grid codes are checked against ``settings.grid_code_pattern`` (the deployment's national
    layout); the demo accounts get ``settings.demo_password``. ``now`` (default the real time) is
    the load time the community-life data and the volunteers' positions are shifted to."""
    progress = progress or NoProgress()
    now = now or datetime.now(UTC)
    demo_dir = demo_dir or settings.demo_dir
    password, grid_code_pattern = settings.demo_password, settings.grid_code_pattern
    if not is_empty(session):
        if not replace:
            raise DemoAlreadyLoaded("the database already holds community data; use --replace to overwrite it")
        clear(session)

    areas = _load_areas(session, demo_dir, settings, now, progress)
    org = json.loads((demo_dir / "organisation.json").read_text(encoding="utf-8"))
    party = _load_party_orgs(session, org["party_orgs"], areas, progress)
    grids = _load_grids(session, demo_dir, areas, party, progress, grid_code_pattern)
    workers = _load_workers(session, org["grid_workers"], grids, party, progress)
    buildings = _load_buildings(session, demo_dir, areas, grids, progress)
    nodes, edges = _load_network(session, demo_dir, progress)
    for name in (NETWORK_REVISION, GRIDS, AREAS, BUILDINGS):
        bump_revision(session, name)
    stations = _load_stations(session, demo_dir, areas, progress)
    life_path = demo_dir / "community_life.json"
    life = json.loads(life_path.read_text(encoding="utf-8")) if life_path.exists() else None
    shift = Shift.to(now, life["reference_time"]) if life else None
    volunteers = _load_volunteers(session, demo_dir, areas, progress, shift)
    departments = _load_departments(session, org["departments"], areas, progress)
    on_duty = next((v for v in volunteers if v.on_duty and v.position is not None), volunteers[0])
    _create_demo_users(session, password=password, volunteer=on_duty, worker=workers[0])
    session.flush()
    life_counts = (
        load_community_life(
            session, life, shift, areas, grids, workers, volunteers, settings, progress, list(DEMO_USERS)
        )
        if life and shift
        else {}
    )
    rebuild_all_circles(session, settings=settings, progress=progress)
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


def _import(
    session: Session,
    *,
    kind: str,
    demo_dir: Path,
    name: str,
    settings: Settings,
    now: datetime,
    progress: Progress,
    label: str,
    **options: Any,
) -> dict[str, Any]:
    """Import one of the demo's import-ready files through the one import path (the same as
    ``neighborgrid import`` and ``POST /api/v1/imports/{kind}``); a refusal raises ImportRefused."""
    advance = progress.task(label, 1)
    report = run_import(
        session,
        kind=kind,
        data=(demo_dir / IMPORT_DIR / name).read_bytes(),
        filename=name,
        options=ImportOptions(coord_type="wgs84", comment=DEMO_COMMENT, **options),
        by=DEMO_BY,
        actor=None,
        now=now,
        settings=settings,
    )
    advance(1)
    return report


def _keys(demo_dir: Path, name: str) -> dict[str, str]:
    """The demo's key of each feature by its code (an extra column of the import-ready file)."""
    return {f["properties"]["code"]: f["properties"]["key"] for f in _features(demo_dir / IMPORT_DIR, name)}


def _load_areas(session: Session, demo_dir: Path, settings: Settings, now: datetime, progress: Progress):
    """Every level in one file, saved top-down by the areas kind; keyed by the demo's key (kept as ref)."""
    _import(
        session,
        kind="areas",
        demo_dir=demo_dir,
        name="areas.geojson",
        settings=settings,
        now=now,
        progress=progress,
        label="areas",
    )
    keys = _keys(demo_dir, "areas.geojson")
    areas: dict[str, Area] = {}
    for area in session.scalars(select(Area).where(Area.code.in_(keys))):
        area.ref = keys[area.code]
        areas[area.ref] = area
    session.flush()
    return areas


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


def _load_grids(session, demo_dir, areas, party, progress, code_pattern: str) -> dict[str, Grid]:
    features = _features(demo_dir, "grids.geojson")
    advance = progress.task("grids", len(features))
    grids: dict[str, Grid] = {}
    for f in features:
        p = f["properties"]
        grid = Grid(
            ref=p["key"],
            code=check_grid_code(p["code"], code_pattern),
            name_zh=p["name_zh"],
            name_en=p.get("name_en"),
            layer=GridLayer(p.get("layer", "one_network")),
            community=areas[p["community_key"]],
            party_org=party.get(p.get("party_org_key") or ""),
            version=1,
            geom=_wkb(_multi(shape(f["geometry"]))),
        )
        session.add(grid)
        grids[p["key"]] = grid
        advance(1)
    session.flush()
    now = datetime.now(UTC)
    for grid in grids.values():
        record_version(session, grid, change=GridChange.CREATE, by="load-demo", comment="demo community", now=now)
    return grids


def _load_workers(session, rows, grids, party, progress) -> list[GridWorker]:
    advance = progress.task("grid workers", len(rows))
    workers = []
    for r in rows:
        worker = GridWorker(
            ref=r["key"],
            name_zh=r["name_zh"],
            name_en=r.get("name_en"),
            phone=r.get("phone"),
            role=WorkerRole(r.get("role", "member")),
            party_member=bool(r.get("party_member", True)),
            party_org=party.get(r.get("party_org_key") or ""),
            grids=[grids[k] for k in r.get("grid_keys", [])],
        )
        session.add(worker)
        workers.append(worker)
        advance(1)
    session.flush()
    return workers


def _load_buildings(session, demo_dir, areas, grids, progress) -> int:
    features = _features(demo_dir, "buildings.geojson")
    advance = progress.task("buildings", len(features))
    for f in features:
        p = f["properties"]
        entrance = p.get("entrance")
        session.add(
            Building(
                ref=p["key"],
                number=p.get("number"),
                name_zh=p.get("name_zh"),
                name_en=p.get("name_en"),
                compound_id=areas[p["compound_key"]].id if p.get("compound_key") else None,
                grid_id=grids[p["grid_key"]].id if p.get("grid_key") else None,
                floors=p.get("floors"),
                households=int(p.get("households", 0)),
                residents=int(p.get("residents", 0)),
                chair_name=p.get("chair_name_zh"),
                chair_phone=p.get("chair_phone"),
                geom=_wkb(_multi(shape(f["geometry"]))),
                entrance=_wkb(Point(entrance)) if entrance else None,
            )
        )
        advance(1)
    session.flush()
    return len(features)


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


def _load_stations(session, demo_dir, areas, progress) -> int:
    features = _features(demo_dir, "stations.geojson")
    advance = progress.task("stations", len(features))
    for f in features:
        p = f["properties"]
        session.add(
            Station(
                ref=p["key"],
                type=StationType(p["type"]),
                name_zh=p["name_zh"],
                name_en=p.get("name_en"),
                opening_hours=p.get("opening_hours"),
                contact_phone=p.get("contact_phone"),
                capacity=p.get("capacity"),
                address_zh=p.get("address_zh"),
                community_id=areas[p["community_key"]].id if p.get("community_key") else None,
                geom=_wkb(shape(f["geometry"])),
            )
        )
        advance(1)
    session.flush()
    return len(features)


def _load_volunteers(session, demo_dir, areas, progress, shift: Shift | None = None) -> list[Volunteer]:
    features = _features(demo_dir, "volunteers.geojson")
    advance = progress.task("volunteers", len(features))
    volunteers = []
    for f in features:
        p = f["properties"]
        at = p.get("position_at")
        volunteer = Volunteer(
            ref=p["key"],
            name_zh=p["name_zh"],
            name_en=p.get("name_en"),
            phone=p.get("phone"),
            skills=list(p.get("skills", [])),
            team_zh=p.get("team_zh"),
            team_en=p.get("team_en"),
            on_duty=bool(p.get("on_duty")),
            position=_wkb(shape(f["geometry"])) if f.get("geometry") else None,
            position_at=(shift.at(at) if shift else datetime.fromisoformat(at)) if at else None,
            community_id=areas[p["community_key"]].id if p.get("community_key") else None,
        )
        session.add(volunteer)
        volunteers.append(volunteer)
        advance(1)
    session.flush()
    return volunteers


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
