"""Boundary editing on the planner's map in a real browser, checked through the HTTP API afterwards.

Each test has a database of its own (``private_backend``), so its edits disturb no other test. The
planner drags vertices with the mouse (Leaflet-Geoman's vertex markers), previews, comments and
saves; what counts is the state the API reports afterwards.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from shapely.geometry import LineString, Point, Polygon, shape

from tests.browser.browser import sign_in, wait_until
from tests.service.grids.town import gj, grids_of, history_of, metric, polygons, same_shape, with_extra_vertex
from tests.support.backends import DEMO_PASSWORD
from tests.support.town import Town

pytestmark = pytest.mark.browser
DRAG_PX = 30  # how far the planner drags a vertex
SNAP_PX = 15  # the editor's snapping distance: targets further from everything else stay where dropped


@pytest.fixture
def planner(private_backend) -> Iterator:
    with private_backend.client("planner") as c:
        yield c


def open_editor(page: Page, backend) -> None:
    page.goto(f"{backend.base_url}/map/planner?lang=en")
    sign_in(page, "planner", DEMO_PASSWORD)
    wait_until(page, "window.NGPlanner && NGPlanner.ready")


def pick_grid(page: Page, grid_id: int) -> None:
    """Click the grid's row in the table (selects it and fits the map to it)."""
    page.click(f'#ng-grid-table tbody tr[data-id="{grid_id}"]')
    wait_until(page, "(id) => NGPlanner.editor.selected === id", arg=grid_id)
    page.wait_for_timeout(400)  # the fit animation


def households_after(page: Page, grid_id: int) -> int:
    """The households the preview's table gives a grid after the edit."""
    row = page.locator(f'#ng-edit-households tbody tr[data-grid="{grid_id}"]')
    expect(row).to_have_count(1)
    return int(row.locator("td").nth(2).inner_text())


def screen(page: Page, lon: float, lat: float) -> tuple[float, float]:
    return tuple(
        page.evaluate(
            """([lon, lat]) => { const p = NG.map.latLngToContainerPoint(NG.toMap(lon, lat));
               const r = NG.map.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }""",
            [lon, lat],
        )
    )


def lonlat(page: Page, x: float, y: float) -> tuple[float, float]:
    return tuple(
        page.evaluate(
            """([x, y]) => { const r = NG.map.getContainer().getBoundingClientRect();
               return NG.fromMap(NG.map.containerPointToLatLng([x - r.left, y - r.top])); }""",
            [x, y],
        )
    )


def free_area(page: Page) -> tuple[float, float, float, float]:
    """The part of the screen where the map is not under the panel: (left, top, right, bottom)."""
    return tuple(
        page.evaluate(
            """() => { const m = NG.map.getContainer().getBoundingClientRect();
               const p = document.getElementById('ng-panel').getBoundingClientRect();
               return [m.left + 60, m.top + 20, Math.min(m.right, p.left) - 20, m.bottom - 40]; }"""
        )
    )


def metres_per_px(page: Page, at: tuple[float, float]) -> float:
    x, y = screen(page, *at)
    a, b = lonlat(page, x, y), lonlat(page, x + 100, y)
    return metric(LineString([a, b])).length / 100


def drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=12)
    page.mouse.up()
    page.wait_for_timeout(200)


def ring_of(geom) -> list[tuple[float, float]]:
    return list(polygons(geom)[0].exterior.coords)[:-1]


def vertices(geom) -> set[tuple[float, float]]:
    return {xy for p in polygons(geom) for xy in p.exterior.coords}


def moved_ring(ring: list, i: int, to: tuple[float, float]) -> Polygon:
    return Polygon([to if j == i else xy for j, xy in enumerate(ring)])


def plan_drag(page: Page, town: Town, want_inside: bool):
    """A vertex to drag DRAG_PX on screen and where to: for ``want_inside`` a vertex two grids share
    (and no third one), inside its community, moved into the second grid, both grids staying valid;
    otherwise a vertex on the community outline moved out of the community. The drop point is
    further than the snapping distance from every other boundary, so it stays where it is dropped.
    Returns (grid, other grid or None, vertex, drop point in lon/lat, screen start, screen end)."""
    owners: dict[tuple[float, float], set[int]] = {}
    for gid, geom in town.grids.items():
        for xy in ring_of(geom):
            owners.setdefault(xy, set()).add(gid)
    for gid in sorted(town.grids):
        region = town.communities[town.community_of(gid)]
        ring = ring_of(town.grids[gid])
        picked = False
        for i, v in enumerate(ring):
            mine = owners.get(v, set())
            on_outline = metric(region.boundary).distance(metric(Point(v))) < 0.05
            if want_inside and (len(mine) != 2 or on_outline):
                continue
            if not want_inside and (mine != {gid} or not on_outline):
                continue
            other = next(iter(mine - {gid}), None)
            if not picked:
                pick_grid(page, gid)
                picked = True
            left, top, right, bottom = free_area(page)
            start = screen(page, *v)
            if not (left < start[0] < right and top < start[1] < bottom):
                continue
            prev, nxt = screen(page, *ring[i - 1]), screen(page, *ring[(i + 1) % len(ring)])
            dx, dy = nxt[0] - prev[0], nxt[1] - prev[1]
            norm = (dx * dx + dy * dy) ** 0.5 or 1.0
            for sign in (1, -1):
                end = (start[0] + sign * DRAG_PX * -dy / norm, start[1] + sign * DRAG_PX * dx / norm)
                if not (left < end[0] < right and top < end[1] < bottom):
                    continue
                to = lonlat(page, *end)
                snap_m = SNAP_PX * metres_per_px(page, to) * 1.5
                drop = Point(to)
                if want_inside:
                    if not town.grids[other].contains(drop):
                        continue
                    new_a, new_b = moved_ring(ring, i, to), _moved_shared(town.grids[other], v, to)
                    if not (new_a.is_valid and new_b.is_valid):
                        continue
                    rest = [town.grids[g] for g in town.grids if g not in (gid, other)]
                else:
                    if region.covers(drop) or not moved_ring(ring, i, to).is_valid:
                        continue
                    rest = [town.grids[g] for g in town.grids if g != gid]
                near = [metric(g.boundary).distance(metric(drop)) for g in rest]
                near.append(metric(region.boundary).distance(metric(drop)))
                if want_inside:  # the two grids' own other edges must not catch the drop either
                    others_edges = [e for e in _edges(town.grids[gid]) + _edges(town.grids[other]) if v not in e.coords]
                    near += [metric(e).distance(metric(drop)) for e in others_edges]
                if min(near) > snap_m:
                    return gid, other, v, to, start, end
    raise AssertionError("no vertex to drag")


def _edges(geom) -> list[LineString]:
    ring = ring_of(geom)
    ring = [*ring, ring[0]]
    return [LineString([a, b]) for a, b in itertools.pairwise(ring)]


def _moved_shared(geom, v, to) -> Polygon:
    ring = ring_of(geom)
    return moved_ring(ring, ring.index(v), to)


def test_dragging_a_shared_vertex_moves_it_for_both_grids_after_a_preview(private_backend, planner, page):
    town = Town.load(planner)
    before = grids_of(planner)
    open_editor(page, private_backend)
    page.click("#ng-edit-reshape")
    a, b, vertex, target, start, end = plan_drag(page, town, want_inside=True)
    expect(page.locator(".marker-icon:not(.marker-icon-middle)").first).to_be_visible()
    pixel_m = metres_per_px(page, target)  # Leaflet places markers on whole pixels
    drag(page, start, end)

    # both grids are pending; nothing is saved yet, and Save waits for a preview
    codes = {g: before[g]["properties"]["code"] for g in (a, b)}
    expect(page.locator("#ng-edit-pending")).to_contain_text(codes[a])
    expect(page.locator("#ng-edit-pending")).to_contain_text(codes[b])
    expect(page.locator("#ng-edit-save")).to_be_disabled()
    assert grids_of(planner)[a]["properties"]["version"] == before[a]["properties"]["version"]

    page.click("#ng-edit-preview")
    expect(page.locator("#ng-edit-valid")).to_be_visible()
    table = page.locator("#ng-edit-households tbody tr")
    shown = {
        row[0]: (row[1], row[2]) for row in (table.nth(i).locator("td").all_inner_texts() for i in range(table.count()))
    }
    community = town.community_of(a)
    siblings = {f["properties"]["code"] for f in before.values() if f["properties"]["community_id"] == community}
    assert set(shown) == siblings
    for f in before.values():  # "before" is what the API reports now
        if f["properties"]["community_id"] == community:
            assert shown[f["properties"]["code"]][0] == str(f["properties"]["households"])

    # a comment is required; then it saves
    page.click("#ng-edit-save")
    expect(page.locator("#ng-edit-error")).to_be_visible()
    assert grids_of(planner)[a]["properties"]["version"] == before[a]["properties"]["version"]
    page.fill("#ng-edit-comment", "moved the corner to the new compound wall")
    page.click("#ng-edit-save")
    expect(page.locator("#ng-edit-applied")).to_be_visible()

    after = grids_of(planner)
    for g in (a, b):
        assert after[g]["properties"]["version"] == before[g]["properties"]["version"] + 1
        assert history_of(planner, g)[-1]["properties"]["comment"] == "moved the corner to the new compound wall"
    for g in set(before) - {a, b}:
        assert after[g]["properties"]["version"] == before[g]["properties"]["version"]
        assert after[g]["geometry"] == before[g]["geometry"]
    new = {g: vertices(shape(after[g]["geometry"])) - vertices(shape(before[g]["geometry"])) for g in (a, b)}
    assert len(new[a]) == 1 and new[a] == new[b], "both grids got the same new vertex"
    moved_to = next(iter(new[a]))
    assert metric(LineString([moved_to, target])).length < pixel_m, "the vertex is where the planner dropped it"
    for g in (a, b):
        assert vertices(shape(after[g]["geometry"])) - {moved_to} == vertices(shape(before[g]["geometry"])) - {vertex}
    # the households per grid the preview announced are the ones the API now reports
    for f in after.values():
        if f["properties"]["community_id"] == community:
            assert shown[f["properties"]["code"]][1] == str(f["properties"]["households"])


def test_an_edit_outside_the_community_shows_the_problem_and_saves_nothing(private_backend, planner, page):
    town = Town.load(planner)
    before = grids_of(planner)
    history_before = {g: len(history_of(planner, g)) for g in before}
    open_editor(page, private_backend)
    page.click("#ng-edit-reshape")
    a, _, _, _, start, end = plan_drag(page, town, want_inside=False)
    drag(page, start, end)
    page.click("#ng-edit-preview")

    issue = page.locator('#ng-edit-issues li[data-rule="outside_community"]')
    expect(issue).to_be_visible()
    expect(issue).to_contain_text(before[a]["properties"]["code"])
    expect(page.locator("path.ng-issue-shape").first).to_be_attached()  # shown on the map too
    page.fill("#ng-edit-comment", "try to stretch the grid across the road")
    expect(page.locator("#ng-edit-save")).to_be_disabled()

    assert grids_of(planner) == before
    assert {g: len(history_of(planner, g)) for g in before} == history_before

    page.click("#ng-edit-discard")  # back to the stored outline
    wait_until(page, "NGPlanner.editor.changed.size === 0")
    assert not page.evaluate("NGPlanner.editor.dirty()")


def test_split_along_a_drawn_line_then_merge_back(private_backend, planner, page):
    town = Town.load(planner)
    before = grids_of(planner)
    open_editor(page, private_backend)
    page.uncheck("#ng-edit-snap")  # the cut's ends go exactly where the planner clicks
    gid = min(town.grids, key=lambda g: before[g]["properties"]["code"])
    geom = town.grids[gid]
    pick_grid(page, gid)
    page.click("#ng-edit-split")
    # a horizontal cut through the middle, from 30 px left of the grid to 30 px right of it
    minx, _, maxx, _ = geom.bounds
    mid = geom.representative_point()
    y = screen(page, mid.x, mid.y)[1]
    left, right = screen(page, minx, mid.y)[0] - 30, screen(page, maxx, mid.y)[0] + 30
    page.mouse.click(left, y)
    page.mouse.click(right, y)
    page.mouse.click(right, y)  # clicking the last point again finishes the line
    # the cut is previewed (validation and impact) before anything is saved
    expect(page.locator("#ng-edit-valid")).to_be_visible()
    expect(page.locator("#ng-edit-households")).to_be_visible()
    preview_after = households_after(page, gid)
    assert grids_of(planner) == before
    page.fill("#ng-edit-comment", "split the grid at the new road")
    page.click("#ng-edit-save")
    expect(page.locator("#ng-edit-applied")).to_be_visible()

    after = grids_of(planner)
    assert after[gid]["properties"]["households"] == preview_after  # the preview said what happened
    new_ids = set(after) - set(before)
    assert len(new_ids) >= 1
    assert after[gid]["properties"]["version"] == before[gid]["properties"]["version"] + 1
    prefix = before[gid]["properties"]["code"][:-3]
    for n in new_ids:
        assert after[n]["properties"]["code"].startswith(prefix)
        assert after[n]["properties"]["code"] not in {f["properties"]["code"] for f in before.values()}
    pieces = [shape(after[g]["geometry"]) for g in {gid, *new_ids}]
    assert abs(sum(metric(p).area for p in pieces) - metric(geom).area) < 1.0
    line_y = lonlat(page, left, y)[1]
    for p in pieces:  # each piece lies on one side of the cut
        lo, hi = p.bounds[1], p.bounds[3]
        assert hi <= line_y + 1e-6 or lo >= line_y - 1e-6

    # merge them back: pick the two grids, comment, merge
    (other,) = new_ids if len(new_ids) == 1 else sorted(new_ids)[:1]
    page.click("#ng-edit-merge")
    pick_grid(page, gid)
    pick_grid(page, other)
    expect(page.locator("#ng-edit-merge-list")).to_contain_text(after[other]["properties"]["code"])
    expect(page.locator("#ng-edit-valid")).to_be_visible()  # the merge's preview
    merged_households = households_after(page, gid)
    assert merged_households == sum(after[g]["properties"]["households"] for g in (gid, other))
    page.fill("#ng-edit-comment", "the road was not built after all")
    page.click("#ng-edit-save")
    expect(page.locator("#ng-edit-applied")).to_be_visible()
    final = grids_of(planner)
    assert other not in final  # retired
    assert final[gid]["properties"]["version"] == after[gid]["properties"]["version"] + 1
    if len(new_ids) == 1:
        assert metric(shape(final[gid]["geometry"]).symmetric_difference(geom)).area < 1.0


def test_a_stale_version_is_refused_with_a_message_and_history_reverts(private_backend, planner, page, guard):
    guard.allow(r"status of 412 \(Precondition Failed\)")  # the browser logs the refused save
    town = Town.load(planner)
    before = grids_of(planner)
    open_editor(page, private_backend)
    page.click("#ng-edit-reshape")
    a, b, _, _, start, end = plan_drag(page, town, want_inside=True)
    drag(page, start, end)
    page.click("#ng-edit-preview")
    expect(page.locator("#ng-edit-valid")).to_be_visible()

    # meanwhile another planner adds a vertex to grid a through the API
    elsewhere = with_extra_vertex(town.grids[a])
    r = planner.put(
        f"/api/v1/grids/{a}/geometry",
        json={"geometry": gj(elsewhere), "comment": "surveyed corner"},
        headers={"If-Match": f'"{before[a]["properties"]["version"]}"'},
    )
    assert r.status_code == 200, r.text
    page.fill("#ng-edit-comment", "my edit, from an old version")
    page.click("#ng-edit-save")
    expect(page.locator("#ng-edit-stale")).to_contain_text(before[a]["properties"]["code"])

    after = grids_of(planner)
    assert after[a]["properties"]["version"] == before[a]["properties"]["version"] + 1
    saved = shape(after[a]["geometry"])
    assert same_shape(saved, elsewhere) and len(vertices(saved)) == len(vertices(elsewhere))
    assert after[b] == before[b], "the neighbour was not touched either"
    assert not page.evaluate("NGPlanner.editor.dirty()"), "the page reloaded the grids"

    # the history of grid a lists both versions; return to the first
    versions = page.locator("#ng-edit-versions li")
    expect(versions).to_have_count(2)
    page.click('#ng-edit-versions li[data-version="1"] .ng-revert')
    expect(page.locator("#ng-revert-message")).to_contain_text(page.evaluate("NG.t('edit.comment_required')"))
    page.fill("#ng-revert-comment", "the corner survey was wrong")
    page.click('#ng-edit-versions li[data-version="1"] .ng-revert')
    expect(page.locator("#ng-edit-applied")).to_be_visible()
    final = grids_of(planner)
    assert final[a]["properties"]["version"] == before[a]["properties"]["version"] + 2
    assert vertices(shape(final[a]["geometry"])) == vertices(shape(before[a]["geometry"]))
    last = history_of(planner, a)[-1]["properties"]
    assert (last["change"], last["comment"], last["changed_by"]) == ("revert", "the corner survey was wrong", "planner")
    expect(versions).to_have_count(3)
