"""Every kind of import by its name in the URL and the CLI (``/api/v1/imports/{kind}``)."""

from __future__ import annotations

from service.imports.kinds.areas import KIND as AREAS
from service.imports.kinds.buildings import KIND as BUILDINGS
from service.imports.kinds.grids import KIND as GRIDS
from service.imports.kinds.people import TEAMS, VOLUNTEERS, WORKERS
from service.imports.kinds.stations import KIND as STATIONS
from service.imports.spec import KindSpec

KINDS: dict[str, KindSpec] = {
    spec.name: spec for spec in (AREAS, GRIDS, BUILDINGS, STATIONS, WORKERS, VOLUNTEERS, TEAMS)
}
