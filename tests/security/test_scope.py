"""Each role sees and acts on the same cases on every channel as in its REST list.

* A grid worker lists dispatch candidates (``GET /requests/{id}/volunteers``) only for a case it
  may see, and merges a case only into one it may see: another grid's case answers as one that
  does not exist.
* On the OGC API ``requests`` collection and Open311, a signed-in caller gets exactly its REST list
  (exact points, full text) plus what anyone gets (the published requests, in their public form);
  a department no longer reads the exact points of every open request.
"""

from __future__ import annotations

import httpx
import pytest
from shapely.geometry import shape
from sqlalchemy import select

from service.auth.models import User
from service.grids.models import GridWorker
from tests.security.endpoints import Ctx, unique

OPEN = {"reported", "accepted", "dispatched", "on_site", "reopened"}
NEVER = 2**31 - 1


def other_grid_point(ctx: Ctx) -> tuple[float, float]:
    """A point in a grid that is not gridworker1's."""
    with ctx.b.db.reader() as s:
        worker = s.scalar(
            select(GridWorker).join(User, User.id == GridWorker.user_id).where(User.username == "gridworker1")
        )
        worker_grids = {g.id for g in worker.grids}
    grids = ctx.ok("admin", "GET", "/api/v1/grids")["features"]
    other = next(g for g in grids if g["id"] not in worker_grids)
    p = shape(other["geometry"]).representative_point()
    return round(p.x, 7), round(p.y, 7)


def case_at(ctx: Ctx, point: tuple[float, float], *, who: str = "dispatcher", **extra) -> dict:
    body = {"category": "pipe_leak", "description": unique("scope case"), "lon": point[0], "lat": point[1]}
    return ctx.ok(who, "POST", "/api/v1/requests", json=body | {"channel": "phone"} | extra)


def test_a_grid_worker_lists_volunteers_only_for_cases_it_may_see(ctx):
    theirs = case_at(ctx, other_grid_point(ctx))
    mine = case_at(ctx, ctx.point)
    with httpx.Client(base_url=ctx.b.base_url, headers=ctx.auth("grid_worker"), timeout=30) as worker:
        assert worker.get(f"/api/v1/requests/{mine['id']}/volunteers").status_code == 200
        refused = worker.get(f"/api/v1/requests/{theirs['id']}/volunteers")
        assert refused.status_code in (403, 404), refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "volunteer_id" not in refused.text
        assert worker.get(f"/api/v1/requests/{theirs['id']}").status_code == refused.status_code
    with httpx.Client(base_url=ctx.b.base_url, headers=ctx.auth("dispatcher"), timeout=30) as dispatcher:
        assert dispatcher.get(f"/api/v1/requests/{theirs['id']}/volunteers").status_code == 200


def test_a_grid_worker_merges_only_into_cases_it_may_see(ctx):
    theirs = case_at(ctx, other_grid_point(ctx))
    first, second = case_at(ctx, ctx.point), case_at(ctx, ctx.point)
    with httpx.Client(base_url=ctx.b.base_url, headers=ctx.auth("grid_worker"), timeout=30) as worker:

        def merge(case: dict, into: int) -> httpx.Response:
            return worker.post(
                f"/api/v1/requests/{case['id']}/transitions", json={"action": "merge", "duplicate_of": into}
            )

        refused, nowhere = merge(first, theirs["id"]), merge(first, NEVER)
        assert refused.status_code == nowhere.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "duplicate_of"
        assert refused.text == nowhere.text.replace(str(NEVER), str(theirs["id"]))
        assert merge(first, second["id"]).status_code == 200
    with httpx.Client(base_url=ctx.b.base_url, headers=ctx.auth("dispatcher"), timeout=30) as dispatcher:
        first_now = dispatcher.get(f"/api/v1/requests/{first['id']}").json()
        assert first_now["duplicate_of"] == second["id"]


def _department_id(ctx: Ctx) -> int:
    with ctx.b.db.reader() as s:
        return s.scalar(select(User.department_id).where(User.username == "dept_zjj"))


def _ogc(http: httpx.Client) -> dict[int, tuple[float, float]]:
    r = http.get("/ogc/collections/requests/items", params={"limit": 10000})
    assert r.status_code == 200, r.text
    return {f["id"]: tuple(f["geometry"]["coordinates"]) for f in r.json()["features"]}


def _open311(http: httpx.Client) -> dict[str, dict]:
    r = http.get("/open311/v2/requests.json", params={"start_date": "2000-01-01T00:00:00Z"})
    assert r.status_code == 200, r.text
    return {x["service_request_id"]: x for x in r.json()}


@pytest.mark.parametrize("role", ["department", "grid_worker", "volunteer", "resident", "dispatcher"])
def test_ogc_and_open311_show_each_role_its_rest_list_and_the_public_requests(ctx, role):
    # Arrange: a case sent to dept_zjj, a case in another grid, and a published one.
    sent = case_at(ctx, ctx.point)
    ctx.act(sent["id"], "accept")
    ctx.act(sent["id"], "dispatch", department_id=_department_id(ctx))
    elsewhere = case_at(ctx, other_grid_point(ctx))
    lon, lat = ctx.point
    published = {"category": "littering", "description": unique("published"), "lon": lon, "lat": lat, "public": True}
    ctx.ok(None, "POST", "/api/v1/requests", json=published)

    with ctx.b.client() as anon, httpx.Client(base_url=ctx.b.base_url, headers=ctx.auth(role), timeout=30) as me:
        rest = me.get("/api/v1/requests", params={"limit": 5000}).json()["items"]
        public_ogc, public_311 = _ogc(anon), _open311(anon)
        mine_ogc, mine_311 = _ogc(me), _open311(me)
    exact = {r["id"]: (r["lon"], r["lat"]) for r in rest if r["status"] in OPEN}
    if role == "department":
        assert sent["id"] in exact and elsewhere["id"] not in mine_ogc and str(elsewhere["id"]) not in mine_311
    assert set(mine_ogc) == set(exact) | set(public_ogc), role
    for fid, point in mine_ogc.items():
        if fid in exact:
            assert point == pytest.approx(exact[fid], abs=1e-7)
        else:
            assert point == public_ogc[fid]  # the public form, not the exact point
    assert set(mine_311) == {str(r["id"]) for r in rest} | set(public_311), role
    for rid, record in mine_311.items():
        if rid not in {str(r["id"]) for r in rest}:
            assert record == public_311[rid]
