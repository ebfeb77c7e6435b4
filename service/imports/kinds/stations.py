"""Stations: the bureau's station lists (Excel or CSV with lon/lat, often GCJ-02 from Amap or BD-09
from Baidu, or GeoJSON points), by code.

A station's type may be written as our type value, its English label, or the Chinese name cities
use (养老服务中心, 日间照料中心, 托育, 菜鸟驿站, 党群服务中心…). Its community is the stored community
holding it; a station in none is kept with a warning (it may serve from just outside). Created or
moved stations get fresh service circles; retired ones lose theirs and leave the finder.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import shapely
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree
from sqlalchemy import delete, select

from geo.crs import LocalProjection
from service.areas.models import Area, AreaLevel
from service.events.outbox import publish
from service.imports.context import Feature, ImportContext
from service.imports.saving import Wanted, same_geometry, save_by_code, stored_shape
from service.imports.spec import FieldSpec, KindSpec
from service.stations.circles import rebuild_station_circles
from service.stations.models import STATION_TYPE_LABELS, Station, StationCircle, StationType

#: Two stations of one type closer than this are probably the same station listed twice.
DUPLICATE_WITHIN_M = 5.0
#: A station farther than this from every stored area is probably in the wrong place (or CRS).
FAR_FROM_AREAS_M = 2000.0

T = StationType
#: What cities write in a type column (besides our values and labels), to our types.
TYPE_WORDS: dict[str, StationType] = {
    **{
        w: T.ELDERLY_CARE_CENTRE
        for w in (
            "养老服务中心",
            "综合养老服务中心",
            "区域养老服务中心",
            "养老院",
            "敬老院",
            "养老机构",
            "社会福利院",
            "福利院",
            "elderly care center",
            "nursing home",
            "elderly care",
        )
    },
    **{
        w: T.HOME_ELDERLY_CARE_STATION
        for w in (
            "居家养老服务站",
            "居家养老服务中心",
            "居家养老",
            "社区居家养老服务站",
            "日间照料中心",
            "老年人日间照料中心",
            "社区日间照料中心",
            "日间照料站",
            "幸福院",
            "农村幸福院",
            "长者食堂",
            "老年食堂",
            "home care station",
            "elderly day care",
            "day care centre",
            "day care center",
        )
    },
    **{
        w: T.CHILDCARE
        for w in (
            "托幼场所",
            "托育",
            "托育机构",
            "托育中心",
            "托育服务中心",
            "托幼",
            "托儿所",
            "幼儿",
            "幼儿园",
            "早教",
            "kindergarten",
            "nursery",
            "child care",
        )
    },
    **{
        w: T.CONVENIENCE_STATION
        for w in (
            "便民服务站",
            "便民服务中心",
            "便民服务点",
            "便民服务",
            "便民",
            "convenience station",
            "service station",
        )
    },
    **{
        w: T.PARCEL_PICKUP
        for w in (
            "快递代收点",
            "快递驿站",
            "菜鸟驿站",
            "妈妈驿站",
            "快递服务站",
            "快递点",
            "快递",
            "驿站",
            "parcel point",
            "parcel pickup point",
            "parcel",
            "pickup point",
        )
    },
    **{
        w: T.VOLUNTEER_STATION
        for w in ("爱心志愿站", "志愿服务站", "志愿者服务站", "志愿站", "志愿服务", "volunteer station", "volunteers")
    },
    **{
        w: T.RED_SERVICE_STATION
        for w in (
            "新业态红色服务站",
            "红色服务站",
            "红色驿站",
            "新就业群体服务站",
            "新业态服务站",
            "户外劳动者服务站",
            "暖心驿站",
            "red service station",
        )
    },
    **{
        w: T.PARTY_MASS_CENTRE
        for w in (
            "党群服务中心",
            "党群服务站",
            "党群活动中心",
            "党群服务驿站",
            "党建服务中心",
            "party mass centre",
            "party-mass centre",
            "party mass center",
        )
    },
}
for _type, (_zh, _en) in STATION_TYPE_LABELS.items():
    TYPE_WORDS[_type.value] = _type
    TYPE_WORDS[_zh] = _type
    TYPE_WORDS[_en.lower()] = _type
#: Longest first, for a type cell that holds more than one of the words (``社区居家养老服务照料中心``).
_KEYWORDS = sorted((w for w in TYPE_WORDS if not w.isascii()), key=len, reverse=True)


def station_type(text: str) -> StationType | None:
    """The station type a cell names (None: none of ours)."""
    word = re.sub(r"[\s_\-]+", " ", text.strip().lower()).strip()
    found = TYPE_WORDS.get(word) or TYPE_WORDS.get(word.replace(" ", "_")) or TYPE_WORDS.get(word.replace(" ", ""))
    if found is not None:
        return found
    found = TYPE_WORDS.get(word.replace("center", "centre"))
    if found is not None:
        return found
    return next((TYPE_WORDS[k] for k in _KEYWORDS if k in word), None)


ACCEPTED_TYPES = ", ".join(f"{t.value} ({zh})" for t, (zh, _en) in STATION_TYPE_LABELS.items())

FIELDS = {
    "code": FieldSpec(
        ("code", "ref", "编号", "站点编号", "站点代码", "编码", "代码", "id", "bm"),
        required=True,
        max_length=80,
        description="the station's code in the city's list (re-imports match on it)",
    ),
    "type": FieldSpec(
        ("type", "station_type", "类型", "站点类型", "服务类型", "类别", "lx"),
        required=True,
        max_length=60,
        description="a station type (" + ", ".join(t.value for t in StationType) + ") or its Chinese name",
    ),
    "name": FieldSpec(("name_zh", "name", "名称", "站点名称", "机构名称", "mc"), required=True),
    "name_en": FieldSpec(("name_en", "英文名称", "ename"), description="English name"),
    "opening_hours": FieldSpec(
        ("opening_hours", "hours", "营业时间", "开放时间", "服务时间"),
        description="opening hours (OSM syntax preferred)",
    ),
    "capacity": FieldSpec(("capacity", "容量", "床位", "床位数", "托位", "托位数"), type="int"),
    "address": FieldSpec(("address_zh", "address", "地址", "详细地址", "dz"), max_length=300),
    "community": FieldSpec(
        ("community_code", "community", "社区代码", "社区编码", "所属社区代码"),
        max_length=32,
        description="the community's code (else the community holding the point)",
    ),
    "phone": FieldSpec(
        ("contact_phone", "phone", "电话", "联系电话", "服务电话", "tel"),
        max_length=40,
        description="the station's public contact number",
    ),
}


def run(ctx: ImportContext) -> None:
    """Check every station (type, duplicate codes and places, community), then save by code."""
    stored: dict[str, Station] = {
        s.ref or "": s for s in ctx.session.scalars(select(Station).where(Station.ref.is_not(None)))
    }
    types: dict[Feature, StationType] = {}
    seen: dict[str, Feature] = {}
    for f in ctx.features:
        word = f.values.get("type")
        if word is not None:
            found = station_type(str(word))
            if found is None:
                ctx.problem(f, "type", "bad_value", f"the type is no station type; use one of {ACCEPTED_TYPES}")
            else:
                types[f] = found
        ctx.first_with_code(seen, f)
    placed = [f for f in seen.values() if f.ok and f.geom is not None and f in types]
    communities = _communities(ctx, placed)
    _duplicate_places(ctx, placed, types, stored)
    if ctx.report.problems:
        return
    _save(ctx, placed, types, communities, stored)


def _communities(ctx: ImportContext, placed: list[Feature]) -> dict[Feature, Area | None]:
    """Each station's community: the one its community code names, else the one holding it; a
    station outside its community, or in none, is kept with a warning (it may serve from outside)."""
    areas = list(ctx.session.scalars(select(Area).where(Area.retired_at.is_(None))))
    communities = [a for a in areas if a.level is AreaLevel.COMMUNITY]
    shapes = [to_shape(a.geom) for a in communities]
    tree = STRtree(shapes) if shapes else None
    all_shapes = [to_shape(a.geom) for a in areas]
    all_tree = STRtree(all_shapes) if all_shapes else None
    by_code = {a.code: a for a in communities}
    out: dict[Feature, Area | None] = {}
    for f in placed:
        point = f.geom
        assert point is not None
        holding = None
        if tree is not None:
            hits = sorted(int(i) for i in tree.query(point, predicate="intersects"))
            holding = communities[hits[0]] if hits else None
        named_code = f.values.get("community")
        if named_code is not None:
            named = by_code.get(named_code)
            if named is None:
                ctx.problem(f, "community", "unknown_community", f"no current community has the code {named_code!r}")
            elif named is not holding:
                projection = LocalProjection.for_lonlat(point.x, point.y)
                away = float(projection.to_metric(to_shape(named.geom)).distance(projection.to_metric(point)))
                ctx.warn(
                    f,
                    "geometry",
                    "outside_parent",
                    f"the station lies {away:,.0f} m outside its community {named.code}; kept in it as the file says",
                )
            out[f] = named
            continue
        out[f] = holding
        if holding is not None:
            continue
        if all_tree is None:
            ctx.warn(
                f,
                "geometry",
                "no_parent",
                "no areas are stored: the station belongs to no community (load areas first)",
            )
            continue
        nearest = all_shapes[int(all_tree.nearest(point))]
        projection = LocalProjection.for_lonlat(point.x, point.y)
        metres = float(projection.to_metric(nearest).distance(projection.to_metric(point)))
        if metres > FAR_FROM_AREAS_M:
            ctx.warn(
                f,
                "geometry",
                "far_from_areas",
                f"the station lies {metres / 1000:,.1f} km from every stored area; is coord_type right?",
            )
        else:
            ctx.warn(f, "geometry", "no_parent", "the station lies in no community; kept without one")
    return out


def _duplicate_places(
    ctx: ImportContext, placed: list[Feature], types: dict[Feature, StationType], stored: dict[str, Station]
) -> None:
    """``duplicate_location``: two stations of one type within 5 m (in the file, or the file and a
    stored station it does not list)."""
    if not placed:
        return
    in_file = {f.code for f in placed}
    others = [s for code, s in stored.items() if code not in in_file and s.retired_at is None] + [
        s for s in ctx.session.scalars(select(Station).where(Station.ref.is_(None), Station.retired_at.is_(None)))
    ]
    points = [f.geom for f in placed] + [to_shape(s.geom) for s in others]
    kinds = [types[f] for f in placed] + [s.type for s in others]
    labels = [f"feature {f.index} ({f.code})" for f in placed] + [
        f"stored station {s.ref or s.id} ({s.name_zh})" for s in others
    ]
    projection = LocalProjection.for_geometry(placed[0].geom)
    metric = np.array([projection.to_metric(p) for p in points], dtype=object)
    tree = STRtree(metric)
    left, right = tree.query(metric, predicate="dwithin", distance=DUPLICATE_WITHIN_M)
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i >= j or i >= len(placed) or kinds[i] is not kinds[j]:
            continue  # each pair once, led by a feature of the file
        feature, other = (placed[j], labels[i]) if j < len(placed) else (placed[i], labels[j])
        metres = float(shapely.distance(metric[i], metric[j]))
        ctx.warn(
            feature,
            "geometry",
            "duplicate_location",
            f"{metres:.1f} m from {other}, a {kinds[i].value} too: the same station listed twice?",
        )


def _snapshot(s: Station) -> tuple[dict[str, Any], BaseGeometry | None]:
    return {
        "type": s.type.value,
        "name_zh": s.name_zh,
        "name_en": s.name_en,
        "opening_hours": s.opening_hours,
        "capacity": s.capacity,
        "address_zh": s.address_zh,
        "contact_phone": s.contact_phone,
        "community_id": s.community_id,
    }, stored_shape(s.geom)


def _save(
    ctx: ImportContext,
    placed: list[Feature],
    types: dict[Feature, StationType],
    communities: dict[Feature, Area | None],
    stored: dict[str, Station],
) -> None:
    wanted = []
    for f in placed:
        community = communities.get(f)
        v = f.values
        props = {
            "type": types[f].value,
            "name_zh": v["name"],
            "name_en": v.get("name_en"),
            "opening_hours": v.get("opening_hours"),
            "capacity": v.get("capacity"),
            "address_zh": v.get("address"),
            "contact_phone": v.get("phone"),
            "community_id": community.id if community is not None else None,
        }
        wanted.append(Wanted(f.code or "", props, f.geom, f))
    current = {c: s for c, s in stored.items() if s.retired_at is None}
    retired = {c: s for c, s in stored.items() if s.retired_at is not None}
    moved = {
        w.code for w in wanted if w.code not in current or not same_geometry(stored_shape(current[w.code].geom), w.geom)
    }

    def apply(s: Station, w: Wanted) -> None:
        p = w.props
        s.type = StationType(p["type"])
        s.name_zh, s.name_en = p["name_zh"], p["name_en"]
        s.opening_hours, s.capacity = p["opening_hours"], p["capacity"]
        s.address_zh, s.contact_phone = p["address_zh"], p["contact_phone"]
        s.community_id = p["community_id"]
        s.geom = from_shape(w.geom, srid=4326)

    def create(w: Wanted) -> Station:
        station = Station(ref=w.code, version=1, created_at=ctx.now, updated_at=ctx.now)
        apply(station, w)
        return station

    gone: list[Station] = []

    def retire(s: Station) -> None:
        s.retired_at = ctx.now
        gone.append(s)

    saved = save_by_code(
        ctx,
        wanted=wanted,
        current=current,
        retired=retired,
        snapshot=_snapshot,
        create=create,
        apply=apply,
        retire=retire,
    )
    if gone:
        ctx.session.execute(delete(StationCircle).where(StationCircle.station_id.in_([s.id for s in gone])))
    for code in sorted(moved):
        rebuild_station_circles(ctx.session, saved[code], settings=ctx.settings)
    counts = ctx.report.counts
    if counts["created"] or counts["updated"] or counts["retired"]:
        publish(
            ctx.session,
            "station.changed",
            {"id": None, "action": "imported", "type": None, "counts": dict(counts)},
        )


KIND = KindSpec(
    name="stations",
    summary="service stations (elderly care, childcare, convenience, parcel, volunteer, party-mass) as points",
    geometry="point",
    fields=FIELDS,
    run=run,
)
