"""The OGC items query below HTTP: what ``items_query`` accepts, and the OGC exception it raises."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.common.errors import DomainError
from service.ogc.service import MAX_LIMIT, OgcError, OgcNotFound, items_query, provider_of

GRIDS = provider_of("grids")


def test_defaults_and_a_bbox_with_heights_drops_the_heights():
    query = items_query(GRIDS, {"bbox": "117.7,24.6,0,117.8,24.7,10"})
    assert (query.limit, query.offset, query.when) == (100, 0, None)
    assert query.bbox is not None and query.bbox.polygon().bounds == pytest.approx((117.7, 24.6, 117.8, 24.7))


def test_an_open_interval_keeps_its_open_end():
    query = items_query(GRIDS, {"datetime": "2024-01-01T00:00:00Z/.."})
    assert query.when == (datetime(2024, 1, 1, tzinfo=UTC), None)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"colour": "red"}, "unknown query parameter(s): colour"),
        ({"f": "html"}, "f must be one of json, geojson"),
        ({"limit": "0"}, f"limit must be an integer from 1 to {MAX_LIMIT}"),
        ({"offset": "-1"}, "offset must be an integer from 0 to"),
        ({"datetime": "yesterday"}, "datetime must be RFC 3339 (instant or interval)"),
    ],
)
def test_a_bad_parameter_is_an_ogc_400(params, message):
    with pytest.raises(OgcError) as caught:
        items_query(GRIDS, params)
    assert (caught.value.status, caught.value.code) == (400, "InvalidParameterValue")
    assert caught.value.description.startswith(message)


def test_an_unknown_collection_is_an_ogc_404_and_a_domain_error():
    with pytest.raises(OgcNotFound) as caught:
        provider_of("nothing")
    assert isinstance(caught.value, DomainError)
    assert (caught.value.status, caught.value.code, caught.value.description) == (
        404,
        "NotFound",
        "no collection 'nothing'",
    )
