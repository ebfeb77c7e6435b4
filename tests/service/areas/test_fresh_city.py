"""A database with areas and nothing else (no grids, no demo): a city over two districts, a
township, a community, and a retired community under it. Locate answers the chain of areas with no
grid; retired areas appear nowhere (lists, tree, one area, locate one point or many)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
import shapely
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon

from geo.coords import from_wgs84
from service.areas.models import Area, AreaLevel
from service.auth.models import Role
from service.auth.service import create_user
from service.bootstrap import prepare_database
from service.common.layer_cache import AREAS
from service.common.revisions import bump_revision
from service.db import Database
from tests.service.helpers import assert_problem
from tests.support.backends import BACKENDS, make_settings, serve
from tests.support.clock import TestClock
from tests.support.databases import postgis_url, spatialite_url

PASSWORD = "fresh-city-password"
P_IN_COMMUNITY = (117.65, 24.55)
P_IN_DISTRICT_B = (117.80, 24.70)
P_ON_DISTRICT_BORDER = (117.75, 24.70)
P_NOWHERE = (118.50, 25.50)


def _box(*bounds: float):
    return from_shape(MultiPolygon([shapely.box(*bounds)]), srid=4326)


@dataclass
class City:
    url: str
    ids: dict[str, int]

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def token(self) -> str:
        with self.client() as c:
            r = c.post("/api/v1/auth/token", data={"username": "clerk", "password": PASSWORD})
            assert r.status_code == 200, r.text
            return r.json()["access_token"]


def _load(db: Database) -> dict[str, int]:
    with db.transaction() as session:
        city = Area(
            level=AreaLevel.CITY,
            code="350600",
            name_zh="漳州市",
            name_en="Zhangzhou",
            geom=_box(117.6, 24.5, 117.9, 24.8),
        )
        a = Area(
            level=AreaLevel.DISTRICT,
            code="350602",
            name_zh="芗城区",
            name_en=None,
            parent=city,
            geom=_box(117.6, 24.5, 117.75, 24.8),
        )
        b = Area(
            level=AreaLevel.DISTRICT,
            code="350603",
            name_zh="龙文区",
            name_en=None,
            parent=city,
            geom=_box(117.75, 24.5, 117.9, 24.8),
        )
        town = Area(
            level=AreaLevel.TOWNSHIP,
            code="350602001",
            name_zh="某街道",
            name_en=None,
            parent=a,
            geom=_box(117.6, 24.5, 117.75, 24.65),
        )
        live = Area(
            level=AreaLevel.COMMUNITY,
            code="350602001001",
            name_zh="某社区",
            name_en=None,
            parent=town,
            geom=_box(117.6, 24.5, 117.7, 24.6),
        )
        # Retired, same place, and a code that sorts first: were it read, it would win the point.
        gone = Area(
            level=AreaLevel.COMMUNITY, code="350602001000", name_zh="旧社区", name_en=None, parent=town,
            geom=_box(117.6, 24.5, 117.7, 24.6), retired_at=datetime(2026, 1, 1, tzinfo=UTC), version=2,
        )  # fmt: skip
        session.add_all([city, a, b, town, live, gone])
        create_user(session, username="clerk", password=PASSWORD, role=Role.DISPATCHER)
        bump_revision(session, AREAS)
        session.flush()
        return {x.code: x.id for x in (city, a, b, town, live, gone)}


@pytest.fixture(scope="module", params=BACKENDS)
def city(request, tmp_path_factory) -> Iterator[City]:
    with ExitStack() as stack:
        tmp = tmp_path_factory.mktemp(f"fresh-{request.param}")
        url = stack.enter_context(spatialite_url(tmp) if request.param == "spatialite" else postgis_url())
        settings = make_settings(url, media_dir=tmp / "media", scheduler_enabled=False)
        db = Database.from_settings(settings)
        stack.callback(db.dispose)
        prepare_database(db)
        ids = _load(db)
        yield City(serve(stack, settings, db, TestClock()), ids)


def locate(c: httpx.Client, point: tuple[float, float], **params) -> dict:
    r = c.get("/api/v1/grids/locate", params={"lon": point[0], "lat": point[1], **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_no_grid_but_the_whole_chain_from_the_city_down(city):
    with city.client() as c:
        out = locate(c, P_IN_COMMUNITY)
    assert out["grid"] is None and out["outside_coverage"] is True and out["distance_m"] is None
    assert [(a["level"], a["code"]) for a in out["areas"]] == [
        ("city", "350600"),
        ("district", "350602"),
        ("township", "350602001"),
        ("community", "350602001001"),
    ]
    assert out["community"]["code"] == "350602001001" and out["compound"] is None
    assert out["areas"][0] == {
        "id": city.ids["350600"],
        "level": "city",
        "code": "350600",
        "name_zh": "漳州市",
        "name_en": "Zhangzhou",
    }


def test_the_chain_stops_where_the_areas_stop(city):
    with city.client() as c:
        assert [a["code"] for a in locate(c, P_IN_DISTRICT_B)["areas"]] == ["350600", "350603"]
        assert locate(c, P_NOWHERE)["areas"] == []
        border = [a["code"] for a in locate(c, P_ON_DISTRICT_BORDER)["areas"]]
        assert border in (["350600", "350602"], ["350600", "350603"])  # one district, never both
        assert [a["code"] for a in locate(c, P_ON_DISTRICT_BORDER)["areas"]] == border


def test_gcj02_point_finds_the_same_chain(city):
    near_edge = (117.698, 24.55)  # 200 m inside the community's east edge; its GCJ-02 reading is ~300 m outside
    glon, glat = from_wgs84(*near_edge, "gcj02")
    assert glon > 117.7
    with city.client() as c:
        chain = [a["code"] for a in locate(c, (glon, glat), coord_type="gcj02")["areas"]]
        assert (
            chain
            == ["350600", "350602", "350602001", "350602001001"]
            == [a["code"] for a in locate(c, near_edge)["areas"]]
        )
        unconverted = [a["code"] for a in locate(c, (glon, glat))["areas"]]
        assert unconverted == ["350600", "350602", "350602001"]  # sent as WGS84, it misses the community


def test_retired_areas_are_in_no_list(city):
    with city.client() as c:
        listed = {f["properties"]["code"] for f in c.get("/api/v1/areas").json()["features"]}
        assert listed == {"350600", "350602", "350603", "350602001", "350602001001"}
        under = c.get("/api/v1/areas", params={"parent": "350602001"}).json()["features"]
        assert [f["properties"]["code"] for f in under] == ["350602001001"]
        cities = c.get("/api/v1/areas", params={"level": "city", "fields": "code,name_en"}).json()["features"]
        assert cities == [
            {
                "type": "Feature",
                "id": city.ids["350600"],
                "geometry": None,
                "properties": {"code": "350600", "name_en": "Zhangzhou"},
            }
        ]

        def walk(nodes):
            for n in nodes:
                yield n["code"]
                yield from walk(n["children"])

        tree = c.get("/api/v1/areas/tree").json()
        assert [n["code"] for n in tree] == ["350600"] and set(walk(tree)) == listed
        assert_problem(c.get(f"/api/v1/areas/{city.ids['350602001000']}"), 404, "area_id")
        assert_problem(c.get("/api/v1/areas", params={"parent": "350602001000"}), 422, "parent")


def test_bulk_locate_without_grids_answers_the_area_codes(city):
    points = [P_IN_COMMUNITY, P_IN_DISTRICT_B, P_ON_DISTRICT_BORDER, P_NOWHERE]
    body = {"type": "MultiPoint", "coordinates": [list(p) for p in points]}
    with city.client(city.token()) as c:
        r = c.post("/api/v1/grids/locate", json=body)
        assert r.status_code == 200, r.text
        answers = r.json()["points"]
        singles = [locate(c, p) for p in points]
    assert [a["index"] for a in answers] == [0, 1, 2, 3]
    for a, one in zip(answers, singles, strict=True):
        assert a["grid_code"] is None and a["grid_id"] is None and a["distance_m"] is None
        assert a["outside_coverage"] is True and a["id"] is None
        assert a["areas"] == {x["level"]: x["code"] for x in one["areas"]}
    assert answers[0]["areas"] == {
        "city": "350600", "district": "350602", "township": "350602001", "community": "350602001001"
    }  # fmt: skip
    assert answers[3]["areas"] == {}
