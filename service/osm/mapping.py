"""The one table that maps OpenStreetMap tags to our station types.

Rules are tried in order and the first that matches wins, so the specific rules come before the
general ones. A rule matches when every key it names is present and, where it lists values, the
feature's value is one of them. OSM allows several values separated by ``;``
(``vending=parcel_mail_in;parcel_pickup``): a rule matches when any of them is listed.

The first key of every rule is its *primary key* (``amenity``, ``shop``, ``post_office``): the
reader asks pyrosm only for features carrying one of those keys (:data:`PRIMARY_KEYS`).

Why each type maps as it does (OSM wiki definitions; Chinese station types after our reference
practice in Changtai, Zhangzhou):

* **elderly_care_centre** (养老服务中心, a residential or day centre run for seniors):
  ``amenity=social_facility`` with ``social_facility=nursing_home`` or ``assisted_living``
  (homes that are, by their OSM definition, mainly for the elderly); any other
  ``amenity=social_facility`` with ``social_facility:for=senior`` (e.g. a ``group_home`` for
  seniors; a ``group_home`` for other groups is *not* elderly care, so it needs the ``for``);
  and the deprecated ``amenity=nursing_home``.
* **home_elderly_care_station** (居家养老服务站, day care and visits for seniors who live at
  home): ``social_facility=day_care`` or ``outreach`` with ``social_facility:for=senior``. This
  rule comes first so a senior day-care centre is not taken for a residential home.
* **childcare** (托幼场所): ``amenity=kindergarten`` and ``amenity=childcare``, and a
  ``social_facility=day_care`` for children (Helsinki has one, tagged that way).
* **parcel_pickup** (快递代收点): ``amenity=parcel_locker``, a vending machine whose ``vending``
  includes ``parcel_pickup``, ``amenity=post_office``, and any shop acting as a post office
  partner (``post_office=post_partner``; these are parcel points in practice). Parcels are the
  more specific service, so a convenience shop that is also a post partner is a parcel point.
* **party_mass_centre** (党群服务中心): ``amenity=community_centre``, the nearest analogue: a
  public building where the neighbourhood meets and public services are offered. OSM has no
  notion of the Party-mass character; the import records the place, not its affiliation.
* **volunteer_station** (爱心志愿站): ``amenity=social_centre`` (a place run by and for its
  members, usually volunteers), and volunteer-run charity points: ``social_facility=food_bank``
  or ``soup_kitchen``.
* **convenience_station** (便民服务站): ``shop=convenience``, the everyday corner shop.
* **red_service_station** (新业态红色服务站, rest points for couriers and ride-hailing drivers run
  with the Party branch): **no OSM analogue**. Nothing in OSM tagging describes such a station;
  it is never imported and must be entered by hand (:data:`UNMAPPED_TYPES`).

Order matters in two places: senior day care comes before the general senior rule, and a food
bank for seniors is a volunteer point, not an elderly care centre.

Left out on purpose: other ``social_facility`` values (e.g. ``outreach`` for people with HIV,
shelters) without a senior or child ``for``, schools, clinics and townhalls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from service.stations.models import StationType

#: Values of ``social_facility:for`` meaning old people (``senior`` is the documented value).
SENIOR = frozenset({"senior", "elderly"})
CHILDREN = frozenset({"child", "children"})


@dataclass(frozen=True)
class TagRule:
    """``tags`` match when each key is present and, for a value set, carries one of the values."""

    station_type: StationType
    match: Mapping[str, frozenset[str] | None]
    why: str

    @property
    def primary_key(self) -> str:
        return next(iter(self.match))

    def matches(self, tags: Mapping[str, str]) -> bool:
        for key, allowed in self.match.items():
            value = tags.get(key)
            if value is None or not str(value).strip():
                return False
            if allowed is not None and not allowed & _values(value):
                return False
        return True


def _values(value: str) -> frozenset[str]:
    return frozenset(v.strip().lower() for v in str(value).split(";") if v.strip())


def _set(*values: str) -> frozenset[str]:
    return frozenset(values)


_T = StationType

#: The mapping table, in priority order (first match wins).
STATION_TAG_RULES: tuple[TagRule, ...] = (
    TagRule(
        _T.HOME_ELDERLY_CARE_STATION,
        {
            "amenity": _set("social_facility"),
            "social_facility": _set("day_care", "outreach"),
            "social_facility:for": SENIOR,
        },
        "day care or outreach for seniors living at home",
    ),
    TagRule(
        _T.ELDERLY_CARE_CENTRE,
        {"amenity": _set("social_facility"), "social_facility": _set("nursing_home", "assisted_living")},
        "a nursing home or assisted living",
    ),
    TagRule(
        _T.VOLUNTEER_STATION,
        {"amenity": _set("social_facility"), "social_facility": _set("food_bank", "soup_kitchen")},
        "a volunteer-run food bank or soup kitchen",
    ),
    TagRule(
        _T.ELDERLY_CARE_CENTRE,
        {"amenity": _set("social_facility"), "social_facility:for": SENIOR},
        "any other social facility for seniors (group home…)",
    ),
    TagRule(_T.ELDERLY_CARE_CENTRE, {"amenity": _set("nursing_home")}, "deprecated tag for a nursing home"),
    TagRule(_T.CHILDCARE, {"amenity": _set("kindergarten", "childcare")}, "kindergarten or childcare"),
    TagRule(
        _T.CHILDCARE,
        {"amenity": _set("social_facility"), "social_facility": _set("day_care"), "social_facility:for": CHILDREN},
        "day care for children",
    ),
    TagRule(_T.PARCEL_PICKUP, {"amenity": _set("parcel_locker")}, "a parcel locker"),
    TagRule(
        _T.PARCEL_PICKUP,
        {"amenity": _set("vending_machine"), "vending": _set("parcel_pickup")},
        "a parcel pick-up machine",
    ),
    TagRule(_T.PARCEL_PICKUP, {"amenity": _set("post_office")}, "a post office"),
    TagRule(_T.PARCEL_PICKUP, {"post_office": _set("post_partner")}, "a shop acting as a post office partner"),
    TagRule(_T.PARTY_MASS_CENTRE, {"amenity": _set("community_centre")}, "a community centre"),
    TagRule(_T.VOLUNTEER_STATION, {"amenity": _set("social_centre")}, "a member-run social centre"),
    TagRule(_T.CONVENIENCE_STATION, {"shop": _set("convenience")}, "a convenience shop"),
)

#: Station types that no OSM tagging describes, with the reason.
UNMAPPED_TYPES: dict[StationType, str] = {
    _T.RED_SERVICE_STATION: "rest points for couriers and riders run with the Party branch have no OSM tagging",
}

#: The tag keys a feature must carry to be considered at all.
PRIMARY_KEYS: tuple[str, ...] = tuple(dict.fromkeys(rule.primary_key for rule in STATION_TAG_RULES))


def rule_for(tags: Mapping[str, str]) -> TagRule | None:
    """The first rule of :data:`STATION_TAG_RULES` that ``tags`` match."""
    return next((rule for rule in STATION_TAG_RULES if rule.matches(tags)), None)


def station_type_for(tags: dict) -> StationType | None:
    """Our station type for a feature with OSM ``tags``, or None when it is not a station."""
    rule = rule_for(tags)
    return rule.station_type if rule else None
