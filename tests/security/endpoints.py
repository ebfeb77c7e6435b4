"""Every route of the app, with who may call it and a valid call to make.

``RULES`` says, per ``METHOD /path`` (as the app declares it), which roles get the success class
(2xx; 3xx for a redirect), whether anonymous callers do too (else 401), and every other role 403.
``CALLS`` makes, per route and caller, a request that *would succeed* for an allowed caller: the
right ids, a body in a valid state (a wish that is claimed, a follow-up that is pending…), so a
403 or 401 is the authorization speaking and not a validation error. A route of the app that is
missing here fails the matrix test: a new endpoint needs a rule.

The matrix works on a database of its own (a copy of the demo): it signs accounts out, edits grids
and stations, and creates requests, wishes, teams and key households.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import httpx
import shapely
from fastapi.routing import iter_route_contexts
from shapely.geometry import shape
from sqlalchemy import select
from starlette.routing import Mount

from geo.crs import LocalProjection
from service.auth.models import User
from service.buildings.models import Building
from service.grids.models import GridWorker
from service.volunteers.models import Volunteer
from tests.reliability.harness import ROLE_USERS
from tests.service.test_photos import tiny_png
from tests.support.backends import DEMO_PASSWORD, Backend

ROLES = tuple(ROLE_USERS)
#: Anonymous first, then every role (the order the matrix calls them in).
IDENTITIES: tuple[str | None, ...] = (
    None,
    "resident",
    "volunteer",
    "department",
    "planner",
    "grid_worker",
    "dispatcher",
    "admin",
)
STAFF = ("grid_worker", "dispatcher", "planner", "admin")


@dataclass(frozen=True)
class Rule:
    allowed: frozenset[str]
    anonymous: bool = False
    success: str = "2xx"
    #: Why a role that passes the role check is still refused here (the object is not theirs).
    note: str = ""

    def expect(self, who: str | None) -> str:
        if who is None:
            return self.success if self.anonymous else "401"
        return self.success if who in self.allowed else "403"


def public(success: str = "2xx") -> Rule:
    return Rule(frozenset(ROLES), anonymous=True, success=success)


def signed_in() -> Rule:
    return Rule(frozenset(ROLES))


def only(*roles: str, note: str = "") -> Rule:
    unknown = set(roles) - set(ROLES)
    assert not unknown, unknown
    return Rule(frozenset(roles), note=note)


def status_class(code: int) -> str:
    if 200 <= code < 300:
        return "2xx"
    if 300 <= code < 400:
        return "3xx"
    return str(code)


@dataclass
class Call:
    method: str
    url: str
    params: dict | list | None = None
    json: Any = None
    data: dict | None = None
    files: dict | None = None
    headers: dict = field(default_factory=dict)
    stream: bool = False
    after: Callable[[httpx.Response], None] | None = None


def app_routes(app) -> list[str]:
    """``METHOD /path`` for every route the app serves (mounts as ``GET /mount/{path}``)."""
    out = []
    for ctx in iter_route_contexts(app.routes):
        if isinstance(ctx.route, Mount):
            out.append(f"GET {ctx.route.path}/{{path}}")
            continue
        for method in sorted(ctx.methods or ()):
            out.append(f"{method} {ctx.path}")
    return out


# -- the world the calls act in ------------------------------------------------------------------------


def unique(text: str, sep: str = " ") -> str:
    """``text`` with a random suffix, so a test finds its own rows in a shared database."""
    return f"{text}{sep}{uuid.uuid4().hex[:8]}"


def _m2(geom) -> float:
    c = geom.centroid
    return LocalProjection.for_lonlat(c.x, c.y).to_metric(geom).area


class Ctx:
    """The served app and the objects the calls need, created once (or per call where a call
    consumes its object: a wish claimed, a station deleted, a follow-up answered)."""

    def __init__(self, backend: Backend) -> None:
        self.b = backend
        self.http = httpx.Client(base_url=backend.base_url, timeout=120)
        self._tokens: dict[str, str] = {}

    def close(self) -> None:
        self.http.close()

    # -- accounts ------------------------------------------------------------------------------

    def login(self, role: str) -> str:
        r = self.http.post("/api/v1/auth/token", data={"username": ROLE_USERS[role], "password": DEMO_PASSWORD})
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    def token(self, role: str) -> str:
        if role not in self._tokens:
            self._tokens[role] = self.login(role)
        return self._tokens[role]

    def forget(self, role: str) -> None:
        """After a sign-out everywhere: the cached token is dead; log in again next time."""
        self._tokens.pop(role, None)

    def auth(self, who: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(who)}"} if who else {}

    def send(self, who: str | None, call: Call) -> httpx.Response:
        headers = self.auth(who) | call.headers
        kwargs = {"params": call.params, "headers": headers}
        if call.json is not None:
            kwargs["json"] = call.json
        if call.data is not None:
            kwargs["data"] = call.data
        if call.files is not None:
            kwargs["files"] = call.files
        if call.stream:
            with self.http.stream(call.method, call.url, **kwargs) as r:
                r.read() if r.status_code != 200 else None
                response = r
        else:
            response = self.http.request(call.method, call.url, **kwargs)
        if call.after is not None:
            call.after(response)
        return response

    def ok(self, who: str, method: str, url: str, **kwargs) -> Any:
        """Arrange something as ``who`` and expect it to work."""
        r = self.http.request(method, url, headers=self.auth(who) | kwargs.pop("headers", {}), **kwargs)
        assert 200 <= r.status_code < 300, f"arranging {method} {url} as {who}: {r.status_code} {r.text[:500]}"
        return r.json() if r.content and "json" in r.headers.get("content-type", "") else None

    def user_id(self, username: str) -> int:
        with self.b.db.reader() as s:
            return s.scalar(select(User.id).where(User.username == username))

    @cached_property
    def throwaway_user(self) -> int:
        """An account the admin calls change and sign out (not a demo account the matrix needs)."""
        name = unique("temp", "_")
        made = self.ok(
            "admin", "POST", "/api/v1/users", json={"username": name, "password": "pw-" + name, "role": "resident"}
        )
        return made["id"]

    # -- people and places of the demo ------------------------------------------------------------

    @cached_property
    def worker_grid(self) -> int:
        """gridworker1's grid: cases, wishes and households there are in a grid worker's scope."""
        with self.b.db.reader() as s:
            worker = s.scalar(
                select(GridWorker).join(User, User.id == GridWorker.user_id).where(User.username == "gridworker1")
            )
            return sorted(g.id for g in worker.grids)[0]

    @cached_property
    def worker_community(self) -> int:
        return self.ok("admin", "GET", f"/api/v1/grids/{self.worker_grid}")["properties"]["community_id"]

    @cached_property
    def point(self) -> tuple[float, float]:
        """A point inside gridworker1's grid."""
        grid = self.ok("admin", "GET", f"/api/v1/grids/{self.worker_grid}")
        p = shape(grid["geometry"]).representative_point()
        return round(p.x, 7), round(p.y, 7)

    @cached_property
    def volunteer(self) -> Volunteer:
        """volunteer1's volunteer record."""
        with self.b.db.reader() as s:
            query = select(Volunteer).join(User, User.id == Volunteer.user_id)
            v = s.scalar(query.where(User.username == "volunteer1"))
            s.expunge(v)
            return v

    @cached_property
    def worker_building(self) -> tuple[int, list[int]]:
        """A building in gridworker1's grid and the volunteers who live there."""
        with self.b.db.reader() as s:
            rows = s.execute(
                select(Building.id, Volunteer.id)
                .join(Volunteer, Volunteer.home_building_id == Building.id)
                .where(Building.grid_id == self.worker_grid)
                .order_by(Building.id, Volunteer.id)
            ).all()
        assert rows, "the demo has no volunteer living in gridworker1's grid"
        building = rows[0][0]
        return building, [v for b, v in rows if b == building]

    @cached_property
    def categories(self) -> list[str]:
        return [k["code"] for g in self.ok(None, "GET", "/api/v1/categories") for k in g["kinds"]]

    @cached_property
    def station_type(self) -> str:
        return self.ok(None, "GET", "/api/v1/stations/types")[0]["type"]

    @cached_property
    def station(self) -> int:
        return self.ok(None, "GET", "/api/v1/stations")["features"][0]["id"]

    @cached_property
    def building(self) -> int:
        return self.ok(None, "GET", "/api/v1/buildings", params={"limit": 1})["features"][0]["id"]

    @cached_property
    def area(self) -> int:
        return self.ok(None, "GET", f"/api/v1/grids/{self.worker_grid}")["properties"]["community_id"]

    # -- requests -----------------------------------------------------------------------------------

    def new_case(self, *, by: str | None = "resident", **extra) -> dict:
        """A request by resident1 inside gridworker1's grid."""
        lon, lat = self.point
        body = {
            "category": "noise",
            "description": unique("matrix case", "_"),
            "lon": lon,
            "lat": lat,
            "channel": "web",
            "reporter_name": "王秀英",
            "reporter_phone": "13812345678",
        } | extra
        return self.ok(by, "POST", "/api/v1/requests", json=body)

    def act(self, request_id: int, action: str, who: str = "dispatcher", **fields) -> dict:
        return self.ok(who, "POST", f"/api/v1/requests/{request_id}/transitions", json={"action": action, **fields})

    @cached_property
    def subject(self) -> dict:
        """Raised by resident1 in gridworker1's grid, dispatched to volunteer1, with a photo."""
        case = self.new_case()
        self.act(case["id"], "accept")
        self.act(case["id"], "dispatch", volunteer_id=self.volunteer.id)
        return case

    @cached_property
    def published(self) -> dict:
        """A case raised without signing in whose reporter agreed to publish it: the public feeds
        (Open311, OGC API) show it to everyone; the subject, not published, they show to no one."""
        return self.new_case(by=None, public=True)

    @cached_property
    def photo(self) -> int:
        return self.upload_photo("dispatcher")["id"]

    def upload_photo(self, who: str | None) -> dict:
        return self.ok(who, "POST", f"/api/v1/requests/{self.subject['id']}/photos", **self.photo_form())

    @staticmethod
    def photo_form() -> dict:
        return {"files": {"file": ("p.png", io.BytesIO(tiny_png()), "image/png")}, "data": {"stage": "report"}}

    def finished_case(self) -> dict:
        case = self.new_case()
        for action, fields in (
            ("accept", {}),
            ("dispatch", {"volunteer_id": self.volunteer.id}),
            ("arrive", {}),
            ("resolve", {"note": "fixed"}),
        ):
            self.act(case["id"], action, **fields)
        return case

    def joint_meeting_item(self) -> int:
        """An open joint-meeting item whose case is done (escalated to township, then rejected)."""
        case = self.new_case(by=None)
        self.act(case["id"], "escalate", level="township", reason="matrix")
        self.act(case["id"], "reject", reason="matrix")
        items = self.ok("dispatcher", "GET", "/api/v1/joint-meetings")
        return next(i["id"] for i in items if i["request_id"] == case["id"])

    # -- grids --------------------------------------------------------------------------------------

    @cached_property
    def edited_grid(self) -> int:
        """A grid (not gridworker1's) that PUT, revert, preview and apply work on; it has a version 2."""
        grids = self.ok(None, "GET", "/api/v1/grids")["features"]
        gid = next(f["id"] for f in grids if f["id"] != self.worker_grid)
        self.put_as_is(gid, "admin")
        return gid

    def grid_now(self, gid: int) -> tuple[dict, int]:
        r = self.http.get(f"/api/v1/grids/{gid}")
        assert r.status_code == 200, r.text
        return r.json()["geometry"], int(r.headers["etag"].strip('"'))

    def put_as_is(self, gid: int, who: str) -> None:
        geometry, version = self.grid_now(gid)
        self.ok(
            who,
            "PUT",
            f"/api/v1/grids/{gid}/geometry",
            json={"geometry": geometry, "comment": "matrix"},
            headers={"If-Match": f'"{version}"'},
        )

    def edits_body(self) -> dict:
        geometry, version = self.grid_now(self.edited_grid)
        return {"grids": [{"id": self.edited_grid, "version": version, "geometry": geometry}], "comment": "matrix"}

    def cut(self) -> dict:
        """A split that cuts some big grid (not one the other calls use) into two."""
        spared = {self.worker_grid, self.edited_grid}
        grids = [f for f in self.ok(None, "GET", "/api/v1/grids")["features"] if f["id"] not in spared]
        for f in sorted(grids, key=lambda f: -_m2(shape(f["geometry"]))):
            geom = shape(f["geometry"])
            minx, miny, maxx, maxy = geom.bounds
            for frac in (0.5, 0.45, 0.55, 0.4, 0.6):
                y = miny + frac * (maxy - miny)
                north = geom.intersection(shapely.box(minx - 1, y, maxx + 1, maxy + 1))
                south = geom.intersection(shapely.box(minx - 1, miny - 1, maxx + 1, y))
                if north.geom_type == south.geom_type == "Polygon" and min(_m2(north), _m2(south)) > 5000:
                    line = {"type": "LineString", "coordinates": [[minx - 0.0005, y], [maxx + 0.0005, y]]}
                    return {
                        "grid_id": f["id"],
                        "version": f["properties"]["version"],
                        "line": line,
                        "comment": "matrix",
                    }
        raise AssertionError("no grid left to cut in two")

    def split_pair(self) -> dict:
        """Two neighbouring grids (the halves of a split), ready to merge."""
        result = self.ok("admin", "POST", "/api/v1/grids/split", json=self.cut())
        halves = [g for g in result["grids"] if not g["retired"]]
        assert len(halves) == 2, result
        return {"grid_ids": [g["id"] for g in halves], "versions": [g["version"] for g in halves], "comment": "matrix"}

    @cached_property
    def layer_file(self) -> bytes:
        r = self.http.get("/api/v1/grids/export", params={"format": "geojson"}, headers=self.auth("admin"))
        assert r.status_code == 200, r.text
        return r.content

    def layer_upload(self) -> dict:
        return {
            "files": {"file": ("health.geojson", io.BytesIO(self.layer_file), "application/geo+json")},
            "data": {"layer": "health", "comment": "matrix", "code_field": "code"},
        }

    def compound_upload(self) -> dict:
        """A dry run of one small compound around ``point`` (nothing is saved)."""
        lon, lat = self.point
        d = 0.0002
        ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]
        body = {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"code": unique("M", ""), "name": "矩阵小区", "level": "compound"},
                    "geometry": {"type": "Polygon", "coordinates": [ring]},
                }
            ],
        }
        return {
            "files": {"file": ("compound.geojson", io.BytesIO(json.dumps(body).encode()), "application/geo+json")},
            "data": {"coord_type": "wgs84", "dry_run": "true"},
        }

    @cached_property
    def health_layer(self) -> bool:
        self.ok("admin", "POST", "/api/v1/grid-layers/import", **self.layer_upload())
        return True

    # -- stations -----------------------------------------------------------------------------------

    def station_body(self) -> dict:
        lon, lat = self.point
        return {"type": self.station_type, "name_zh": unique("矩阵站", "_"), "lon": lon, "lat": lat}

    # -- community life -----------------------------------------------------------------------------

    @cached_property
    def team(self) -> int:
        body = {"name_zh": unique("矩阵队", "_"), "kind": "mediation", "community_id": self.worker_community}
        return self.ok("admin", "POST", "/api/v1/teams", json=body)["id"]

    @cached_property
    def registration(self) -> dict:
        body = {"name_zh": unique("党员", "_"), "community_id": self.worker_community, "phone": "13900001111"}
        return self.ok("admin", "POST", "/api/v1/party-registrations", json=body)

    @cached_property
    def catalogue_item(self) -> int:
        body = {"name_zh": unique("理发", "_"), "price": 1}
        return self.ok("admin", "POST", "/api/v1/points/catalogue", json=body)["id"]

    def community_event(self) -> int:
        starts = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
        body = {
            "title_zh": unique("活动", "_"),
            "starts_at": starts,
            "hours": 1.0,
            "community_id": self.worker_community,
            "grid_id": self.worker_grid,
        }
        return self.ok("admin", "POST", "/api/v1/community-events", json=body)["id"]

    def earn_body(self) -> dict:
        return {"volunteer_id": self.volunteer.id, "source_type": "event", "source_id": self.community_event()}

    @cached_property
    def ledger_entry(self) -> int:
        """volunteer1 earns points (so redeeming works); the entry corrections name."""
        entries = [self.ok("admin", "POST", "/api/v1/points/earn", json=self.earn_body()) for _ in range(3)]
        return entries[0]["entry"]["id"]

    def wish(self, status: str = "open") -> int:
        """A wish posted by resident1 in gridworker1's grid, taken to ``status`` by volunteer1."""
        lon, lat = self.point
        body = {"category": "repair", "title": unique("修门", "_"), "lon": lon, "lat": lat, "hours": 1.0}
        wid = self.ok("resident", "POST", "/api/v1/wishes", json=body)["id"]
        steps = {"open": [], "claimed": ["claim"], "fulfilled": ["claim", "fulfil"]}[status]
        for step in steps:
            self.ok("volunteer", "POST", f"/api/v1/wishes/{wid}/{step}", json={})
        return wid

    @cached_property
    def household(self) -> int:
        """A key household in gridworker1's grid whose caretaker is volunteer1."""
        building, _ = self.worker_building
        body = {
            "building_id": building,
            "head_name": "李大爷",
            "phone": "13700002222",
            "kinds": ["lone_elderly"],
            "caretaker_volunteer_id": self.volunteer.id,
        }
        return self.ok("admin", "POST", "/api/v1/key-households", json=body)["id"]

    def household_body(self) -> dict:
        building, _ = self.worker_building
        return {"building_id": building, "head_name": unique("户主", "_"), "kinds": ["other"],
                "caretaker_volunteer_id": self.volunteer.id}  # fmt: skip

    def follow_up(self) -> int:
        return self.ok("admin", "POST", "/api/v1/follow-ups", json={"request_id": self.finished_case()["id"]})["id"]

    @cached_property
    def duty_building(self) -> int:
        """volunteer1's home building, with volunteer1 as this week's (only) duty-holder."""
        building = self.volunteer.home_building_id
        assert building, "volunteer1 has no home building in the demo"
        self.ok("admin", "PUT", f"/api/v1/buildings/{building}/duty", json={"members": [self.volunteer.id]})
        return building

    @cached_property
    def api_key(self) -> str:
        return self.ok("admin", "POST", "/api/v1/api-clients", json={"name": unique("app", "_")})["api_key"]

    def open311_form(self) -> dict:
        lon, lat = self.point
        return {
            "api_key": self.api_key,
            "service_code": "noise",
            "lat": str(lat),
            "long": str(lon),
            "description": unique("open311", "_"),
        }


# -- the table -------------------------------------------------------------------------------------------

OGC_COLLECTION = "grids"

RULES: dict[str, Rule] = {
    # documents, operations, pages
    "GET /openapi.json": public(),
    "HEAD /openapi.json": public(),
    "GET /metrics": public(),
    "GET /healthz": public(),
    "GET /readyz": public(),
    "GET /api/v1/attribution": public(),
    "GET /docs": public(),
    "GET /docs/oauth2-redirect": public(),
    "GET /": public(),
    "GET /static/{path}": public(),
    "GET /map": public("3xx"),
    "GET /map/dispatch": public(),
    "GET /map/stations": public(),
    "GET /map/planner": public(),
    "GET /map/wishes": public(),
    "GET /map/points": public(),
    "GET /track/{code}": public(),
    # accounts
    "POST /api/v1/auth/token": public(),
    "GET /api/v1/auth/me": signed_in(),
    "POST /api/v1/auth/logout": signed_in(),
    "POST /api/v1/auth/logout-all": signed_in(),
    "GET /api/v1/users": only("admin"),
    "POST /api/v1/users": only("admin"),
    "PATCH /api/v1/users/{user_id}": only("admin"),
    "POST /api/v1/users/{user_id}/revoke-tokens": only("admin"),
    "GET /api/v1/audit": only("admin"),
    "POST /api/v1/api-clients": only("admin"),
    "GET /api/v1/api-clients": only("admin"),
    "DELETE /api/v1/api-clients/{client_id}": only("admin"),
    # public layers
    "GET /api/v1/areas": public(),
    "GET /api/v1/areas/tree": public(),
    "GET /api/v1/areas/{area_id}": public(),
    "GET /api/v1/grids": public(),
    "GET /api/v1/grids/locate": public(),
    "POST /api/v1/grids/locate": only("department", *STAFF),
    "GET /api/v1/grids/{grid_id}": public(),
    "GET /api/v1/grids/{grid_id}/history": public(),
    "GET /api/v1/buildings": public(),
    "GET /api/v1/buildings/{building_id}": public(),
    "GET /api/v1/stations": public(),
    "GET /api/v1/stations/types": public(),
    "GET /api/v1/stations/nearby": public(),
    "GET /api/v1/stations/{station_id}": public(),
    "GET /api/v1/stations/{station_id}/service-area": public(),
    "GET /api/v1/streets": public(),
    "GET /api/v1/departments": public(),
    "GET /api/v1/party-orgs": public(),
    "GET /api/v1/categories": public(),
    "GET /api/v1/points/catalogue": public(),
    "GET /api/v1/points/rules": public(),
    "GET /api/v1/property-scores": public(),
    # grid editing and layers
    "POST /api/v1/grids/preview": only("planner", "admin"),
    "POST /api/v1/grids/apply": only("planner", "admin"),
    "POST /api/v1/grids/split": only("planner", "admin"),
    "POST /api/v1/grids/merge": only("planner", "admin"),
    "PUT /api/v1/grids/{grid_id}/geometry": only("planner", "admin"),
    "POST /api/v1/grids/{grid_id}/revert": only("planner", "admin"),
    "POST /api/v1/grid-layers/import": only("planner", "admin"),
    "POST /api/v1/imports/{kind}": only("planner", "admin"),
    "GET /api/v1/imports/kinds": only("planner", "admin"),
    "GET /api/v1/imports": only("planner", "admin"),
    "GET /api/v1/grid-layers/compare": only("planner", "admin", "dispatcher"),
    "GET /api/v1/grid-layers/proposal": only("planner", "admin"),
    "GET /api/v1/grids/export": only("planner", "admin", "dispatcher"),
    "GET /api/v1/export": only("planner", "admin", "dispatcher", "grid_worker"),
    # stations and coverage
    "POST /api/v1/stations": only("planner", "admin"),
    "PATCH /api/v1/stations/{station_id}": only("planner", "admin"),
    "DELETE /api/v1/stations/{station_id}": only("planner", "admin"),
    "GET /api/v1/coverage": only("planner", "admin", "dispatcher"),
    "GET /api/v1/coverage/suggest": only("planner", "admin", "dispatcher"),
    # people
    "GET /api/v1/volunteers": only("dispatcher", "grid_worker", "admin"),
    "GET /api/v1/grid-workers": only(*STAFF),
    "GET /api/v1/volunteers/me": only("volunteer"),
    "POST /api/v1/volunteers/me/duty": only("volunteer"),
    "POST /api/v1/volunteers/me/position": only("volunteer"),
    # requests
    "POST /api/v1/requests": public(),
    "GET /api/v1/requests": signed_in(),
    "GET /api/v1/requests/queue": only(
        "dispatcher", "admin", "grid_worker", "department", note="grid workers and departments: their own cases"
    ),
    "GET /api/v1/requests/{request_id}": only(
        *(r for r in ROLES if r != "department"), note="the department sees only cases sent to it"
    ),
    "GET /api/v1/requests/{request_id}/volunteers": only("dispatcher", "grid_worker", "admin"),
    "GET /api/v1/track/{tracking_code}": public(),
    "POST /api/v1/requests/{request_id}/transitions": only("dispatcher", "grid_worker", "admin"),
    "POST /api/v1/requests/{request_id}/photos": only(
        *(r for r in ROLES if r != "department"), note="the reporter and staff who see the case"
    ),
    "GET /api/v1/requests/{request_id}/photos": only(*(r for r in ROLES if r != "department")),
    "GET /api/v1/requests/{request_id}/photos/{photo_id}": only(*(r for r in ROLES if r != "department")),
    "GET /api/v1/stats": only(*STAFF),
    "GET /api/v1/joint-meetings": only(*STAFF),
    "POST /api/v1/joint-meetings/{item_id}/close": only("dispatcher", "admin"),
    "POST /api/v1/events/ticket": only(*STAFF),
    "GET /api/v1/events": only(*STAFF),
    # teams and double registration
    "GET /api/v1/teams": only("volunteer", *STAFF),
    "GET /api/v1/teams/{team_id}": only("volunteer", *STAFF),
    "POST /api/v1/teams": only("grid_worker", "dispatcher", "admin"),
    "PUT /api/v1/teams/{team_id}/members": only("grid_worker", "dispatcher", "admin"),
    "DELETE /api/v1/teams/{team_id}/members/{volunteer_id}": only("grid_worker", "dispatcher", "admin"),
    "GET /api/v1/party-registrations": only("grid_worker", "dispatcher", "admin"),
    "POST /api/v1/party-registrations": only("grid_worker", "dispatcher", "admin"),
    "POST /api/v1/party-registrations/{registration_id}/duties": only("grid_worker", "dispatcher", "admin"),
    # points
    "GET /api/v1/points/me": only("volunteer"),
    "GET /api/v1/points/volunteers/{volunteer_id}": only(
        "volunteer", "grid_worker", "dispatcher", "admin", note="staff, or the volunteer themself"
    ),
    "POST /api/v1/points/catalogue": only("dispatcher", "admin"),
    "PATCH /api/v1/points/catalogue/{item_id}": only("dispatcher", "admin"),
    "POST /api/v1/points/redeem": only("volunteer", "dispatcher", "admin"),
    "POST /api/v1/points/earn": only("grid_worker", "dispatcher", "admin"),
    "POST /api/v1/points/corrections": only("dispatcher", "admin"),
    "GET /api/v1/points/leaderboard": signed_in(),
    "GET /api/v1/points/summary": signed_in(),
    "GET /api/v1/community-events": signed_in(),
    "POST /api/v1/community-events": only("grid_worker", "dispatcher", "admin"),
    # wishes
    "POST /api/v1/wishes": only("resident", "volunteer", "grid_worker", "dispatcher", "admin"),
    "GET /api/v1/wishes": only("resident", "volunteer", *STAFF),
    "GET /api/v1/wishes/nearby": only("resident", "volunteer", *STAFF),
    "GET /api/v1/wishes/categories": public(),
    "GET /api/v1/wishes/stats": only(*STAFF),
    "GET /api/v1/wishes/{wish_id}": only("resident", "volunteer", *STAFF),
    "POST /api/v1/wishes/{wish_id}/claim": only("volunteer", note="only volunteers claim"),
    "POST /api/v1/wishes/{wish_id}/release": only("volunteer", note="only the claimant"),
    "POST /api/v1/wishes/{wish_id}/fulfil": only("volunteer", note="only the claimant"),
    "POST /api/v1/wishes/{wish_id}/confirm": only("resident", note="only the poster"),
    "POST /api/v1/wishes/{wish_id}/cancel": only(
        "resident", "grid_worker", "dispatcher", "admin", note="the poster or the grid's staff"
    ),
    # key households (every read audited)
    "GET /api/v1/key-households": only(
        "volunteer", "grid_worker", "dispatcher", "admin", note="caretakers, the grid's workers, dispatchers, admins"
    ),
    "GET /api/v1/key-households/{household_id}": only("volunteer", "grid_worker", "dispatcher", "admin"),
    "POST /api/v1/key-households": only("grid_worker", "dispatcher", "admin"),
    "PATCH /api/v1/key-households/{household_id}": only(
        "grid_worker", "dispatcher", "admin", note="a caretaker visits but does not edit"
    ),
    "POST /api/v1/key-households/{household_id}/visits": only("volunteer", "grid_worker", "dispatcher", "admin"),
    # follow-ups
    "GET /api/v1/follow-ups": only("grid_worker", "dispatcher", "admin"),
    "GET /api/v1/follow-ups/stats": only("grid_worker", "dispatcher", "admin"),
    "GET /api/v1/follow-ups/{follow_up_id}": only("grid_worker", "dispatcher", "admin"),
    "POST /api/v1/follow-ups": only("grid_worker", "dispatcher", "admin"),
    "POST /api/v1/follow-ups/{follow_up_id}/result": only("grid_worker", "dispatcher", "admin"),
    # building duty
    "GET /api/v1/buildings/{building_id}/duty": only("volunteer", *STAFF),
    "PUT /api/v1/buildings/{building_id}/duty": only("grid_worker", "dispatcher", "admin"),
    "POST /api/v1/buildings/{building_id}/duty/disputes": only("volunteer", note="this week's duty-holder"),
    "POST /api/v1/buildings/{building_id}/duty/property-rating": only("volunteer", note="this week's duty-holder"),
    "GET /api/v1/buildings/{building_id}/duty/log": only("volunteer", *STAFF),
    # Open311 (posting needs an api_key, not a bearer token) and OGC API Features: public
    "GET /open311/v2/discovery.{fmt}": public(),
    "GET /open311/v2/services.{fmt}": public(),
    "GET /open311/v2/services/{service_code}.{fmt}": public(),
    "GET /open311/v2/requests.{fmt}": public(),
    "GET /open311/v2/requests/{service_request_id}.{fmt}": public(),
    "GET /open311/v2/tokens/{token}.{fmt}": public(),
    "POST /open311/v2/requests.{fmt}": public(),
    "GET /ogc": public(),
    "GET /ogc/": public(),
    "GET /ogc/api": public(),
    "GET /ogc/conformance": public(),
    "GET /ogc/collections": public(),
    "GET /ogc/collections/{collection_id}": public(),
    "GET /ogc/collections/{collection_id}/items": public(),
    "GET /ogc/collections/{collection_id}/items/{feature_id}": public(),
}


def _get(url: str, **params) -> Callable[[Ctx, str | None], Call]:
    return lambda c, who: Call("GET", url, params=params or None)


def _sign_out(path: str, everywhere: bool) -> Callable[[Ctx, str | None], Call]:
    def make(c: Ctx, who: str | None) -> Call:
        if who is None:
            return Call("POST", path)
        token = c.login(who)  # a token of its own: signing out must not break the others

        def after(_r):
            if everywhere:
                c.forget(who)

        return Call("POST", path, headers={"Authorization": f"Bearer {token}"}, after=after)

    return make


def _transition(c: Ctx, who: str | None) -> Call:
    case = c.new_case()
    return Call("POST", f"/api/v1/requests/{case['id']}/transitions", json={"action": "escalate", "reason": "matrix"})


def _wish_step(step: str, status: str) -> Callable[[Ctx, str | None], Call]:
    return lambda c, who: Call("POST", f"/api/v1/wishes/{c.wish(status)}/{step}", json={})


def _team_member_delete(c: Ctx, who: str | None) -> Call:
    vid = c.volunteer.id
    c.ok("admin", "PUT", f"/api/v1/teams/{c.team}/members", json={"volunteer_id": vid})
    return Call("DELETE", f"/api/v1/teams/{c.team}/members/{vid}")


def _duty_put(c: Ctx, who: str | None) -> Call:
    building, members = c.worker_building
    return Call("PUT", f"/api/v1/buildings/{building}/duty", json={"members": members})


def _station_delete(c: Ctx, who: str | None) -> Call:
    sid = c.ok("admin", "POST", "/api/v1/stations", json=c.station_body())["id"]
    return Call("DELETE", f"/api/v1/stations/{sid}")


def _api_client_delete(c: Ctx, who: str | None) -> Call:
    cid = c.ok("admin", "POST", "/api/v1/api-clients", json={"name": unique("app", "_")})["id"]
    return Call("DELETE", f"/api/v1/api-clients/{cid}")


def _revert(c: Ctx, who: str | None) -> Call:
    _, version = c.grid_now(c.edited_grid)
    return Call(
        "POST",
        f"/api/v1/grids/{c.edited_grid}/revert",
        json={"to_version": 1, "comment": "matrix"},
        headers={"If-Match": f'"{version}"'},
    )


def _put_geometry(c: Ctx, who: str | None) -> Call:
    geometry, version = c.grid_now(c.edited_grid)
    return Call(
        "PUT",
        f"/api/v1/grids/{c.edited_grid}/geometry",
        json={"geometry": geometry, "comment": "matrix"},
        headers={"If-Match": f'"{version}"'},
    )


def _ogc_item(c: Ctx, who: str | None) -> Call:
    return Call("GET", f"/ogc/collections/{OGC_COLLECTION}/items/{c.worker_grid}")


CALLS: dict[str, Callable[[Ctx, str | None], Call]] = {
    "GET /openapi.json": _get("/openapi.json"),
    "HEAD /openapi.json": lambda c, who: Call("HEAD", "/openapi.json"),
    "GET /metrics": _get("/metrics"),
    "GET /healthz": _get("/healthz"),
    "GET /readyz": _get("/readyz"),
    "GET /api/v1/attribution": _get("/api/v1/attribution"),
    "GET /docs": _get("/docs"),
    "GET /docs/oauth2-redirect": _get("/docs/oauth2-redirect"),
    "GET /": _get("/"),
    "GET /static/{path}": _get("/static/vendor/swagger-ui/swagger-ui.css"),
    "GET /map": _get("/map"),
    "GET /map/dispatch": _get("/map/dispatch"),
    "GET /map/stations": _get("/map/stations"),
    "GET /map/planner": _get("/map/planner"),
    "GET /map/wishes": _get("/map/wishes"),
    "GET /map/points": _get("/map/points"),
    "GET /track/{code}": lambda c, who: Call("GET", f"/track/{c.subject['tracking_code']}"),
    "POST /api/v1/auth/token": lambda c, who: Call(
        "POST", "/api/v1/auth/token", data={"username": ROLE_USERS[who or "resident"], "password": DEMO_PASSWORD}
    ),
    "GET /api/v1/auth/me": _get("/api/v1/auth/me"),
    "POST /api/v1/auth/logout": _sign_out("/api/v1/auth/logout", everywhere=False),
    "POST /api/v1/auth/logout-all": _sign_out("/api/v1/auth/logout-all", everywhere=True),
    "GET /api/v1/users": _get("/api/v1/users"),
    "POST /api/v1/users": lambda c, who: Call(
        "POST", "/api/v1/users", json={"username": unique("new", "_"), "password": "long-enough-pw", "role": "resident"}
    ),
    "PATCH /api/v1/users/{user_id}": lambda c, who: Call(
        "PATCH", f"/api/v1/users/{c.throwaway_user}", json={"display_name": "改名"}
    ),
    "POST /api/v1/users/{user_id}/revoke-tokens": lambda c, who: Call(
        "POST", f"/api/v1/users/{c.throwaway_user}/revoke-tokens"
    ),
    "GET /api/v1/audit": _get("/api/v1/audit", limit=5),
    "POST /api/v1/api-clients": lambda c, who: Call("POST", "/api/v1/api-clients", json={"name": unique("app", "_")}),
    "GET /api/v1/api-clients": _get("/api/v1/api-clients"),
    "DELETE /api/v1/api-clients/{client_id}": _api_client_delete,
    "GET /api/v1/areas": _get("/api/v1/areas"),
    "GET /api/v1/areas/tree": _get("/api/v1/areas/tree"),
    "GET /api/v1/areas/{area_id}": lambda c, who: Call("GET", f"/api/v1/areas/{c.area}"),
    "GET /api/v1/grids": _get("/api/v1/grids"),
    "GET /api/v1/grids/locate": lambda c, who: Call(
        "GET", "/api/v1/grids/locate", params={"lon": c.point[0], "lat": c.point[1]}
    ),
    "POST /api/v1/grids/locate": lambda c, who: Call(
        "POST", "/api/v1/grids/locate", json={"type": "MultiPoint", "coordinates": [list(c.point)]}
    ),
    "GET /api/v1/grids/{grid_id}": lambda c, who: Call("GET", f"/api/v1/grids/{c.worker_grid}"),
    "GET /api/v1/grids/{grid_id}/history": lambda c, who: Call("GET", f"/api/v1/grids/{c.worker_grid}/history"),
    "GET /api/v1/buildings": _get("/api/v1/buildings", limit=20),
    "GET /api/v1/buildings/{building_id}": lambda c, who: Call("GET", f"/api/v1/buildings/{c.building}"),
    "GET /api/v1/stations": _get("/api/v1/stations"),
    "GET /api/v1/stations/types": _get("/api/v1/stations/types"),
    "GET /api/v1/stations/nearby": lambda c, who: Call(
        "GET", "/api/v1/stations/nearby", params={"lon": c.point[0], "lat": c.point[1]}
    ),
    "GET /api/v1/stations/{station_id}": lambda c, who: Call("GET", f"/api/v1/stations/{c.station}"),
    "GET /api/v1/stations/{station_id}/service-area": lambda c, who: Call(
        "GET", f"/api/v1/stations/{c.station}/service-area"
    ),
    "GET /api/v1/streets": _get("/api/v1/streets"),
    "GET /api/v1/departments": _get("/api/v1/departments"),
    "GET /api/v1/party-orgs": _get("/api/v1/party-orgs"),
    "GET /api/v1/categories": _get("/api/v1/categories"),
    "GET /api/v1/points/catalogue": _get("/api/v1/points/catalogue"),
    "GET /api/v1/points/rules": _get("/api/v1/points/rules"),
    "GET /api/v1/property-scores": _get("/api/v1/property-scores"),
    "POST /api/v1/grids/preview": lambda c, who: Call("POST", "/api/v1/grids/preview", json=c.edits_body()),
    "POST /api/v1/grids/apply": lambda c, who: Call("POST", "/api/v1/grids/apply", json=c.edits_body()),
    "POST /api/v1/grids/split": lambda c, who: Call("POST", "/api/v1/grids/split", json=c.cut()),
    "POST /api/v1/grids/merge": lambda c, who: Call("POST", "/api/v1/grids/merge", json=c.split_pair()),
    "PUT /api/v1/grids/{grid_id}/geometry": _put_geometry,
    "POST /api/v1/grids/{grid_id}/revert": _revert,
    "POST /api/v1/grid-layers/import": lambda c, who: Call("POST", "/api/v1/grid-layers/import", **c.layer_upload()),
    "POST /api/v1/imports/{kind}": lambda c, who: Call("POST", "/api/v1/imports/areas", **c.compound_upload()),
    "GET /api/v1/imports/kinds": _get("/api/v1/imports/kinds"),
    "GET /api/v1/imports": _get("/api/v1/imports"),
    "GET /api/v1/grid-layers/compare": lambda c, who: (
        c.health_layer and Call("GET", "/api/v1/grid-layers/compare", params={"layer": "health"})
    ),
    "GET /api/v1/grid-layers/proposal": lambda c, who: (
        c.health_layer
        and Call("GET", "/api/v1/grid-layers/proposal", params={"community_id": c.worker_community, "layers": "health"})
    ),
    "GET /api/v1/grids/export": _get("/api/v1/grids/export", format="geojson"),
    "GET /api/v1/export": _get("/api/v1/export", layers="grids", format="geojson"),
    "POST /api/v1/stations": lambda c, who: Call("POST", "/api/v1/stations", json=c.station_body()),
    "PATCH /api/v1/stations/{station_id}": lambda c, who: Call(
        "PATCH", f"/api/v1/stations/{c.station}", json={"opening_hours": "08:00-20:00"}
    ),
    "DELETE /api/v1/stations/{station_id}": _station_delete,
    "GET /api/v1/coverage": lambda c, who: Call(
        "GET", "/api/v1/coverage", params={"type": c.station_type, "uncovered": "false"}
    ),
    "GET /api/v1/coverage/suggest": lambda c, who: Call(
        "GET", "/api/v1/coverage/suggest", params={"type": c.station_type, "k": 1}
    ),
    "GET /api/v1/volunteers": _get("/api/v1/volunteers"),
    "GET /api/v1/grid-workers": _get("/api/v1/grid-workers"),
    "GET /api/v1/volunteers/me": _get("/api/v1/volunteers/me"),
    "POST /api/v1/volunteers/me/duty": lambda c, who: Call(
        "POST", "/api/v1/volunteers/me/duty", json={"on_duty": True}
    ),
    "POST /api/v1/volunteers/me/position": lambda c, who: Call(
        "POST", "/api/v1/volunteers/me/position", json={"lon": c.point[0], "lat": c.point[1]}
    ),
    "POST /api/v1/requests": lambda c, who: Call(
        "POST",
        "/api/v1/requests",
        json={"category": "noise", "description": unique("matrix", "_"), "lon": c.point[0], "lat": c.point[1]},
    ),
    "GET /api/v1/requests": _get("/api/v1/requests", limit=5),
    "GET /api/v1/requests/queue": _get("/api/v1/requests/queue", limit=5),
    "GET /api/v1/requests/{request_id}": lambda c, who: Call("GET", f"/api/v1/requests/{c.subject['id']}"),
    "GET /api/v1/requests/{request_id}/volunteers": lambda c, who: Call(
        "GET", f"/api/v1/requests/{c.subject['id']}/volunteers"
    ),
    "GET /api/v1/track/{tracking_code}": lambda c, who: Call("GET", f"/api/v1/track/{c.subject['tracking_code']}"),
    "POST /api/v1/requests/{request_id}/transitions": _transition,
    "POST /api/v1/requests/{request_id}/photos": lambda c, who: Call(
        "POST", f"/api/v1/requests/{c.subject['id']}/photos", **c.photo_form()
    ),
    "GET /api/v1/requests/{request_id}/photos": lambda c, who: Call(
        "GET", f"/api/v1/requests/{c.subject['id']}/photos"
    ),
    "GET /api/v1/requests/{request_id}/photos/{photo_id}": lambda c, who: Call(
        "GET", f"/api/v1/requests/{c.subject['id']}/photos/{c.photo}"
    ),
    "GET /api/v1/stats": _get("/api/v1/stats"),
    "GET /api/v1/joint-meetings": _get("/api/v1/joint-meetings"),
    "POST /api/v1/joint-meetings/{item_id}/close": lambda c, who: Call(
        "POST", f"/api/v1/joint-meetings/{c.joint_meeting_item()}/close"
    ),
    "POST /api/v1/events/ticket": lambda c, who: Call("POST", "/api/v1/events/ticket"),
    "GET /api/v1/events": lambda c, who: Call("GET", "/api/v1/events", stream=True),
    "GET /api/v1/teams": _get("/api/v1/teams"),
    "GET /api/v1/teams/{team_id}": lambda c, who: Call("GET", f"/api/v1/teams/{c.team}"),
    "POST /api/v1/teams": lambda c, who: Call(
        "POST",
        "/api/v1/teams",
        json={"name_zh": unique("队", "_"), "kind": "legal", "community_id": c.worker_community},
    ),
    "PUT /api/v1/teams/{team_id}/members": lambda c, who: Call(
        "PUT", f"/api/v1/teams/{c.team}/members", json={"volunteer_id": c.volunteer.id}
    ),
    "DELETE /api/v1/teams/{team_id}/members/{volunteer_id}": _team_member_delete,
    "GET /api/v1/party-registrations": _get("/api/v1/party-registrations"),
    "POST /api/v1/party-registrations": lambda c, who: Call(
        "POST", "/api/v1/party-registrations", json={"name_zh": unique("党员", "_"), "community_id": c.worker_community}
    ),
    "POST /api/v1/party-registrations/{registration_id}/duties": lambda c, who: Call(
        "POST",
        f"/api/v1/party-registrations/{c.registration['id']}/duties",
        json={"kind": "survey", "done_on": c.registration["registered_on"]},
    ),
    "GET /api/v1/points/me": _get("/api/v1/points/me"),
    "GET /api/v1/points/volunteers/{volunteer_id}": lambda c, who: Call(
        "GET", f"/api/v1/points/volunteers/{c.volunteer.id}"
    ),
    "POST /api/v1/points/catalogue": lambda c, who: Call(
        "POST", "/api/v1/points/catalogue", json={"name_zh": unique("服务", "_"), "price": 5}
    ),
    "PATCH /api/v1/points/catalogue/{item_id}": lambda c, who: Call(
        "PATCH", f"/api/v1/points/catalogue/{c.catalogue_item}", json={"provider_zh": "社区"}
    ),
    "POST /api/v1/points/redeem": lambda c, who: (
        c.ledger_entry
        and Call(
            "POST",
            "/api/v1/points/redeem",
            json={"item": c.catalogue_item} | ({} if who == "volunteer" else {"volunteer_id": c.volunteer.id}),
        )
    ),
    "POST /api/v1/points/earn": lambda c, who: Call("POST", "/api/v1/points/earn", json=c.earn_body()),
    "POST /api/v1/points/corrections": lambda c, who: Call(
        "POST", "/api/v1/points/corrections", json={"entry_id": c.ledger_entry, "amount": 1, "note": "matrix"}
    ),
    "GET /api/v1/points/leaderboard": _get("/api/v1/points/leaderboard"),
    "GET /api/v1/points/summary": _get("/api/v1/points/summary"),
    "GET /api/v1/community-events": _get("/api/v1/community-events"),
    "POST /api/v1/community-events": lambda c, who: Call(
        "POST",
        "/api/v1/community-events",
        json={
            "title_zh": unique("活动", "_"),
            "starts_at": datetime.now(UTC).isoformat(),
            "hours": 1.0,
            "community_id": c.worker_community,
        },
    ),
    "POST /api/v1/wishes": lambda c, who: Call(
        "POST",
        "/api/v1/wishes",
        json={"category": "repair", "title": unique("愿望", "_"), "lon": c.point[0], "lat": c.point[1]},
    ),
    "GET /api/v1/wishes": _get("/api/v1/wishes", limit=5),
    "GET /api/v1/wishes/nearby": lambda c, who: Call(
        "GET", "/api/v1/wishes/nearby", params={"lon": c.point[0], "lat": c.point[1]}
    ),
    "GET /api/v1/wishes/categories": _get("/api/v1/wishes/categories"),
    "GET /api/v1/wishes/stats": _get("/api/v1/wishes/stats"),
    "GET /api/v1/wishes/{wish_id}": lambda c, who: Call("GET", f"/api/v1/wishes/{c.wish()}"),
    "POST /api/v1/wishes/{wish_id}/claim": _wish_step("claim", "open"),
    "POST /api/v1/wishes/{wish_id}/release": _wish_step("release", "claimed"),
    "POST /api/v1/wishes/{wish_id}/fulfil": _wish_step("fulfil", "claimed"),
    "POST /api/v1/wishes/{wish_id}/confirm": _wish_step("confirm", "fulfilled"),
    "POST /api/v1/wishes/{wish_id}/cancel": _wish_step("cancel", "open"),
    "GET /api/v1/key-households": lambda c, who: c.household and Call("GET", "/api/v1/key-households"),
    "GET /api/v1/key-households/{household_id}": lambda c, who: Call("GET", f"/api/v1/key-households/{c.household}"),
    "POST /api/v1/key-households": lambda c, who: Call("POST", "/api/v1/key-households", json=c.household_body()),
    "PATCH /api/v1/key-households/{household_id}": lambda c, who: Call(
        "PATCH", f"/api/v1/key-households/{c.household}", json={"notes": "matrix"}
    ),
    "POST /api/v1/key-households/{household_id}/visits": lambda c, who: Call(
        "POST", f"/api/v1/key-households/{c.household}/visits", json={"notes": "all well"}
    ),
    "GET /api/v1/follow-ups": _get("/api/v1/follow-ups"),
    "GET /api/v1/follow-ups/stats": _get("/api/v1/follow-ups/stats"),
    "GET /api/v1/follow-ups/{follow_up_id}": lambda c, who: Call("GET", f"/api/v1/follow-ups/{c.follow_up()}"),
    "POST /api/v1/follow-ups": lambda c, who: Call(
        "POST", "/api/v1/follow-ups", json={"request_id": c.finished_case()["id"]}
    ),
    "POST /api/v1/follow-ups/{follow_up_id}/result": lambda c, who: Call(
        "POST",
        f"/api/v1/follow-ups/{c.follow_up()}/result",
        json={"resident_answer": "resolved", "result": "满意", "satisfaction": 5},
    ),
    "GET /api/v1/buildings/{building_id}/duty": lambda c, who: Call("GET", f"/api/v1/buildings/{c.duty_building}/duty"),
    "PUT /api/v1/buildings/{building_id}/duty": _duty_put,
    "POST /api/v1/buildings/{building_id}/duty/disputes": lambda c, who: Call(
        "POST", f"/api/v1/buildings/{c.duty_building}/duty/disputes", json={"summary": "噪音", "outcome": "settled"}
    ),
    "POST /api/v1/buildings/{building_id}/duty/property-rating": lambda c, who: Call(
        "POST", f"/api/v1/buildings/{c.duty_building}/duty/property-rating", json={"score": 4}
    ),
    "GET /api/v1/buildings/{building_id}/duty/log": lambda c, who: Call(
        "GET", f"/api/v1/buildings/{c.duty_building}/duty/log"
    ),
    "GET /open311/v2/discovery.{fmt}": _get("/open311/v2/discovery.json"),
    "GET /open311/v2/services.{fmt}": _get("/open311/v2/services.json"),
    "GET /open311/v2/services/{service_code}.{fmt}": _get("/open311/v2/services/noise.json"),
    "GET /open311/v2/requests.{fmt}": _get("/open311/v2/requests.json"),
    "GET /open311/v2/requests/{service_request_id}.{fmt}": lambda c, who: Call(
        "GET", f"/open311/v2/requests/{c.published['id']}.json"
    ),
    "GET /open311/v2/tokens/{token}.{fmt}": lambda c, who: Call(
        "GET", f"/open311/v2/tokens/{c.published['tracking_code']}.json"
    ),
    "POST /open311/v2/requests.{fmt}": lambda c, who: Call("POST", "/open311/v2/requests.json", data=c.open311_form()),
    "GET /ogc": _get("/ogc"),
    "GET /ogc/": _get("/ogc/"),
    "GET /ogc/api": _get("/ogc/api"),
    "GET /ogc/conformance": _get("/ogc/conformance"),
    "GET /ogc/collections": _get("/ogc/collections"),
    "GET /ogc/collections/{collection_id}": _get(f"/ogc/collections/{OGC_COLLECTION}"),
    "GET /ogc/collections/{collection_id}/items": _get(f"/ogc/collections/{OGC_COLLECTION}/items", limit=5),
    "GET /ogc/collections/{collection_id}/items/{feature_id}": _ogc_item,
}

assert set(RULES) == set(CALLS), set(RULES) ^ set(CALLS)
