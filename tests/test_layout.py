"""The architecture rule: geo/ is pure and imports nothing from service/ or map_ui/."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_IN_GEO = ("service", "map_ui", "sqlalchemy", "geoalchemy2", "fastapi", "httpx", "requests")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_geo_imports_no_service_web_or_database_code():
    for path in (ROOT / "geo").rglob("*.py"):
        bad = imported_modules(path) & set(FORBIDDEN_IN_GEO)
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_geo_does_no_io():
    for path in (ROOT / "geo").rglob("*.py"):
        text = path.read_text()
        for call in ("open(", "read_text(", "write_text(", "urlopen(", "socket."):
            assert call not in text, f"{path.relative_to(ROOT)} does I/O ({call})"
