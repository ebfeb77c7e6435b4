"""Volunteers' own duty and position over HTTP on both backends: coordinate systems, the township
check, the per-account rate limit, and the position's age on the dispatcher's layer."""

from __future__ import annotations

from datetime import datetime

from geo.coords import gcj02_to_wgs84, wgs84_to_bd09, wgs84_to_gcj02
from tests.service.community.support import new_account
from tests.service.helpers import assert_problem
from tests.service.requests.geodata import metres_between


def test_a_volunteer_reports_a_position_in_any_coordinate_system(api, backend, demo, town):
    vol = new_account(backend, "volunteer", volunteer=True, community_id=demo.volunteer1_community)
    here = town.inner_point(demo.worker1_grid, seed=3)
    with vol.client(backend) as c:
        me = c.get("/api/v1/volunteers/me").json()
        assert me["lon"] is None and me["position_fresh"] is False
        glon, glat = wgs84_to_gcj02(*here)
        r = c.post(
            "/api/v1/volunteers/me/position", json={"lon": glon, "lat": glat, "coord_type": "gcj02", "on_duty": True}
        )
        assert r.status_code == 200, r.text
        got = r.json()
        assert metres_between((got["lon"], got["lat"]), here) < 0.02
        assert metres_between((got["lon"], got["lat"]), gcj02_to_wgs84(glon, glat)) < 0.02
        assert got["on_duty"] is True and got["position_age_minutes"] == 0 and got["position_fresh"] is True
        at = datetime.fromisoformat(got["position_at"])
        assert abs((backend.clock() - at).total_seconds()) < 60
        blon, blat = wgs84_to_bd09(*here)
        got = c.post("/api/v1/volunteers/me/position", json={"lon": blon, "lat": blat, "coord_type": "bd09"}).json()
        assert metres_between((got["lon"], got["lat"]), here) < 0.02 and got["on_duty"] is True
        off = c.post("/api/v1/volunteers/me/duty", json={"on_duty": False}).json()
        assert off["on_duty"] is False and off["lon"] == got["lon"]
    layer = api.as_("dispatcher").get("/api/v1/volunteers", params={"on_duty": False}).json()["features"]
    mine = next(f for f in layer if f["id"] == vol.volunteer_id)
    assert mine["properties"]["position_age_minutes"] is not None and mine["properties"]["position_fresh"] is True
    assert mine["geometry"]["coordinates"] == [got["lon"], got["lat"]]
    on_duty = api.as_("gridworker1").get("/api/v1/volunteers", params={"on_duty": True}).json()["features"]
    assert on_duty and all("position_age_minutes" in f["properties"] for f in on_duty)


def test_a_position_far_outside_the_township_is_refused(backend):
    vol = new_account(backend, "volunteer", volunteer=True)
    with vol.client(backend) as c:
        # Xiamen, 30 km away; and the town centre read as BD-09 by mistake is still nearby (accepted).
        assert_problem(c.post("/api/v1/volunteers/me/position", json={"lon": 118.089, "lat": 24.479}), 422, "lon")
        assert_problem(c.post("/api/v1/volunteers/me/position", json={"lon": 0.0, "lat": 0.0}), 422, "lon")
        assert_problem(c.post("/api/v1/volunteers/me/position", json={"lon": 117.755}), 422, "lat")
        assert_problem(c.post("/api/v1/volunteers/me/position", json={"lon": "117.755", "lat": 24.622}), 422, "lon")
        assert_problem(c.post("/api/v1/volunteers/me/position", json={"lon": 117.755, "lat": 91}), 422, "lat")
        assert_problem(
            c.post("/api/v1/volunteers/me/position", json={"lon": 117.755, "lat": 24.622, "coord_type": "utm"}),
            422,
            "coord_type",
        )
        assert c.get("/api/v1/volunteers/me").json()["lon"] is None  # nothing was stored


def test_position_reports_are_rate_limited_per_account(backend):
    vol, other = (new_account(backend, "volunteer", volunteer=True) for _ in range(2))
    limit = backend.settings.volunteer_position_rate_per_minute
    point = {"lon": 117.7552, "lat": 24.6221}
    with vol.client(backend) as c:
        for _ in range(limit):
            assert c.post("/api/v1/volunteers/me/position", json=point).status_code == 200
        refused = c.post("/api/v1/volunteers/me/position", json=point)
        assert_problem(refused, 429)
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
    with other.client(backend) as c:  # another account from the same address is not affected
        assert c.post("/api/v1/volunteers/me/position", json=point).status_code == 200


def test_only_volunteers_report_their_own_position(api, backend):
    unlinked = new_account(backend, "volunteer")
    with unlinked.client(backend) as c:
        assert_problem(c.post("/api/v1/volunteers/me/position", json={"lon": 117.7552, "lat": 24.6221}), 403)
        assert_problem(c.get("/api/v1/volunteers/me"), 403)
    for user in ("resident1", "gridworker1", "dispatcher"):
        assert_problem(api.as_(user).post("/api/v1/volunteers/me/duty", json={"on_duty": True}), 403)
    assert_problem(api.as_(None).get("/api/v1/volunteers/me"), 401)
    assert_problem(api.as_("resident1").get("/api/v1/volunteers"), 403)
