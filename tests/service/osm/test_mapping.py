"""The OSM tag -> station type table: every row, the order between rows, and what is left out."""

from __future__ import annotations

import pytest

from service.osm.mapping import PRIMARY_KEYS, STATION_TAG_RULES, UNMAPPED_TYPES, rule_for, station_type_for
from service.stations.models import StationType as T

#: (tags, expected type). Every row of STATION_TAG_RULES must be hit by at least one case.
CASES: list[tuple[dict[str, str], T | None]] = [
    # elderly care centre
    ({"amenity": "social_facility", "social_facility": "nursing_home"}, T.ELDERLY_CARE_CENTRE),
    ({"amenity": "social_facility", "social_facility": "assisted_living"}, T.ELDERLY_CARE_CENTRE),
    (
        {"amenity": "social_facility", "social_facility": "group_home", "social_facility:for": "senior"},
        T.ELDERLY_CARE_CENTRE,
    ),
    ({"amenity": "social_facility", "social_facility:for": "senior"}, T.ELDERLY_CARE_CENTRE),
    ({"amenity": "nursing_home"}, T.ELDERLY_CARE_CENTRE),
    # home elderly care station: senior day care and outreach, before the general senior rule
    (
        {"amenity": "social_facility", "social_facility": "day_care", "social_facility:for": "senior"},
        T.HOME_ELDERLY_CARE_STATION,
    ),
    (
        {"amenity": "social_facility", "social_facility": "outreach", "social_facility:for": "senior;disabled"},
        T.HOME_ELDERLY_CARE_STATION,
    ),
    # childcare
    ({"amenity": "kindergarten"}, T.CHILDCARE),
    ({"amenity": "childcare", "name": "Päiväkoti"}, T.CHILDCARE),
    ({"amenity": "social_facility", "social_facility": "day_care", "social_facility:for": "child"}, T.CHILDCARE),
    # parcel pick-up
    ({"amenity": "parcel_locker"}, T.PARCEL_PICKUP),
    ({"amenity": "vending_machine", "vending": "parcel_mail_in;parcel_pickup"}, T.PARCEL_PICKUP),
    ({"amenity": "vending_machine", "vending": "parcel_pickup"}, T.PARCEL_PICKUP),
    ({"amenity": "post_office"}, T.PARCEL_PICKUP),
    ({"shop": "convenience", "post_office": "post_partner"}, T.PARCEL_PICKUP),  # parcels win over the shop
    # party-mass service centre
    ({"amenity": "community_centre"}, T.PARTY_MASS_CENTRE),
    ({"amenity": "community_centre", "community_centre": "language_centre"}, T.PARTY_MASS_CENTRE),
    # volunteer station
    ({"amenity": "social_centre"}, T.VOLUNTEER_STATION),
    ({"amenity": "social_facility", "social_facility": "food_bank"}, T.VOLUNTEER_STATION),
    (
        {"amenity": "social_facility", "social_facility": "soup_kitchen", "social_facility:for": "senior"},
        T.VOLUNTEER_STATION,  # a food point for seniors is a volunteer point, not a care centre
    ),
    # convenience station
    ({"shop": "convenience"}, T.CONVENIENCE_STATION),
    ({"shop": "convenience", "opening_hours": "24/7"}, T.CONVENIENCE_STATION),
    # not stations
    ({"amenity": "social_facility", "social_facility": "outreach", "social_facility:for": "diseased"}, None),
    ({"amenity": "social_facility", "social_facility": "group_home", "social_facility:for": "disabled"}, None),
    ({"amenity": "social_facility"}, None),
    ({"amenity": "vending_machine", "vending": "parking_tickets"}, None),
    ({"amenity": "vending_machine", "vending": "parcel_mail_in"}, None),  # sending only, no pick-up
    ({"amenity": "restaurant"}, None),
    ({"amenity": "townhall", "name:zh": "赫尔辛基市政厅"}, None),
    ({"shop": "clothes"}, None),
    ({"amenity": ""}, None),
    ({}, None),
]


@pytest.mark.parametrize(("tags", "expected"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_station_type_for(tags, expected):
    assert station_type_for(tags) == expected


def test_every_row_of_the_table_is_exercised():
    hit = {id(rule_for(tags)) for tags, _ in CASES}
    for rule in STATION_TAG_RULES:
        assert id(rule) in hit, f"no test case reaches the rule {rule.why!r}"


def test_values_match_case_and_space_insensitively_in_lists():
    assert station_type_for({"amenity": " Kindergarten "}) is T.CHILDCARE
    assert station_type_for({"amenity": "vending_machine", "vending": "drinks; Parcel_Pickup"}) is T.PARCEL_PICKUP


def test_every_station_type_is_mapped_or_says_why_not():
    mapped = {rule.station_type for rule in STATION_TAG_RULES}
    assert mapped | set(UNMAPPED_TYPES) == set(T)
    assert not mapped & set(UNMAPPED_TYPES)
    assert UNMAPPED_TYPES.get(T.RED_SERVICE_STATION)


def test_primary_keys_are_what_the_reader_asks_pyrosm_for():
    assert PRIMARY_KEYS == ("amenity", "post_office", "shop")
    for rule in STATION_TAG_RULES:
        assert rule.why and rule.primary_key in PRIMARY_KEYS
