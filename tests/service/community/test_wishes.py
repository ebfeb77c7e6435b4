"""Micro-wishes and mutual-aid projects over HTTP on both backends: posting at building level,
'near me' by walking distance (checked against an independent networkx walk), the lifecycle with
its roles, points on confirmation, monthly stats, and bad input."""

from __future__ import annotations

from tests.service.community.support import building_entrance, new_account
from tests.service.helpers import assert_problem
from tests.service.requests.api import unique


def post_wish(client, **fields) -> dict:
    payload = {"category": "shopping", "title": unique("帮忙代购"), "hours": 1.0} | fields
    r = client.post("/api/v1/wishes", json=payload)
    assert r.status_code == 201, r.text
    return r.json()


def inside_building(town, building_id: int) -> tuple[float, float]:
    p = town.buildings[building_id].representative_point()
    return p.x, p.y


def test_a_wish_is_shown_at_its_building_never_at_a_flat(api, backend, town):
    building_id = next(iter(sorted(town.buildings)))
    lon, lat = inside_building(town, building_id)
    wish = post_wish(api.as_("resident1"), lon=lon, lat=lat, description="3单元502的王奶奶需要买菜")
    assert wish["building_id"] == building_id
    assert (wish["lon"], wish["lat"]) == building_entrance(backend, building_id)
    assert wish["status"] == "open" and wish["mine"] is True
    assert wish["grid_id"] == town.building_props[building_id]["grid_id"]
    # Others see it open, without who posted it; staff see the resident it was posted for.
    other = api.as_("volunteer1").get(f"/api/v1/wishes/{wish['id']}").json()
    assert "on_behalf_of" not in other and other["mine"] is False
    by_staff = post_wish(api.as_("gridworker1"), building_id=building_id, on_behalf_of="李阿婆")
    assert api.as_("dispatcher").get(f"/api/v1/wishes/{by_staff['id']}").json()["on_behalf_of"] == "李阿婆"
    assert "on_behalf_of" not in api.as_("resident1").get(f"/api/v1/wishes/{by_staff['id']}").json()
    geo = api.as_("dispatcher").get("/api/v1/wishes", params={"status": "open", "format": "geojson"}).json()
    feature = next(f for f in geo["features"] if f["id"] == wish["id"])
    assert feature["geometry"]["coordinates"] == list(building_entrance(backend, building_id))


def test_wishes_near_me_are_sorted_by_walking_distance(api, backend, town):
    here = town.inner_point(sorted(town.grids)[3], seed=5)
    r = api.as_("resident1").get("/api/v1/wishes/nearby", params={"lon": here[0], "lat": here[1], "minutes": 15})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert items, "the demo has open wishes within a 15-minute walk"
    assert all(i["status"] == "open" for i in items)
    walks = [i["walk_m"] for i in items]
    assert walks == sorted(walks) and walks[-1] <= 15 * 60 * backend.settings.walking_speed_mps + 1e-6
    independent = town.streets.walks_from(here, [(i["lon"], i["lat"]) for i in items])
    for item, metres in zip(items, independent, strict=True):
        assert abs(item["walk_m"] - metres) < 0.5, (item["id"], item["walk_m"], metres)
    # Nothing open within the walk is left out.
    listed = api.as_("dispatcher").get("/api/v1/wishes", params={"status": "open", "limit": 5000}).json()["items"]
    reachable = {
        w["id"]
        for w, m in zip(listed, town.streets.walks_from(here, [(w["lon"], w["lat"]) for w in listed]), strict=True)
        if m <= 15 * 60 * backend.settings.walking_speed_mps - 0.5
    }
    assert reachable <= {i["id"] for i in items}
    # GCJ-02 input is converted; a point far from any street is refused; anonymous callers are not served.
    from geo.coords import wgs84_to_gcj02

    glon, glat = wgs84_to_gcj02(*here)
    shifted = api.as_("resident1").get(
        "/api/v1/wishes/nearby", params={"lon": glon, "lat": glat, "coord_type": "gcj02"}
    )
    assert [i["id"] for i in shifted.json()["items"]] == [i["id"] for i in items]
    assert_problem(api.as_("resident1").get("/api/v1/wishes/nearby", params={"lon": 118.5, "lat": 24.622}), 422, "lon")
    assert_problem(api.as_("resident1").get("/api/v1/wishes/nearby", params={"lon": here[0]}), 422, "lat")
    assert_problem(api.as_(None).get("/api/v1/wishes/nearby", params={"lon": here[0], "lat": here[1]}), 401)


def test_the_lifecycle_and_confirmation_earns_the_claimant_points(api, backend, town):
    building_id = sorted(town.buildings)[10]
    wish = post_wish(api.as_("resident1"), building_id=building_id, category="repair", hours=1.5)
    rival = new_account(backend, "volunteer", volunteer=True)
    before = api.as_("volunteer1").get("/api/v1/points/me").json()["balance"]

    claimed = api.as_("volunteer1").post(f"/api/v1/wishes/{wish['id']}/claim", json={"version": wish["version"]})
    assert claimed.status_code == 200, claimed.text
    claimed = claimed.json()
    assert claimed["status"] == "claimed" and claimed["claim_expires_at"]
    with rival.client(backend) as c:
        assert_problem(c.post(f"/api/v1/wishes/{wish['id']}/claim", json={}), 409, "wish_id")
        assert_problem(c.post(f"/api/v1/wishes/{wish['id']}/fulfil", json={}), 403)
    # A stale version is refused.
    assert_problem(
        api.as_("volunteer1").post(f"/api/v1/wishes/{wish['id']}/fulfil", json={"version": 1}), 409, "version"
    )
    assert_problem(api.as_("resident1").post(f"/api/v1/wishes/{wish['id']}/confirm", json={}), 409, "wish_id")
    done = api.as_("volunteer1").post(f"/api/v1/wishes/{wish['id']}/fulfil", json={"note": "修好了"}).json()
    assert done["status"] == "fulfilled"

    # Confirming a wish you did not post: 403, whoever you are.
    for user in ("volunteer1", "gridworker1", "dispatcher"):
        assert_problem(api.as_(user).post(f"/api/v1/wishes/{wish['id']}/confirm", json={}), 403, "wish_id")
    confirmed = api.as_("resident1").post(f"/api/v1/wishes/{wish['id']}/confirm", json={}).json()
    assert confirmed["status"] == "confirmed"
    assert confirmed["points_awarded"] == 18  # 1.5 hours of repair work at 12 points an hour
    me = api.as_("volunteer1").get("/api/v1/points/me").json()
    assert me["balance"] == before + confirmed["points_awarded"]
    assert (me["history"][0]["source_type"], me["history"][0]["source_id"]) == ("wish", wish["id"])
    assert_problem(api.as_("resident1").post(f"/api/v1/wishes/{wish['id']}/confirm", json={}), 409, "wish_id")
    # Staff cannot credit the same wish again.
    again = api.as_("dispatcher").post(
        "/api/v1/points/earn", json={"volunteer_id": me["volunteer_id"], "source_type": "wish", "source_id": wish["id"]}
    )
    assert_problem(again, 409, "source_id")


def test_release_cancel_and_who_may_claim(api, backend, town):
    building_id = sorted(town.buildings)[20]
    wish = post_wish(api.as_("resident1"), building_id=building_id, kind="project", category="tutoring")
    assert_problem(api.as_("resident1").post(f"/api/v1/wishes/{wish['id']}/claim", json={}), 403)
    poster = new_account(backend, "volunteer", volunteer=True)
    with poster.client(backend) as c:
        own = post_wish(c, building_id=building_id)
        assert_problem(c.post(f"/api/v1/wishes/{own['id']}/claim", json={}), 409, "wish_id")
    api.as_("volunteer1").post(f"/api/v1/wishes/{wish['id']}/claim", json={})
    assert_problem(api.as_("resident1").post(f"/api/v1/wishes/{wish['id']}/release", json={}), 403)
    released = api.as_("volunteer1").post(f"/api/v1/wishes/{wish['id']}/release", json={}).json()
    assert released["status"] == "open" and released["claim_expires_at"] is None
    assert_problem(api.as_("volunteer1").post(f"/api/v1/wishes/{wish['id']}/release", json={}), 403)
    assert_problem(api.as_("volunteer1").post(f"/api/v1/wishes/{wish['id']}/cancel", json={}), 403, "wish_id")
    cancelled = api.as_("resident1").post(f"/api/v1/wishes/{wish['id']}/cancel", json={}).json()
    assert cancelled["status"] == "cancelled"
    assert_problem(api.as_("volunteer1").post(f"/api/v1/wishes/{wish['id']}/claim", json={}), 409, "wish_id")
    # A closed wish is no longer shown to people who had nothing to do with it.
    assert_problem(api.as_("volunteer1").get(f"/api/v1/wishes/{wish['id']}"), 403, "wish_id")
    assert api.as_("resident1").get(f"/api/v1/wishes/{wish['id']}").status_code == 200
    mine = api.as_("resident1").get("/api/v1/wishes", params={"mine": True}).json()["items"]
    assert wish["id"] in {w["id"] for w in mine} and all(w["mine"] for w in mine)
    assert_problem(api.as_("dept_zjj").get("/api/v1/wishes"), 403)


def test_stats_per_grid_and_month(api, town):
    grid = sorted(town.grids)[5]
    building_id = next(b for b, p in sorted(town.building_props.items()) if p["grid_id"] == grid)
    before = api.as_("dispatcher").get("/api/v1/wishes/stats", params={"grid_id": grid}).json()
    wish = post_wish(api.as_("resident1"), building_id=building_id)
    api.as_("volunteer1").post(f"/api/v1/wishes/{wish['id']}/claim", json={})
    api.as_("volunteer1").post(f"/api/v1/wishes/{wish['id']}/fulfil", json={})
    after = api.as_("dispatcher").get("/api/v1/wishes/stats", params={"grid_id": grid}).json()
    for name in ("posted", "claimed", "fulfilled"):
        assert after["totals"][name] == before["totals"][name] + 1, name
    assert after["totals"]["confirmed"] == before["totals"]["confirmed"]
    assert all(row["grid_id"] == grid for row in after["items"])
    months = [row["month"] for row in after["items"]]
    assert months == sorted(months) and all(len(m) == 7 for m in months)
    everything = api.as_("dispatcher").get("/api/v1/wishes/stats").json()
    assert everything["totals"]["posted"] == sum(row["posted"] for row in everything["items"])
    assert len({row["grid_id"] for row in everything["items"]}) > 5
    assert_problem(api.as_("resident1").get("/api/v1/wishes/stats"), 403)


def test_the_categories_a_post_form_offers_are_the_ones_posting_accepts(api, town):
    listed = api.as_(None).get("/api/v1/wishes/categories")
    assert listed.status_code == 200, listed.text
    building_id = sorted(town.buildings)[1]
    for category in listed.json():
        wish = post_wish(api.as_("resident1"), category=category["code"], building_id=building_id)
        assert (wish["category_name_zh"], wish["category_name_en"]) == (category["name_zh"], category["name_en"])
        api.as_("resident1").post(f"/api/v1/wishes/{wish['id']}/cancel", json={})


def test_bad_input_names_the_field(api, town):
    building_id = sorted(town.buildings)[0]
    client = api.as_("resident1")
    cases = [
        ({"category": "astrology", "title": "x", "building_id": building_id}, 422, "category"),
        ({"category": "shopping", "title": "   ", "building_id": building_id}, 422, "title"),
        ({"category": "shopping", "title": "x"}, 422, "lon"),
        ({"category": "shopping", "title": "x", "lon": 117.75}, 422, "lat"),
        ({"category": "shopping", "title": "x", "lon": 119.9, "lat": 24.6}, 422, "lon"),
        ({"category": "shopping", "title": "x", "lon": 117.75, "lat": 95}, 422, "lat"),
        ({"category": "shopping", "title": "x", "building_id": 2**31 - 1}, 422, "building_id"),
        ({"category": "shopping", "title": "x", "building_id": building_id, "hours": 0}, 422, "hours"),
        ({"category": "shopping", "title": "x", "building_id": building_id, "hours": "2"}, 422, "hours"),
        (
            {"category": "shopping", "title": "x", "building_id": building_id, "on_behalf_of": "某人"},
            403,
            "on_behalf_of",
        ),
        ({"category": "shopping", "title": "x", "building_id": building_id, "colour": "red"}, 422, "colour"),
    ]
    for payload, status, field in cases:
        assert_problem(client.post("/api/v1/wishes", json=payload), status, field)
    assert_problem(api.as_("planner").post("/api/v1/wishes", json=cases[0][0]), 403)
    assert_problem(client.get("/api/v1/wishes/0"), 422, "wish_id")
    assert_problem(client.get(f"/api/v1/wishes/{2**31 - 1}"), 404, "wish_id")
