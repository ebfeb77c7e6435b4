"""Service teams and double registration (双报到, "4+1") over HTTP on both backends."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from service.grids.models import Grid
from tests.service.community.support import local_today, new_account
from tests.service.helpers import assert_problem


def test_teams_with_members_and_leaders(api, backend, demo):
    teams = api.as_("volunteer1").get("/api/v1/teams").json()
    names = {t["name_zh"] for t in teams}
    for kind in ("长者调解队", "法律服务队", "扶贫帮困队", "四点半课堂服务队"):
        assert any(n.endswith(kind) for n in names), kind
    assert len(teams) >= 30 and all(t["leader_volunteer_id"] for t in teams)
    mine = api.as_("planner").get("/api/v1/teams", params={"community_id": demo.volunteer1_community}).json()
    assert mine and all(t["community_id"] == demo.volunteer1_community for t in mine)
    team = api.as_("dispatcher").get(f"/api/v1/teams/{mine[0]['id']}").json()
    roles = [m["role"] for m in team["members"]]
    assert roles.count("leader") == 1 and len(roles) == team["member_count"]
    assert all(m["name_zh"] for m in team["members"])
    assert_problem(api.as_("resident1").get("/api/v1/teams"), 403)

    vol = new_account(backend, "volunteer", volunteer=True)
    url = f"/api/v1/teams/{team['id']}/members"
    made = api.as_("admin").put(url, json={"volunteer_id": vol.volunteer_id, "role": "leader"}).json()
    leaders = [m["volunteer_id"] for m in made["members"] if m["role"] == "leader"]
    assert leaders == [vol.volunteer_id] and made["leader_volunteer_id"] == vol.volunteer_id
    assert api.as_("admin").delete(f"{url}/{vol.volunteer_id}").status_code == 204
    assert_problem(api.as_("admin").delete(f"{url}/{vol.volunteer_id}"), 404, "volunteer_id")
    assert_problem(api.as_("volunteer1").put(url, json={"volunteer_id": vol.volunteer_id}), 403)
    assert_problem(api.as_("admin").put(url, json={"volunteer_id": 2**31 - 1}), 422, "volunteer_id")
    created = api.as_("dispatcher").post(
        "/api/v1/teams", json={"name_zh": "测试法律服务队", "kind": "legal", "community_id": demo.volunteer1_community}
    )
    assert created.status_code == 201, created.text
    assert_problem(
        api.as_("dispatcher").post(
            "/api/v1/teams", json={"name_zh": "x", "kind": "legal", "community_id": demo.worker1_grid}
        ),
        422,
        "community_id",
    )


def test_double_registration_and_the_4_plus_1_duties(api, backend, demo):
    data = api.as_("dispatcher").get("/api/v1/party-registrations").json()
    assert data["rule"] == {"party_meeting": 1, "cadre_talk": 1, "survey": 1, "volunteer_day": 1}
    assert data["total"] >= 60 and 0 < data["short"] < data["total"]
    for item in data["items"]:
        assert item["short"] == any(item["duties"][k] < 1 for k in data["rule"])
        assert item["missing"] == [k for k in data["rule"] if item["duties"][k] < 1]
    short = api.as_("dispatcher").get("/api/v1/party-registrations", params={"short": True}).json()["items"]
    assert short and all(i["short"] for i in short) and len(short) == data["short"]

    with backend.db.reader() as s:
        community = s.scalar(select(Grid.community_id).where(Grid.id == demo.worker1_grid))
    today = local_today(backend.clock())
    reg = api.as_("gridworker1").post(
        "/api/v1/party-registrations",
        json={"name_zh": "测试党员", "work_unit_zh": "长泰区教育局", "community_id": community},
    )
    assert reg.status_code == 201, reg.text
    reg = reg.json()
    assert reg["short"] and reg["missing"] == list(data["rule"])
    url = f"/api/v1/party-registrations/{reg['id']}/duties"
    for kind in data["rule"]:
        out = api.as_("gridworker1").post(url, json={"kind": kind, "done_on": today.isoformat()})
        assert out.status_code == 201, out.text
    assert out.json()["short"] is False and out.json()["missing"] == []
    assert_problem(
        api.as_("gridworker1").post(url, json={"kind": "survey", "done_on": (today + timedelta(days=2)).isoformat()}),
        422,
        "done_on",
    )
    assert_problem(
        api.as_("gridworker1").post(url, json={"kind": "survey", "done_on": (today - timedelta(days=400)).isoformat()}),
        422,
        "done_on",
    )
    assert_problem(
        api.as_("gridworker1").post(url, json={"kind": "karaoke", "done_on": today.isoformat()}), 422, "kind"
    )
    for user in ("volunteer1", "resident1", "planner"):
        assert_problem(api.as_(user).get("/api/v1/party-registrations"), 403)
