"""What an import hands each kind: the file's features, mapped and converted, and the report to fill."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import shapely
from geoalchemy2.shape import from_shape
from shapely.geometry import mapping as geojson_of
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from geo.coords import from_wgs84
from geo.sourcecrs import SourceCRS, point_to_wgs84
from service.config import Settings
from service.imports.models import FeatureVersion, ImportRun
from service.imports.options import ImportOptions
from service.imports.report import Issue, Report


@dataclass(eq=False)
class Feature:
    """One feature (or roster row) of the file: its index, its mapped values, its geometry in
    WGS84 (``geom``) and as the file has it (``raw``). ``ok`` turns False with its first problem."""

    index: int
    values: dict[str, Any]
    geom: BaseGeometry | None = None
    raw: BaseGeometry | None = None
    ok: bool = True

    @property
    def code(self) -> str | None:
        value = self.values.get("code")
        return None if value is None else str(value)


@dataclass
class ImportContext:
    """The session (one transaction), the options, the report, and the features of the file."""

    session: Session
    settings: Settings
    options: ImportOptions
    report: Report
    now: datetime
    by: str
    run: ImportRun
    source: SourceCRS | None
    features: list[Feature] = field(default_factory=list)

    # -- the report ----------------------------------------------------------------------

    def problem(
        self,
        feature: Feature | None,
        field: str | None,
        code: str,
        message: str,
        *,
        where: BaseGeometry | None = None,
        repair: BaseGeometry | None = None,
    ) -> None:
        """Record a problem (the import will be refused); the feature is no longer ``ok``."""
        if feature is not None:
            feature.ok = False
        self.report.problems.append(self._issue(feature, field, code, message, where, repair))

    def warn(
        self, feature: Feature | None, field: str | None, code: str, message: str, *, where: BaseGeometry | None = None
    ) -> None:
        """Record a warning (saved with the import unless it is a dry run)."""
        self.report.warnings.append(self._issue(feature, field, code, message, where, None))

    def first_with_code(self, seen: dict[str, Feature], feature: Feature) -> bool:
        """True for the first feature with its code (then kept in ``seen``); a later one with the
        same code is a ``duplicate_code`` problem. Features without a code are never first."""
        code = feature.code
        if code is None:
            return False
        if code in seen:
            self.problem(feature, "code", "duplicate_code", f"the code repeats feature {seen[code].index}'s")
            return False
        seen[code] = feature
        return True

    def count(self, what: str, n: int = 1) -> None:
        self.report.counts[what] += n

    def _issue(self, feature, field, code, message, where, repair) -> Issue:
        return Issue(
            feature=feature.index if feature is not None else None,
            field=field,
            code=code,
            message=message,
            at=self.at(feature, where),
            feature_code=feature.code if feature is not None else None,
            repair=geojson_of(repair) if repair is not None else None,
        )

    def at(self, feature: Feature | None, where: BaseGeometry | None) -> dict[str, Any] | None:
        """Where an issue is: in the file's own coordinates and in WGS84 (``where`` is WGS84)."""
        if where is not None and not where.is_empty:
            lon, lat = _xy(where)
            x, y = self.to_file(lon, lat)
        elif feature is not None and feature.raw is not None and not feature.raw.is_empty:
            x, y = _xy(feature.raw)
            lon, lat = point_to_wgs84(x, y, self.source) if self.source is not None else (x, y)
        else:
            return None
        digits = 3 if abs(x) > 360 or abs(y) > 360 else 7
        return {
            "file": [round(float(x), digits), round(float(y), digits)],
            "wgs84": [round(float(lon), 7), round(float(lat), 7)],
            "crs": self.source.label if self.source is not None else "wgs84",
        }

    def to_file(self, lon: float, lat: float) -> tuple[float, float]:
        """A WGS84 point in the file's coordinates."""
        source = self.source
        if source is None or source.kind in ("wgs84", "cgcs2000"):
            return lon, lat
        if source.kind in ("gcj02", "bd09"):
            x, y = from_wgs84(lon, lat, source.kind)
            return float(x), float(y)
        from pyproj import Transformer

        target = source.crs if source.crs is not None else f"EPSG:{source.epsg}"
        x, y = Transformer.from_crs("EPSG:4326", target, always_xy=True).transform(lon, lat)
        return float(x), float(y)

    # -- history -------------------------------------------------------------------------

    def keep_version(
        self,
        *,
        entity_id: int,
        code: str,
        version: int,
        change: str,
        properties: dict[str, Any],
        geom: BaseGeometry | None,
    ) -> None:
        """Keep the state a feature had before this import changed or retired it."""
        self.session.add(
            FeatureVersion(
                run_id=self.run.id,
                kind=self.report.kind,
                entity_id=entity_id,
                code=code,
                version=version,
                change=change,
                properties=properties,
                geom=from_shape(geom, srid=4326) if geom is not None else None,
                valid_to=self.now,
            )
        )


def _xy(geom: BaseGeometry) -> tuple[float, float]:
    point = geom if geom.geom_type == "Point" else shapely.point_on_surface(geom)
    return float(point.x), float(point.y)
