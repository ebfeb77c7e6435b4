"""Where a feature belongs in the city's hierarchy, and how it sits in its parent and among its siblings.

A parent is found by code (statistical codes nest by prefix), by a parent field, or by containment
(the area holding most of the feature), in that order. A feature sticking out of its parent by no
more than the clip tolerance is clipped to it; beyond that it is flagged (``outside_parent``); a
feature mostly outside its parent, or in no area of the parent's level, is refused. Used by the
areas and the grids kinds, so both judge the hierarchy the same way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from geoalchemy2.shape import to_shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select

from geo.crs import LocalProjection
from geo.layerchecks import CodeParents, clip_to_parent, containment, sibling_gaps, sibling_overlaps, size_outliers
from geo.topology import as_multi
from service.areas.models import Area, AreaLevel
from service.imports.context import Feature, ImportContext

#: Less than this share of a feature inside the parent its code or field names: refused.
MIN_SHARE_IN_PARENT = 0.5
LEVELS = list(AreaLevel)


@dataclass(eq=False)
class Node:
    """An area that can be a parent: one already stored, or one of the file's (``feature``)."""

    code: str
    level: AreaLevel
    geom: BaseGeometry
    area: Area | None = None
    feature: Feature | None = None

    @property
    def label(self) -> str:
        return f"{self.level.value} {self.code}"


def stored_nodes(ctx: ImportContext) -> list[Node]:
    """The live areas already stored, as parents."""
    rows = ctx.session.scalars(select(Area).where(Area.retired_at.is_(None)))
    return [Node(a.code, a.level, to_shape(a.geom), area=a) for a in rows]


def above(level: AreaLevel) -> list[AreaLevel]:
    return LEVELS[: LEVELS.index(level)]


class Parents:
    """Parent lookup over a set of candidate nodes (stored and from the file)."""

    def __init__(self, nodes: Iterable[Node]) -> None:
        self.nodes = list(nodes)
        self.by_code = {n.code: n for n in self.nodes}
        self._codes = CodeParents(self.by_code)

    def find(
        self,
        ctx: ImportContext,
        feature: Feature,
        *,
        code: str | None,
        parent_code: str | None,
        geom: BaseGeometry | None,
        levels: Sequence[AreaLevel],
        what: str,
    ) -> Node | None:
        """The parent of ``feature`` among ``levels`` (nearest level first for containment); None
        for a root. Records a problem (and answers None) when it names no parent it can find."""
        if code:
            node = self._codes.parent(code)
            if node is not None and node.level in levels and node.code != code:
                return self._check_share(ctx, feature, node, geom, "code", what)
        if parent_code:
            node = self.by_code.get(parent_code)
            if node is None or node.level not in levels:
                ctx.problem(
                    feature,
                    "parent",
                    "unknown_parent",
                    f"the parent {parent_code!r} is neither stored nor in the file at a level above this {what}",
                )
                return None
            return self._check_share(ctx, feature, node, geom, "field", what)
        if geom is None:
            return None
        for level in reversed(list(levels)):  # nearest level first
            candidates = [n for n in self.nodes if n.level is level and n.code != code]
            if not candidates:
                continue
            ((best, share),) = containment([geom], [n.geom for n in candidates])
            if best is not None and share >= MIN_SHARE_IN_PARENT:
                return candidates[best]
            ctx.problem(
                feature,
                "geometry",
                "no_parent",
                f"the {what} lies in no {level.value} (at most {share:.0%} of it in one); "
                f"name its parent (parent field) or load the {level.value} first",
            )
            return None
        return None

    def _check_share(self, ctx, feature, node: Node, geom, how: str, what: str) -> Node | None:
        if geom is None or geom.geom_type == "Point":
            if geom is not None and not node.geom.buffer(1e-6).contains(geom):
                ctx.problem(
                    feature, "geometry", "outside_parent", f"the {what} lies outside its {node.label} (by {how})"
                )
                return None
            return node
        ((_, share),) = containment([geom], [node.geom])
        if share < MIN_SHARE_IN_PARENT:
            ctx.problem(
                feature,
                "geometry",
                "outside_parent",
                f"only {share:.0%} of the {what} lies in its {node.label} (found by {how}); "
                "a child must lie mostly inside its parent",
            )
            return None
        return node


def fit_to_parent(ctx: ImportContext, feature: Feature, geom: BaseGeometry, parent: Node, what: str) -> BaseGeometry:
    """The feature clipped to its parent when it sticks out by no more than the tolerance; else
    unchanged, with an ``outside_parent`` warning saying how much lies outside."""
    clip = clip_to_parent(geom, parent.geom, tolerance_m=ctx.settings.import_clip_tolerance_m)
    if clip.clipped:
        return as_multi(clip.geom)
    if clip.outside_m2 > 0:
        ctx.warn(
            feature,
            "geometry",
            "outside_parent",
            f"{clip.outside_m2:,.0f} m² ({clip.outside_share:.1%}) of the {what} lies outside its {parent.label}; "
            "kept as drawn",
            where=clip.where,
        )
    return geom


def sibling_checks(
    ctx: ImportContext,
    groups: dict[Node | None, list[Member]],
    *,
    what: str,
    gaps: bool,
) -> None:
    """Overlaps among the children of each parent, and (``gaps``) parts of a parent no child covers.
    An overlap is reported on the file's feature, naming the sibling by its code."""
    tolerance = ctx.settings.import_sibling_tolerance_m2
    for parent, members in groups.items():
        geoms = [m.geom for m in members]
        if len(members) > 1:
            projection = LocalProjection.for_geometry(geoms[0])
            for o in sibling_overlaps(geoms, min_m2=tolerance, projection=projection):
                mine, other = members[o.j], members[o.i]
                if mine.feature is None:
                    mine, other = other, mine
                stored = " (stored)" if other.feature is None else ""
                ctx.warn(
                    mine.feature,
                    "geometry",
                    "overlap",
                    f"overlaps {what} {other.code}{stored} by {o.area_m2:,.0f} m² (siblings should not overlap)",
                    where=o.where,
                )
        if gaps and parent is not None and any(m.feature is not None for m in members):
            for gap in sibling_gaps(parent.geom, geoms, min_m2=tolerance):
                ctx.warn(
                    parent.feature,
                    "geometry",
                    "gap",
                    f"{gap.area_m2:,.0f} m² of {parent.label} is in none of its {what}s",
                    where=gap.where,
                )


def size_checks(
    ctx: ImportContext,
    items: list[tuple[Feature, float]],
    *,
    usual: tuple[float, float] | None,
    what: str,
    unit: str,
) -> None:
    """``oversized``/``undersized`` warnings: far outside the usual range or the siblings' median."""
    for o in size_outliers([v for _, v in items], usual=usual):
        feature = items[o.i][0]
        basis = (
            f"the usual {what} is {amount(usual[0])}-{amount(usual[1])} {unit}"
            if o.basis == "usual" and usual is not None
            else f"its siblings' median is {amount(o.reference)} {unit}"
        )
        ctx.warn(feature, "geometry" if unit == "km²" else "households", o.kind, f"{amount(o.value)} {unit}: {basis}")


def amount(value: float) -> str:
    """A size as people read it: 904, 12.5, 0.048 (never 9.04e+02)."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.1f}"
    return f"{value:.2g}"


class Member(NamedTuple):
    """A sibling: a feature of the file (``feature``) or a stored row (``feature`` None), its code."""

    feature: Feature | None
    geom: BaseGeometry
    code: str


def group_by_parent(items: Iterable[tuple[Node | None, Feature | None, BaseGeometry, str]]):
    """Siblings by their parent node."""
    groups: dict[Node | None, list[Member]] = defaultdict(list)
    for parent, feature, geom, code in items:
        groups[parent].append(Member(feature, geom, code))
    return groups
