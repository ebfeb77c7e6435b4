"""Importing areas into an empty city: the hierarchy by code, parent field and containment, clipping
to parents, sibling and size warnings, idempotent re-imports with history, and retirement."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from geoalchemy2.shape import to_shape
from shapely.geometry import box, mapping
from sqlalchemy import func, select

from service.areas.models import Area, AreaLevel
from service.audit.models import AuditEntry
from service.imports.models import FeatureVersion, ImportRun
from service.imports.report import ImportRefused
from tests.support.emptydb import EmptyCity, empty_city

W, S, E, N = 117.60, 24.50, 117.70, 24.60
MX, MY = (W + E) / 2, (S + N) / 2


def collection(*features: tuple[dict, object]) -> bytes:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": p, "geometry": mapping(g)} for p, g in features],
        },
        ensure_ascii=False,
    ).encode()


def area(code: str, name: str, geom, **extra) -> tuple[dict, object]:
    return {"code": code, "name": name, **extra}, geom


HIERARCHY = collection(
    area("350699", "示范区", box(W, S, E, N)),
    area("350699100", "东镇", box(MX, S, E, N)),
    area("350699101", "西镇", box(W, S, MX, N)),
    area("350699100001", "东一社区", box(MX, S, E, MY)),
    area("350699100002", "东二社区", box(MX, MY, E, N)),
    area("350699101001", "西一社区", box(W, S, MX, MY)),
    area("350699101002", "西二社区", box(W, MY, MX, N)),
)


@pytest.fixture(scope="module", params=["spatialite", "postgis"])
def city(request, tmp_path_factory) -> Iterator[EmptyCity]:
    with empty_city(request.param, tmp_path_factory.mktemp(request.param)) as c:
        report = c.load("areas", HIERARCHY, "hierarchy.geojson", coord_type="wgs84")
        assert report["counts"]["created"] == 7, report
        yield c


def stored(city: EmptyCity) -> dict[str, Area]:
    with city.db.reader() as s:
        rows = s.scalars(select(Area)).all()
        for a in rows:
            _ = a.parent
        return {a.code: a for a in rows}


def test_levels_and_parents_come_from_the_statistical_codes(city):
    areas = stored(city)
    assert areas["350699"].level is AreaLevel.DISTRICT and areas["350699"].parent_id is None
    assert areas["350699100"].level is AreaLevel.TOWNSHIP and areas["350699100"].parent.code == "350699"
    assert areas["350699101002"].level is AreaLevel.COMMUNITY
    assert areas["350699101002"].parent.code == "350699101"


def test_reimporting_the_same_file_changes_nothing(city):
    before = {c: a.version for c, a in stored(city).items()}
    report = city.load("areas", HIERARCHY, "hierarchy.geojson", coord_type="wgs84")
    assert report["counts"] == {"created": 0, "updated": 0, "unchanged": 7, "retired": 0}
    assert {c: a.version for c, a in stored(city).items()} == before


def test_a_compound_finds_its_community_by_containment_and_is_clipped_within_tolerance(city):
    # 1 m over the community's east edge (the tolerance is 5 m): clipped, no warning
    over = 0.00001
    compound = box(E - 0.002, S + 0.001, E + over, S + 0.003)
    report = city.load(
        "areas", collection(area("C-1", "滨河小区", compound)), "c.geojson", coord_type="wgs84", level="compound"
    )
    assert report["counts"]["created"] == 1 and not report["warnings"], report
    got = stored(city)["C-1"]
    assert got.parent.code == "350699100001"
    assert to_shape(got.geom).bounds[2] == pytest.approx(E, abs=1e-9)


def test_a_child_beyond_the_tolerance_is_kept_and_flagged_outside_its_parent(city):
    compound = box(E - 0.004, S + 0.004, E + 0.001, S + 0.006)  # ~100 m over the edge, 20 % outside
    report = city.load(
        "areas", collection(area("C-2", "越界小区", compound)), "c.geojson", coord_type="wgs84", level="compound"
    )
    codes = [w["code"] for w in report["warnings"]]
    assert codes == ["outside_parent"], report["warnings"]
    warning = report["warnings"][0]
    assert warning["feature_code"] == "C-2" and warning["at"]["wgs84"][0] > E
    assert to_shape(stored(city)["C-2"].geom).bounds[2] == pytest.approx(E + 0.001)


def test_a_parent_field_wins_over_containment_and_an_unknown_parent_is_refused(city):
    inside_west = box(W + 0.001, S + 0.001, W + 0.003, S + 0.003)
    report = city.load(
        "areas",
        collection(area("C-3", "西苑", inside_west, parent_code="350699101001")),
        "c.geojson",
        coord_type="wgs84",
        level="compound",
    )
    assert stored(city)["C-3"].parent.code == "350699101001", report
    with pytest.raises(ImportRefused) as refused:
        city.load(
            "areas",
            collection(area("C-4", "无主小区", inside_west, parent_code="999")),
            "c.geojson",
            coord_type="wgs84",
            level="compound",
        )
    (problem,) = refused.value.extra["report"]["problems"]
    assert (problem["field"], problem["code"], problem["feature"]) == ("parent", "unknown_parent", 0)


def test_a_child_mostly_outside_every_parent_is_refused(city):
    far = box(E + 0.05, S, E + 0.06, S + 0.01)
    with pytest.raises(ImportRefused) as refused:
        city.load("areas", collection(area("C-5", "远方小区", far)), "c.geojson", coord_type="wgs84", level="compound")
    (problem,) = refused.value.extra["report"]["problems"]
    assert problem["code"] == "no_parent" and problem["field"] == "geometry"
    assert "C-5" not in stored(city)


def test_overlapping_siblings_and_an_oversized_compound_are_warned_in_a_dry_run(city):
    overlap = box(MX - 0.01, S, MX + 0.01, N)  # a third township over the other two
    whole_community = box(MX, S, E, MY)  # a "compound" of 27 km²
    report = city.load(
        "areas",
        collection(area("350699102", "中镇", overlap), area("C-BIG", "巨型小区", whole_community, level="compound")),
        "o.geojson",
        coord_type="wgs84",
        dry_run=True,
    )
    by_code = {}
    for w in report["warnings"]:
        by_code.setdefault(w["code"], []).append(w)
    # the township overlaps its sibling townships; the compound the compounds already in its community
    assert {w["feature_code"] for w in by_code["overlap"]} == {"350699102", "C-BIG"}
    assert any(
        "township 350699100 (stored)" in w["message"] for w in by_code["overlap"] if w["feature_code"] == "350699102"
    )
    assert any("compound C-1 (stored)" in w["message"] for w in by_code["overlap"] if w["feature_code"] == "C-BIG")
    assert all(w["at"]["wgs84"] for w in by_code["overlap"])
    assert [w["feature_code"] for w in by_code["oversized"]] == ["C-BIG"]
    assert report["dry_run"] and not report["saved"] and report["counts"]["created"] == 2
    assert "350699102" not in stored(city) and "C-BIG" not in stored(city)


def test_a_changed_name_is_a_new_version_with_its_history(city):
    changed = HIERARCHY.replace("东镇".encode(), "东城街道".encode())
    report = city.load("areas", changed, "hierarchy.geojson", coord_type="wgs84", comment="renamed")
    assert report["counts"]["updated"] == 1 and report["counts"]["unchanged"] == 6
    town = stored(city)["350699100"]
    assert (town.name_zh, town.version) == ("东城街道", 2)
    with city.db.reader() as s:
        kept = s.scalars(select(FeatureVersion).where(FeatureVersion.code == "350699100")).all()
        run = s.get(ImportRun, report["run_id"])
    assert [(k.version, k.change, k.properties["name_zh"]) for k in kept] == [(1, "edit", "东镇")]
    assert run.comment == "renamed" and run.counts["updated"] == 1
    with city.db.reader() as s:
        entry = s.scalar(
            select(AuditEntry).where(AuditEntry.entity == "import:areas", AuditEntry.entity_id == str(run.id))
        )
    assert entry is not None and entry.action == "import" and entry.after["counts"]["updated"] == 1


def test_retire_missing_refuses_to_retire_an_area_that_still_holds_areas(city):
    west_only = collection(area("350699101", "西镇", box(W, S, MX, N)))
    with pytest.raises(ImportRefused) as refused:
        city.load("areas", west_only, "t.geojson", coord_type="wgs84", retire_missing=True)
    (problem,) = refused.value.extra["report"]["problems"]
    assert (problem["code"], problem["field"]) == ("retire_in_use", "retire_missing")
    assert "350699100" in problem["message"] and stored(city)["350699100"].retired_at is None


def test_retire_missing_retires_what_the_file_no_longer_lists_at_its_levels(city):
    tiny = box(W + 0.0101, S + 0.0101, W + 0.0102, S + 0.0102)
    city.load("areas", collection(area("C-7", "旧小区", tiny)), "c.geojson", coord_type="wgs84", level="compound")
    live = [c for c, a in stored(city).items() if a.level is AreaLevel.COMPOUND and a.retired_at is None]
    keep = [c for c in live if c != "C-7"]
    with city.db.reader() as s:
        features = [
            area(a.code, a.name_zh, to_shape(a.geom)) for a in s.scalars(select(Area).where(Area.code.in_(keep)))
        ]
    report = city.load(
        "areas", collection(*features), "c.geojson", coord_type="wgs84", level="compound", retire_missing=True
    )
    assert report["counts"] == {"created": 0, "updated": 0, "unchanged": len(keep), "retired": 1}
    areas = stored(city)
    assert areas["C-7"].retired_at is not None and areas["350699100"].retired_at is None
    # and it comes back, as a new version, when a file lists it again
    again = city.load(
        "areas", collection(area("C-7", "旧小区", tiny)), "c.geojson", coord_type="wgs84", level="compound"
    )
    assert again["counts"]["created"] == 1 and stored(city)["C-7"].retired_at is None


def test_a_duplicate_code_and_a_level_conflict_are_refused_and_nothing_is_saved(city):
    before = stored(city)
    with pytest.raises(ImportRefused) as refused:
        city.load(
            "areas",
            collection(
                area("C-9", "甲", box(W + 0.001, S + 0.001, W + 0.002, S + 0.002)),
                area("C-9", "乙", box(W + 0.003, S + 0.001, W + 0.004, S + 0.002)),
                area("350699100", "东镇", box(MX, S, E, N), level="community"),
            ),
            "dup.geojson",
            coord_type="wgs84",
            level="compound",
        )
    codes = sorted(p["code"] for p in refused.value.extra["report"]["problems"])
    assert codes == ["duplicate_code", "level_conflict"]
    assert stored(city).keys() == before.keys()
    with city.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Area).where(Area.code == "C-9")) == 0
