"""Key households over HTTP on both backends: who sees them, every read audited, the building-level
map layer, visits by the caretaker only, a need becoming a request in one step, the overdue list."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from service.audit.models import AuditEntry
from service.households.models import HouseholdVisit
from tests.service.community.support import building_entrance, new_account
from tests.service.helpers import assert_problem
from tests.service.requests.api import unique


def listing(client, **params) -> dict:
    r = client.get("/api/v1/key-households", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def reads_of(backend, household_id: int) -> list[AuditEntry]:
    with backend.db.reader() as s:
        return list(
            s.scalars(
                select(AuditEntry)
                .where(
                    AuditEntry.entity == "key_household",
                    AuditEntry.entity_id == str(household_id),
                    AuditEntry.action.in_(["key_household:read", "key_household:list", "key_household:map"]),
                )
                .order_by(AuditEntry.id)
            )
        )


def test_who_sees_key_households(api, backend, demo):
    everyone = {h["id"] for h in listing(api.as_("dispatcher"))["items"]}
    assert set(demo.all_households) <= everyone
    assert {h["id"] for h in listing(api.as_("admin"))["items"]} == everyone
    # The caretaker sees exactly the households they care for.
    assert {h["id"] for h in listing(api.as_("volunteer1"))["items"]} == set(demo.households_of_volunteer1)
    # Grid workers see their grids' households (and any they care for elsewhere).
    mine = {h["id"] for h in listing(api.as_("gridworker1"))["items"]}
    assert mine == set(demo.households_in_worker1_grid)
    outsider = new_account(backend, "grid_worker", worker_grid=demo.other_grid)
    with outsider.client(backend) as c:
        theirs = {h["id"] for h in listing(c)["items"]}
        assert theirs and not theirs & mine
        assert_problem(c.get(f"/api/v1/key-households/{demo.households_in_worker1_grid[0]}"), 403, "household_id")
    # Nobody else: not residents, planners, departments, volunteers who care for no one, nor the public.
    stranger = new_account(backend, "volunteer", volunteer=True)
    with stranger.client(backend) as c:
        assert_problem(c.get("/api/v1/key-households"), 403)
        assert_problem(c.get(f"/api/v1/key-households/{demo.households_of_volunteer1[0]}"), 403)
    for user in ("resident1", "planner", "dept_zjj"):
        assert_problem(api.as_(user).get("/api/v1/key-households"), 403)
        assert_problem(api.as_(user).get(f"/api/v1/key-households/{demo.all_households[0]}"), 403)
        assert_problem(api.as_(user).get("/api/v1/key-households", params={"format": "geojson"}), 403)
    assert_problem(api.as_(None).get("/api/v1/key-households"), 401)
    assert_problem(api.as_("volunteer1").get(f"/api/v1/key-households/{demo.households_elsewhere[0]}"), 403)
    assert_problem(api.as_("dispatcher").get(f"/api/v1/key-households/{2**31 - 1}"), 404, "household_id")


def test_every_read_is_written_to_the_audit_log(api, backend, demo):
    hid = demo.households_of_volunteer1[0]
    before = len(reads_of(backend, hid))
    one = api.as_("volunteer1").get(f"/api/v1/key-households/{hid}").json()
    assert one["visits"] and one["unit_label"] and one["head_name"]
    listing(api.as_("dispatcher"))
    listing(api.as_("gridworker1"), overdue=True)  # not this household (another grid): no entry
    listing(api.as_("admin"), format="geojson")
    entries = reads_of(backend, hid)[before:]
    assert [(e.actor, e.action) for e in entries] == [
        ("volunteer1", "key_household:read"),
        ("dispatcher", "key_household:list"),
        ("admin", "key_household:map"),
    ]
    assert all(e.actor_user_id and e.role for e in entries)
    # A refused read leaves no entry, and the audit log itself is for admins only.
    assert_problem(api.as_("planner").get(f"/api/v1/key-households/{hid}"), 403)
    assert len(reads_of(backend, hid)) == before + 3
    audit = (
        api.as_("admin")
        .get("/api/v1/audit", params={"entity": "key_household", "entity_id": str(hid), "actor": "admin"})
        .json()
    )
    assert audit[0]["action"] == "key_household:map"
    assert_problem(api.as_("dispatcher").get("/api/v1/audit"), 403)


def test_the_map_layer_is_at_building_level(api, backend, demo):
    fc = listing(api.as_("dispatcher"), format="geojson")
    assert fc["type"] == "FeatureCollection" and fc["features"]
    full = {h["id"]: h for h in listing(api.as_("dispatcher"))["items"]}
    seen = set()
    for f in fc["features"]:
        p = f["properties"]
        assert f["id"] == p["building_id"]
        assert f["geometry"]["type"] == "Point"
        assert tuple(f["geometry"]["coordinates"]) == building_entrance(backend, p["building_id"])
        assert not {"unit_label", "head_name", "phone", "notes", "visits"} & set(p)
        assert p["households"] == len(p["household_ids"]) >= 1
        assert p["overdue"] == sum(full[h]["overdue"] for h in p["household_ids"])
        for h in p["household_ids"]:
            assert full[h]["building_id"] == p["building_id"]
            assert full[h]["unit_label"] not in str(f)
        seen |= set(p["household_ids"])
    assert seen == set(full)
    overdue = listing(api.as_("dispatcher"), format="geojson", overdue=True)["features"]
    assert overdue and all(f["properties"]["overdue"] == f["properties"]["households"] for f in overdue)


def test_the_overdue_list(api, backend, demo):
    data = listing(api.as_("dispatcher"), overdue=True)
    assert data["items"], "the demo has overdue households"
    now = backend.clock()
    for h in data["items"]:
        assert h["overdue"] and h["overdue_days"] > 0
        from datetime import datetime

        last = datetime.fromisoformat(h["last_visit_at"])
        assert now - last > timedelta(days=h["visit_every_days"])
    on_time = listing(api.as_("dispatcher"), overdue=False)["items"]
    assert on_time and not any(h["overdue"] for h in on_time)
    assert len(data["items"]) + len(on_time) == listing(api.as_("dispatcher"))["total"]


def test_visits_by_the_caretaker_and_a_need_raised_as_a_request(api, backend, demo):
    hid = demo.households_of_volunteer1[0]
    household = api.as_("dispatcher").get(f"/api/v1/key-households/{hid}").json()
    r = api.as_("volunteer1").post(
        f"/api/v1/key-households/{hid}/visits",
        json={
            "notes": "老人精神好，厨房水管漏水",
            "needs": [
                {"description": "厨房水管漏水 kitchen pipe leaking", "category": "pipe_leak", "raise_request": True},
                {"description": "想了解居家养老政策"},
            ],
        },
    )
    assert r.status_code == 201, r.text
    visit = r.json()
    api.created.append(visit["needs"][0]["request_id"])
    assert visit["household"]["overdue"] is False and visit["household"]["last_visit_at"] == visit["at"]
    raised = api.get(visit["needs"][0]["request_id"], user="dispatcher")
    assert raised["tracking_code"] == visit["needs"][0]["tracking_code"]
    assert (raised["category"], raised["channel"], raised["building_id"]) == (
        "pipe_leak",
        "patrol",
        household["building_id"],
    )
    assert (raised["lon"], raised["lat"]) == building_entrance(backend, household["building_id"])
    assert raised["reporter_name"] is None and raised["reporter_phone"] is None
    text = str(raised)
    for secret in (household["head_name"], household["unit_label"], household["phone"]):
        assert secret not in text
    assert visit["needs"][1]["request_id"] is None
    detail = api.as_("volunteer1").get(f"/api/v1/key-households/{hid}").json()
    assert detail["visits"][0]["id"] == visit["id"]


def test_only_the_caretaker_and_the_grid_staff_log_visits(api, backend, demo):
    hid = demo.households_of_volunteer1[0]
    visit = {"notes": unique("上门走访")}
    stranger = new_account(backend, "volunteer", volunteer=True)
    with stranger.client(backend) as c:
        assert_problem(c.post(f"/api/v1/key-households/{hid}/visits", json=visit), 403)
    outsider = new_account(backend, "grid_worker", worker_grid=demo.worker1_grid)
    in_other_grid = demo.households_elsewhere[0]
    with outsider.client(backend) as c:
        assert_problem(c.post(f"/api/v1/key-households/{in_other_grid}/visits", json=visit), 403, "household_id")
        ok = c.post(f"/api/v1/key-households/{demo.households_in_worker1_grid[0]}/visits", json=visit)
        assert ok.status_code == 201, ok.text
    assert_problem(
        api.as_("volunteer1").post(f"/api/v1/key-households/{in_other_grid}/visits", json=visit), 403, "household_id"
    )
    for user in ("resident1", "planner", "dept_zjj"):
        assert_problem(api.as_(user).post(f"/api/v1/key-households/{hid}/visits", json=visit), 403)
    assert api.as_("dispatcher").post(f"/api/v1/key-households/{hid}/visits", json=visit).status_code == 201


def test_bad_visits_name_the_field_and_save_nothing(api, backend, demo):
    hid = demo.households_of_volunteer1[0]
    with backend.db.reader() as s:
        visits_before = s.scalar(select(func.count()).select_from(HouseholdVisit))
    url = f"/api/v1/key-households/{hid}/visits"
    client = api.as_("volunteer1")
    future = (backend.clock() + timedelta(hours=2)).isoformat()
    old = (backend.clock() - timedelta(days=40)).isoformat()
    cases = [
        ({"notes": ""}, 422, "notes"),
        ({"notes": "   "}, 422, "notes"),
        ({"notes": "ok", "at": future}, 422, "at"),
        ({"notes": "ok", "at": old}, 422, "at"),
        ({"notes": "ok", "at": "last tuesday"}, 422, "at"),
        ({"notes": "ok", "needs": [{"description": "漏水", "raise_request": True}]}, 422, "needs[0].category"),
        (
            {"notes": "ok", "needs": [{"description": "漏水", "category": "nope", "raise_request": True}]},
            422,
            "needs[0].category",
        ),
        ({"notes": "ok", "needs": [{"description": "   "}]}, 422, "needs[0].description"),
        ({"notes": "ok", "needs": [{"description": "x", "urgent": True}]}, 422, "needs[0].urgent"),
    ]
    for payload, status, field in cases:
        assert_problem(client.post(url, json=payload), status, field)
    with backend.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(HouseholdVisit)) == visits_before


def test_registering_and_changing_households(api, backend, demo, town):
    building_id = next(b for b, p in sorted(town.building_props.items()) if p["grid_id"] == demo.worker1_grid)
    payload = {
        "building_id": building_id,
        "unit_label": "1单元101",
        "head_name": "测试户主",
        "phone": "170-0009-0001",
        "kinds": ["lone_elderly"],
        "caretaker_volunteer_id": demo.volunteer1,
    }
    made = api.as_("gridworker1").post("/api/v1/key-households", json=payload)
    assert made.status_code == 201, made.text
    hh = made.json()
    assert hh["visit_every_days"] == backend.settings.key_household_visit_days == 7
    assert hh["overdue"] is False  # due a week after registration
    other_grid_building = next(b for b, p in sorted(town.building_props.items()) if p["grid_id"] == demo.other_grid)
    assert_problem(
        api.as_("gridworker1").post("/api/v1/key-households", json=payload | {"building_id": other_grid_building}), 403
    )
    assert_problem(api.as_("volunteer1").post("/api/v1/key-households", json=payload), 403)
    no_carer = {k: v for k, v in payload.items() if k != "caretaker_volunteer_id"}
    assert_problem(api.as_("dispatcher").post("/api/v1/key-households", json=no_carer), 422, "caretaker_worker_id")
    assert_problem(
        api.as_("dispatcher").post("/api/v1/key-households", json=payload | {"kinds": ["rich"]}), 422, "kinds[0]"
    )
    assert_problem(api.as_("dispatcher").post("/api/v1/key-households", json=payload | {"kinds": []}), 422, "kinds")
    changed = api.as_("gridworker1").patch(
        f"/api/v1/key-households/{hh['id']}", json={"visit_every_days": 3, "version": hh["version"]}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["visit_every_days"] == 3
    assert_problem(
        api.as_("gridworker1").patch(f"/api/v1/key-households/{hh['id']}", json={"version": hh["version"]}),
        409,
        "version",
    )
    assert_problem(
        api.as_("gridworker1").patch(f"/api/v1/key-households/{hh['id']}", json={"head_name": None}), 422, "head_name"
    )
    # Taken off the register: no longer listed (unless asked for), still audited when read.
    api.as_("gridworker1").patch(f"/api/v1/key-households/{hh['id']}", json={"active": False})
    assert hh["id"] not in {h["id"] for h in listing(api.as_("gridworker1"))["items"]}
    assert hh["id"] in {h["id"] for h in listing(api.as_("gridworker1"), include_inactive=True)["items"]}
