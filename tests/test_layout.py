"""The architecture rule: geo/ is pure and imports nothing from service/ or map_ui/."""

from __future__ import annotations

import ast
import itertools
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


# --- the shape of service/: domain packages, what their modules may import, response models ---

SERVICE = ROOT / "service"
#: Packages under service/ that are not domains: shared infrastructure, and the migrations.
NOT_DOMAINS = {"common", "migrations"}
#: The only modules of a domain package that may speak HTTP (FastAPI, Starlette, ``Problem``).
EDGE_MODULES = ("routes.py", "deps.py")


def domain_packages() -> list[str]:
    return sorted(
        p.name for p in SERVICE.iterdir() if p.is_dir() and (p / "__init__.py").exists() and p.name not in NOT_DOMAINS
    )


def imports_of(path: Path) -> list[tuple[str, int]]:
    """Every absolute module a file imports (function-local imports included), with its line."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
            found += [(f"{node.module}.{a.name}", node.lineno) for a in node.names]
    return found


def is_edge(path: Path) -> bool:
    return path.name in EDGE_MODULES or path.name.endswith("_routes.py")


def package_edges() -> dict[str, dict[str, list[str]]]:
    """domain -> {other domain it imports: [file:line, ...]}."""
    domains = set(domain_packages())
    edges: dict[str, dict[str, list[str]]] = {d: {} for d in domains}
    for pkg in domains:
        for path in (SERVICE / pkg).rglob("*.py"):
            for module, line in imports_of(path):
                parts = module.split(".")
                if parts[0] == "service" and len(parts) > 1 and parts[1] in domains and parts[1] != pkg:
                    edges[pkg].setdefault(parts[1], []).append(f"{path.relative_to(ROOT)}:{line}")
    return edges


def test_routes_do_not_import_routes():
    for path in SERVICE.rglob("*.py"):
        if not is_edge(path) or path.name == "deps.py":
            continue
        bad = [
            f"{m} (line {n})"
            for m, n in imports_of(path)
            if m.startswith("service.") and (m.endswith(".routes") or m.rsplit(".", 1)[-1].endswith("_routes"))
        ]
        assert not bad, f"{path.relative_to(ROOT)} imports routes: {bad}"


def test_services_speak_no_http():
    """Services raise domain errors (service.common.errors); only routes and deps know HTTP."""
    for pkg in domain_packages():
        for path in (SERVICE / pkg).rglob("*.py"):
            if is_edge(path):
                continue
            bad = [
                f"{m} (line {n})"
                for m, n in imports_of(path)
                if m.split(".")[0] in ("fastapi", "starlette") or m == "service.common.problems.Problem"
            ]
            assert not bad, f"{path.relative_to(ROOT)} is not a route module but imports {bad}"


def test_domain_packages_form_no_import_cycle():
    edges = package_edges()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(pkg: str) -> None:
        state[pkg] = 1
        stack.append(pkg)
        for other in sorted(edges[pkg]):
            if state.get(other) == 1:
                cycle = [*stack[stack.index(other) :], other]
                where = "; ".join(f"{a} -> {b}: {edges[a][b][0]}" for a, b in itertools.pairwise(cycle))
                raise AssertionError(f"import cycle {' -> '.join(cycle)} ({where})")
            if other not in state:
                visit(other)
        stack.pop()
        state[pkg] = 2

    for pkg in sorted(edges):
        if pkg not in state:
            visit(pkg)


def _json_answers(operation: dict) -> list[tuple[str, dict]]:
    found = []
    for status, response in operation.get("responses", {}).items():
        if not status.startswith("2"):
            continue
        for media, content in (response.get("content") or {}).items():
            if media == "application/json" or media.endswith("+json"):
                found.append((status, content.get("schema") or {}))
    return found


def _documents_fields(schema: dict, components: dict) -> bool:
    """A schema says what a client gets: a named model, a list or page of them, or typed members."""
    if "$ref" in schema:
        return True
    if schema.get("type") == "array":
        return _documents_fields(schema.get("items") or {}, components)
    if schema.get("properties"):
        return True
    variants = schema.get("anyOf") or schema.get("oneOf") or []
    return bool(variants) and all(_documents_fields(v, components) or v.get("type") == "null" for v in variants)


def test_every_json_operation_declares_its_answer(tmp_path):
    from service.app import create_app
    from tests.support.backends import make_settings

    app = create_app(make_settings(f"sqlite:///{tmp_path / 'layout.db'}"))
    spec = app.openapi()
    components = spec.get("components", {}).get("schemas", {})
    bare = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            for status, schema in _json_answers(operation):
                if not _documents_fields(schema, components):
                    bare.append(f"{method.upper()} {path} ({status})")
    assert not bare, f"{len(bare)} operations answer JSON without a response model: {bare}"
