"""Possible duplicates: same category within 100 m and 24 h are flagged, never dropped; merge links them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from service.requests.models import ServiceRequest
from tests.service.requests.api import Api, body
from tests.service.requests.geodata import metres_between, offset
from tests.support.town import Town

CATEGORY = "greenery_damage"


def suggested(req: dict) -> dict[int, dict]:
    return {d["request_id"]: d for d in req["duplicates"]}


def stored(api: Api, *ids: int) -> int:
    with api.backend.db.reader() as s:
        return s.scalar(select(func.count()).select_from(ServiceRequest).where(ServiceRequest.id.in_(ids)))


def test_the_same_kind_nearby_is_created_and_flagged_then_merged(api, town: Town):
    """60 m away and minutes later: a second row exists, with a suggestion naming the first and the
    distance; a different kind or 150 m away is not suggested; merging marks it merged into the first."""
    here = town.inner_point(sorted(town.grids)[6], seed=5)
    first = api.create(body(CATEGORY, here))
    near = offset(*here, east_m=60)
    second = api.create(body(CATEGORY, near))
    assert second["id"] != first["id"] and stored(api, first["id"], second["id"]) == 2
    flagged = suggested(second)
    assert first["id"] in flagged
    assert abs(flagged[first["id"]]["distance_m"] - metres_between(here, near)) < 0.5
    assert flagged[first["id"]]["status"] == "reported"
    assert first["id"] in suggested(api.get(second["id"]))  # shown to the dispatcher too

    other_kind = api.create(body("littering", offset(*here, north_m=20)))
    assert first["id"] not in suggested(other_kind)
    far = api.create(body(CATEGORY, offset(*here, east_m=-150)))
    assert metres_between(here, (far["lon"], far["lat"])) > 149
    assert first["id"] not in suggested(far)

    merged = api.act(second["id"], "merge", duplicate_of=first["id"], note="同一处绿化损毁")
    assert merged["status"] == "merged" and merged["duplicate_of"] == first["id"]
    assert api.get(first["id"])["status"] == "reported"  # the original lives on
    # A merged or rejected case is no longer offered as a duplicate.
    third = api.create(body(CATEGORY, offset(*here, north_m=-30)))
    assert first["id"] in suggested(third) and second["id"] not in suggested(third)


def test_a_report_more_than_24_hours_later_is_not_a_duplicate(api, town: Town, clock):
    """23 h later the same spot is still flagged; 25 h later it is not (the window is on app time)."""
    here = town.inner_point(sorted(town.grids)[12], seed=8)
    first = api.create(body(CATEGORY, here))
    clock.advance(timedelta(hours=23))
    within = api.create(body(CATEGORY, here))
    assert first["id"] in suggested(within)
    assert abs(suggested(within)[first["id"]]["hours_apart"] - 23) < 0.05
    clock.advance(timedelta(hours=2))
    later = api.create(body(CATEGORY, here))
    assert first["id"] not in suggested(later)
    assert within["id"] in suggested(later)
