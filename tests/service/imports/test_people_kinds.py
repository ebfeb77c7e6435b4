"""Importing the city's people rosters into an empty city (the demo town's areas and grids loaded
first): grid workers with their grids, volunteers with skills and communities, teams with leaders and
members. Keys are codes or phones; re-imports change nothing; retired people leave the lists and are
never dispatched; phones never appear in a report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from service.areas.models import Area
from service.auth.models import User
from service.grids.models import GridWorker, WorkerRole
from service.requests.assignment import available_volunteers
from service.teams.models import Team, TeamRole
from service.volunteers.models import Volunteer
from tests.support.cityfiles import DISPATCHER, PLANNER, RESIDENT, EmptyCity, csv_bytes, empty_city, xlsx_bytes
from tests.support.demotown import DEMO, load_town

G1, G2, G3 = "350625100001001", "350625100001002", "350625100002001"
C1, C2, C3 = "350625100001", "350625100002", "350625100003"

WORKERS = [
    {
        "工号": "W001",
        "姓名": "陈丽华",
        "手机号": "199-0596-0001",
        "所属网格": f"{G1}、{G2}",
        "职务": "网格长",
        "是否党员": "是",
        "账号": RESIDENT,
    },
    {
        "工号": "W002",
        "姓名": "黄志强",
        "手机号": "19905960002",
        "所属网格": G2,
        "职务": "专职网格员",
        "是否党员": "否",
        "账号": None,
    },
    {
        "工号": None,
        "姓名": "林晓燕",
        "手机号": "+86 199 0596 0003",
        "所属网格": G3,
        "职务": "兼职网格员",
        "是否党员": "党员",
        "账号": None,
    },
]
VOLUNTEERS = [
    {
        "编号": "V001",
        "姓名": "张浩",
        "手机": "170-0596-1001",
        "技能": "水电维修、调解",
        "所属队伍": "红色先锋队",
        "社区代码": C1,
        "网格编码": None,
        "在岗": "是",
        "经度": 117.7512126,
        "纬度": 24.6247208,
        "定位时间": "2026-11-01T08:04:00+08:00",
    },
    {
        "编号": "V002",
        "姓名": "蔡欣",
        "手机": "170-0596-1002",
        "技能": "急救;摄影",
        "所属队伍": "医疗急救队",
        "社区代码": None,
        "网格编码": G3,
        "在岗": "否",
        "经度": None,
        "纬度": None,
        "定位时间": None,
    },
    {
        "编号": None,
        "姓名": "林琴",
        "手机": "0596-8123456",
        "技能": "plumbing",
        "所属队伍": None,
        "社区代码": None,
        "网格编码": None,
        "在岗": "是",
        "经度": 117.7595562,
        "纬度": 24.6194605,
        "定位时间": None,
    },
]
TEAMS = [
    {
        "队伍编号": "T01",
        "队伍名称": "龙津调解队",
        "类型": "调解",
        "社区代码": C1,
        "网格编码": G1,
        "队长手机": "170 0596 1001",
        "成员": "V002、05968123456",
    },
    {
        "队伍编号": "T02",
        "队伍名称": "珪后急救队",
        "类型": "first_aid",
        "社区代码": C2,
        "网格编码": None,
        "队长手机": None,
        "成员": "V002",
    },
]
PHONES = ("05960001", "05960002", "05960003", "05961001", "05961002", "8123456")


def no_phones(report: dict) -> None:
    text = json.dumps(report["problems"] + report["warnings"], ensure_ascii=False)
    for digits in PHONES:
        assert digits not in text.replace("-", "").replace(" ", ""), text


@pytest.fixture(scope="module", params=["spatialite", "postgis"])
def city(request, tmp_path_factory) -> Iterator[EmptyCity]:
    accounts = (PLANNER, DISPATCHER, RESIDENT)
    with empty_city(request.param, tmp_path_factory.mktemp(request.param), accounts=accounts) as c:
        load_town(c, streets=False)
        reports = {}
        for kind, name, data, form in (
            ("grid-workers", "网格员名册.xlsx", xlsx_bytes(WORKERS), {}),
            ("volunteers", "志愿者.csv", csv_bytes(VOLUNTEERS), {"coord_type": "wgs84"}),
            ("teams", "服务队.csv", csv_bytes(TEAMS), {}),
        ):
            r = c.import_file(kind, name, data, **form)
            assert r.status_code == 200, r.text
            reports[kind] = r.json()
        c.reports = reports  # type: ignore[attr-defined]
        yield c


def workers(city: EmptyCity) -> dict[str, GridWorker]:
    with city.db.reader() as s:
        rows = s.scalars(select(GridWorker).options(selectinload(GridWorker.grids))).all()
        return {w.ref: w for w in rows}


def volunteers(city: EmptyCity) -> dict[str, Volunteer]:
    with city.db.reader() as s:
        return {v.ref: v for v in s.scalars(select(Volunteer))}


def community_ids(city: EmptyCity) -> dict[str, int]:
    with city.db.reader() as s:
        return {a.code: a.id for a in s.scalars(select(Area))}


# -- grid workers ----------------------------------------------------------------------------------


def test_the_worker_roster_is_created_keyed_by_code_or_phone(city):
    assert city.reports["grid-workers"]["counts"] == {"created": 3, "updated": 0, "unchanged": 0, "retired": 0}
    assert set(workers(city)) == {"W001", "W002", "phone:19905960003"}


def test_workers_get_their_grids_roles_party_membership_and_account(city):
    w = workers(city)
    assert sorted(g.code for g in w["W001"].grids) == [G1, G2]
    assert [g.code for g in w["W002"].grids] == [G2]
    assert [g.code for g in w["phone:19905960003"].grids] == [G3]
    assert [w[k].role for k in ("W001", "W002", "phone:19905960003")] == [WorkerRole.LEAD] + [WorkerRole.MEMBER] * 2
    assert [w[k].party_member for k in ("W001", "W002", "phone:19905960003")] == [True, False, True]
    with city.db.reader() as s:
        resident = s.scalar(select(User).where(User.username == RESIDENT))
    assert w["W001"].user_id == resident.id and w["W002"].user_id is None


def test_the_grid_workers_list_shows_them_with_their_grids(city):
    with city.client(DISPATCHER) as c:
        listed = c.get("/api/v1/grid-workers").json()
    assert sorted(x["name_zh"] for x in listed) == ["林晓燕", "陈丽华", "黄志强"]


def test_an_unknown_grid_code_is_refused_naming_it_and_nothing_is_saved(city):
    rows = [WORKERS[1] | {"所属网格": f"{G2},350625100009999"}]
    r = city.import_file("grid-workers", "bad.xlsx", xlsx_bytes(rows))
    assert r.status_code == 422, r.text
    problems = r.json()["report"]["problems"]
    assert [(p["field"], p["code"]) for p in problems] == [("grids", "unknown_grid")]
    assert "350625100009999" in problems[0]["message"]
    assert [g.code for g in workers(city)["W002"].grids] == [G2]


def test_a_bad_phone_is_refused_without_repeating_it(city):
    rows = [WORKERS[1] | {"工号": "W009", "手机号": "98765"}, WORKERS[0] | {"职务": "扫地僧"}]
    r = city.import_file("grid-workers", "bad.csv", csv_bytes(rows))
    assert r.status_code == 422, r.text
    report = r.json()["report"]
    assert [(p["feature"], p["field"], p["code"]) for p in report["problems"]] == [
        (0, "phone", "bad_value"),
        (1, "role", "bad_value"),
    ]
    assert "98765" not in json.dumps(report["problems"])
    no_phones(report)


def test_reimporting_the_worker_roster_changes_nothing(city):
    r = city.import_file("grid-workers", "网格员名册.xlsx", xlsx_bytes(WORKERS))
    assert r.status_code == 200, r.text
    assert r.json()["counts"] == {"created": 0, "updated": 0, "unchanged": 3, "retired": 0}
    assert {w.version for w in workers(city).values()} == {1}


# -- volunteers ------------------------------------------------------------------------------------


def test_the_volunteer_roster_is_created_with_skills_mapped_and_unknown_ones_warned(city):
    report = city.reports["volunteers"]
    assert report["counts"] == {"created": 3, "updated": 0, "unchanged": 0, "retired": 0}
    unknown = [w for w in report["warnings"] if w["code"] == "unknown_skill"]
    assert [(w["feature"], w["field"]) for w in unknown] == [(1, "skills")] and "摄影" in unknown[0]["message"]
    v = volunteers(city)
    assert v["V001"].skills == ["plumbing", "electrical", "mediation"]
    assert v["V002"].skills == ["first_aid", "摄影"]
    assert v["phone:05968123456"].skills == ["plumbing"]
    no_phones(report)


def test_volunteers_belong_to_the_community_by_code_grid_or_position(city):
    ids, v = community_ids(city), volunteers(city)
    assert v["V001"].community_id == ids[C1]
    assert v["V002"].community_id == ids[C2]  # G3's community
    assert v["phone:05968123456"].community_id == ids[C3]  # by containment of the position
    assert (v["V001"].team_zh, v["V001"].on_duty, v["V002"].on_duty) == ("红色先锋队", True, False)
    assert v["V001"].position is not None and v["V002"].position is None
    assert v["V001"].position_at == datetime(2026, 11, 1, 0, 4, tzinfo=UTC)  # as the roster says
    assert v["phone:05968123456"].position_at > datetime.now(UTC) - timedelta(hours=1)  # the import's time


def test_reimporting_the_volunteer_roster_changes_nothing(city):
    r = city.import_file("volunteers", "志愿者.csv", csv_bytes(VOLUNTEERS), coord_type="wgs84")
    assert r.status_code == 200, r.text
    assert r.json()["counts"] == {"created": 0, "updated": 0, "unchanged": 3, "retired": 0}
    assert {v.version for v in volunteers(city).values()} == {1}


def test_an_unknown_community_is_refused_naming_the_field(city):
    rows = [VOLUNTEERS[0] | {"社区代码": "350625100099"}]
    r = city.import_file("volunteers", "bad.csv", csv_bytes(rows), coord_type="wgs84")
    assert r.status_code == 422, r.text
    assert [(p["field"], p["code"]) for p in r.json()["report"]["problems"]] == [("community", "unknown_community")]


# -- teams -----------------------------------------------------------------------------------------


def team(city: EmptyCity, code: str) -> Team:
    with city.db.reader() as s:
        found = s.scalar(select(Team).options(selectinload(Team.members)).where(Team.ref == code))
        assert found is not None
        return found


def test_teams_get_their_community_grid_leader_and_members(city):
    assert city.reports["teams"]["counts"] == {"created": 2, "updated": 0, "unchanged": 0, "retired": 0}
    v, ids = volunteers(city), community_ids(city)
    t1 = team(city, "T01")
    assert (t1.name_zh, t1.kind, t1.community_id, t1.active) == ("龙津调解队", "mediation", ids[C1], True)
    assert {m.volunteer_id: m.role for m in t1.members} == {
        v["V001"].id: TeamRole.LEADER,
        v["V002"].id: TeamRole.MEMBER,
        v["phone:05968123456"].id: TeamRole.MEMBER,
    }
    t2 = team(city, "T02")
    assert (t2.kind, t2.grid_id, [m.volunteer_id for m in t2.members]) == ("first_aid", None, [v["V002"].id])


def test_an_unknown_member_is_refused_naming_it_masked(city):
    rows = [TEAMS[0] | {"成员": "V002、V404、13800138000"}]
    r = city.import_file("teams", "bad.csv", csv_bytes(rows))
    assert r.status_code == 422, r.text
    problems = r.json()["report"]["problems"]
    assert [(p["field"], p["code"]) for p in problems] == [("members", "unknown_member")] * 2
    assert "V404" in problems[0]["message"]
    assert "138****8000" in problems[1]["message"] and "13800138000" not in problems[1]["message"]


def test_reimporting_the_teams_changes_nothing_and_a_new_member_list_updates(city):
    r = city.import_file("teams", "服务队.csv", csv_bytes(TEAMS))
    assert r.json()["counts"] == {"created": 0, "updated": 0, "unchanged": 2, "retired": 0}
    r = city.import_file("teams", "服务队.csv", csv_bytes([TEAMS[0], TEAMS[1] | {"成员": "V002、V001"}]))
    assert r.status_code == 200, r.text
    assert r.json()["counts"] == {"created": 0, "updated": 1, "unchanged": 1, "retired": 0}
    assert len(team(city, "T02").members) == 2


# -- changes and retirement (last: they change the city) -------------------------------------------


def test_a_change_of_grids_counts_as_updated_with_a_new_version(city):
    rows = [WORKERS[0], WORKERS[1] | {"所属网格": f"{G2}、{G3}"}, WORKERS[2]]
    r = city.import_file("grid-workers", "网格员名册.xlsx", xlsx_bytes(rows))
    assert r.status_code == 200, r.text
    assert r.json()["counts"] == {"created": 0, "updated": 1, "unchanged": 2, "retired": 0}
    w = workers(city)["W002"]
    assert (w.version, sorted(g.code for g in w.grids)) == (2, [G2, G3])


def test_a_retired_worker_loses_the_grids_and_leaves_the_list(city):
    r = city.import_file("grid-workers", "网格员名册.xlsx", xlsx_bytes(WORKERS[:2]), retire_missing=True)
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["retired"] == 1
    gone = workers(city)["phone:19905960003"]
    assert gone.retired_at is not None and gone.grids == []
    with city.client(DISPATCHER) as c:
        assert sorted(x["name_zh"] for x in c.get("/api/v1/grid-workers").json()) == ["陈丽华", "黄志强"]


def test_a_team_the_file_no_longer_lists_is_retired_as_inactive(city):
    r = city.import_file("teams", "服务队.csv", csv_bytes(TEAMS[:1]), retire_missing=True)
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["retired"] == 1
    assert team(city, "T02").active is False


def dispatchable(city: EmptyCity, skill: str) -> list[str]:
    with city.db.reader() as s:
        found = available_volunteers(s, skill=skill, now=datetime.now(UTC), max_open_cases=5, max_age_minutes=None)
        return [v.ref for v in found]


def test_a_retired_volunteer_is_never_dispatched_nor_listed(city):
    assert dispatchable(city, "plumbing") == ["V001", "phone:05968123456"]
    r = city.import_file("volunteers", "志愿者.csv", csv_bytes(VOLUNTEERS[:2]), coord_type="wgs84", retire_missing=True)
    assert r.status_code == 200, r.text
    assert r.json()["counts"] == {"created": 0, "updated": 0, "unchanged": 2, "retired": 1}
    assert dispatchable(city, "plumbing") == ["V001"]
    with city.client(DISPATCHER) as c:
        listed = c.get("/api/v1/volunteers").json()["features"]
    assert sorted(f["properties"]["name_zh"] for f in listed) == ["张浩", "蔡欣"]


def test_the_demo_rosters_import_through_these_kinds(city):
    r = city.import_file(
        "grid-workers", "grid_workers.csv", (DEMO / "import" / "grid_workers.csv").read_bytes(), dry_run=True
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["counts"]["created"] > 0 and report["counts"]["updated"] == 0
    # the empty city has no party organisations: each branch is warned, never a refusal
    assert {w["code"] for w in report["warnings"]} <= {"unknown_party_org", "encoding_guessed"}
    no_phones(report)
    data = (DEMO / "import" / "volunteers.geojson").read_bytes()
    r = city.import_file("volunteers", "volunteers.geojson", data, coord_type="wgs84", dry_run=True)
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["created"] == 120 and not r.json()["warnings"]


def test_the_kinds_endpoint_lists_the_people_and_station_kinds_with_their_columns(city):
    with city.client() as c:
        kinds = {k["name"]: k for k in c.get("/api/v1/imports/kinds").json()}
    assert {"stations", "grid-workers", "volunteers", "teams"} <= set(kinds)
    fields = {f["name"]: f for f in kinds["grid-workers"]["fields"]}
    assert fields["phone"]["required"] and "手机号" in fields["phone"]["aliases"]
    assert fields["grids"]["type"] == "list" and "所属网格" in fields["grids"]["aliases"]
    assert kinds["volunteers"]["geometry"] == "optional_point" and kinds["teams"]["geometry"] == "none"
