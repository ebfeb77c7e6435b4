from __future__ import annotations

import pytest

from geo.bbox import BBox, parse_bbox
from geo.errors import GeoInputError


def test_parse_bbox():
    assert parse_bbox("117.7, 24.6,117.8,24.7") == BBox(117.7, 24.6, 117.8, 24.7)
    assert parse_bbox("1,2,1,2").polygon().area == 0  # a degenerate box is a point query


@pytest.mark.parametrize(
    "text",
    [
        "1,2,3",
        "a,b,c,d",
        "1,2,3,4,5",
        "nan,0,1,1",
        "0,0,inf,1",
        "0,0,181,1",
        "0,-91,1,1",
        "2,0,1,1",
        "0,2,1,1",
        "",
    ],
)
def test_bad_bbox_is_rejected_with_the_field_named(text):
    with pytest.raises(GeoInputError) as err:
        parse_bbox(text)
    assert err.value.field == "bbox"
