"""The ``neighborgrid`` command: serve, migrate, load the demo, manage users."""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from service import migrate
from service.auth.models import Role
from service.bootstrap import prepare_database
from service.config import Settings, get_settings
from service.db import Database
from service.wiring import connect_domains

app = typer.Typer(help="neighborgrid: community grid governance service.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.callback()
def _connect() -> None:
    """Before any command: connect the domains' hooks (also when the app is invoked directly)."""
    connect_domains()


console = Console(stderr=True)


class RichProgress:
    """``service.common.progress.Progress`` on a rich progress bar."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress

    def task(self, description: str, total: int) -> Callable[[int], None]:
        task_id = self._progress.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            self._progress.advance(task_id, n)

        return advance


@contextmanager
def rich_progress() -> Iterator[RichProgress]:
    columns = (TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        yield RichProgress(progress)


def _database(settings: Settings) -> Database:
    import service.models  # noqa: F401  (every table, so foreign keys resolve)

    return Database.from_settings(settings)


def _redacted(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else url
    return url


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="target revision")) -> None:
    """Create or migrate the schema to the newest revision."""
    settings = get_settings()
    db = _database(settings)
    if revision == "head":
        prepare_database(db)
    else:
        migrate.upgrade(db.engine, revision)
    console.print(f"[green]schema at {migrate.current_revision(db.engine)}[/] ({_redacted(settings.database_url)})")
    db.dispose()


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision and whether it is the newest."""
    db = _database(get_settings())
    current, head = migrate.current_revision(db.engine), migrate.head_revision()
    console.print(f"current: {current}  head: {head}  {'(up to date)' if current == head else '(upgrade needed)'}")
    db.dispose()


@app.command("load-demo")
def load_demo_cmd(
    replace: Annotated[bool, typer.Option("--replace", help="delete existing community data first")] = False,
    if_empty: Annotated[bool, typer.Option("--if-empty", help="do nothing (exit 0) if data is already loaded")] = False,
    demo_dir: Annotated[Path | None, typer.Option(help="folder with the demo GeoJSON")] = None,
) -> None:
    """Load the demo community (Changtai, Zhangzhou) and the demo accounts."""
    from service.common.errors import DomainError
    from service.demo.loader import DEMO_USERS, DemoAlreadyLoaded, load_demo
    from service.grids.service import GridCodeError

    settings = get_settings()
    db = _database(settings)
    prepare_database(db)
    try:
        with rich_progress() as progress, db.transaction() as session:
            counts = load_demo(session, settings=settings, demo_dir=demo_dir, replace=replace, progress=progress)
    except DemoAlreadyLoaded as exc:
        if if_empty:
            console.print("demo data already loaded; leaving it as it is")
            return
        console.print(f"[yellow]{exc}[/]")
        raise typer.Exit(1) from None
    except (GridCodeError, DomainError) as exc:  # a demo file the import refuses (e.g. the grid code pattern)
        console.print(f"nothing loaded: {exc}", markup=False, style="red", soft_wrap=True)
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    console.print("loaded: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    console.print(f"demo accounts ({', '.join(DEMO_USERS)}) use the password from NEIGHBORGRID_DEMO_PASSWORD")


circles_app = typer.Typer(help="Service circles (5/10/15-minute walking areas).", no_args_is_help=True)
app.add_typer(circles_app, name="circles")


@circles_app.command("rebuild")
def circles_rebuild() -> None:
    """Rebuild every station's service circles on the current street network."""
    from service.stations.circles import rebuild_all_circles

    settings = get_settings()
    db = _database(settings)
    prepare_database(db)
    try:
        with rich_progress() as progress, db.transaction() as session:
            done = rebuild_all_circles(session, settings=settings, progress=progress)
    finally:
        db.dispose()
    console.print(f"rebuilt the circles of {done} stations")


@app.command("import-grids")
def import_grids_cmd(
    file: Annotated[Path, typer.Argument(help="GeoJSON, GeoPackage, or a .zip holding a Shapefile")],
    layer: Annotated[
        str, typer.Option(help="department layer: party_building, comprehensive_governance, health, urban_management")
    ],
    coord_type: Annotated[str, typer.Option(help="the file's coordinate system: wgs84, gcj02 or bd09")] = "wgs84",
    code_field: Annotated[str, typer.Option(help="attribute holding the grid code")] = "code",
    name_field: Annotated[str, typer.Option(help="attribute holding the grid name")] = "name",
    comment: Annotated[str, typer.Option(help="why (kept in the grid history)")] = "imported with the CLI",
) -> None:
    """Import (replace) a department's grid layer; nothing is saved if any feature is bad."""
    from datetime import UTC, datetime

    from geo.coords import CoordType
    from service.grids import layers
    from service.grids.models import GridLayer

    try:
        grid_layer, declared = GridLayer(layer), CoordType(coord_type)
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    if not file.is_file():
        console.print(f"[red]no such file: {file}[/]")
        raise typer.Exit(2)
    settings = get_settings()
    db = _database(settings)
    prepare_database(db)
    try:
        with file.open("rb") as f:  # the same reader and caps as the API (service/common/vectorfiles.py)
            data = f.read(settings.layer_upload_max_bytes + 1)
        frame = layers.read_layer(data, filename=file.name, coord_type=declared, settings=settings)
        with db.transaction() as session:
            result = layers.import_layer(
                session,
                frame=frame,
                layer=grid_layer,
                code_field=code_field,
                name_field=name_field,
                by="cli",
                comment=comment,
                now=datetime.now(UTC),
                settings=settings,
            )
    except layers.LayerError as exc:
        console.print(f"[red]nothing imported: {exc}[/]")
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    console.print(", ".join(f"{k} {v}" for k, v in result.items()))


@app.command("import")
def import_cmd(
    kind: Annotated[str, typer.Argument(help="areas, grids, buildings, stations, grid-workers, volunteers or teams")],
    file: Annotated[Path, typer.Argument(help="GeoJSON, GeoPackage, zipped Shapefile, CSV or .xlsx")],
    coord_type: Annotated[
        str | None, typer.Option(help="wgs84, gcj02, bd09, cgcs2000 or epsg:NNNN (unless the file states its CRS)")
    ] = None,
    encoding: Annotated[
        str | None, typer.Option(help="text encoding of a Shapefile or CSV (default: .cpg, else detected)")
    ] = None,
    mapping: Annotated[str | None, typer.Option(help='which column holds each field, JSON: {"code": "XZQDM"}')] = None,
    code_field: Annotated[str | None, typer.Option(help="the column holding the code")] = None,
    name_field: Annotated[str | None, typer.Option(help="the column holding the name")] = None,
    parent_field: Annotated[str | None, typer.Option(help="the column holding the parent's code")] = None,
    level: Annotated[str | None, typer.Option(help="areas: city, district, township, community or compound")] = None,
    layer: Annotated[str | None, typer.Option(help="grids: one_network or a department layer")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check and report; save nothing")] = False,
    comment: Annotated[str | None, typer.Option(help="why (required to save)")] = None,
    retire_missing: Annotated[
        bool, typer.Option("--retire-missing", help="retire what the file no longer lists")
    ] = False,
    repair: Annotated[bool, typer.Option("--repair", help="accept make_valid's repair of invalid polygons")] = False,
    sheet: Annotated[str | None, typer.Option(help="Excel: the sheet (default: the first)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Import a city's file through the same path as POST /api/v1/imports/{kind}: every problem and
    warning is reported; all or nothing, in one transaction. Exit 1 when refused, 2 on a bad option."""
    from datetime import UTC, datetime

    from service.common.errors import DomainError
    from service.imports.options import options_from
    from service.imports.report import ImportRefused
    from service.imports.service import kind_spec, run_import, settled

    settings = get_settings()
    try:
        kind_spec(kind)
        options = options_from(
            mapping=mapping,
            fields={"code": code_field, "name": name_field, "parent": parent_field},
            coord_type=coord_type,
            encoding=encoding,
            level=level,
            layer=layer or "one_network",
            dry_run=dry_run,
            comment=comment,
            retire_missing=retire_missing,
            repair=repair,
            sheet=sheet,
        )
    except DomainError as exc:
        _domain_error(exc)
    if not file.is_file():
        console.print(f"no such file: {file}", markup=False, style="red", soft_wrap=True)
        raise typer.Exit(2)
    with file.open("rb") as f:  # the same cap as the API's upload (the reader answers TooLarge)
        data = f.read(settings.import_upload_max_bytes + 1)
    db = _database(settings)
    prepare_database(db)
    try:
        with db.writer() as session, settled(session, dry_run=options.dry_run):
            report = run_import(
                session,
                kind=kind,
                data=data,
                filename=file.name,
                options=options,
                by=_os_user(),
                actor=None,
                now=datetime.now(UTC),
                settings=settings,
            )
    except ImportRefused as exc:
        _print_report(exc.extra["report"], as_json=as_json)
        raise typer.Exit(1) from None
    except DomainError as exc:
        _domain_error(exc)
    finally:
        db.dispose()
    _print_report(report, as_json=as_json)


def _os_user() -> str:
    """Who ran the command, for the import's ``by``: the OS account, else ``cli``."""
    try:
        return getpass.getuser()[:80] or "cli"
    except Exception:  # no such account in a container's passwd
        return "cli"


def _domain_error(exc: Exception) -> NoReturn:
    """A refused option or file: its field and message on stderr, exit 2."""
    field = getattr(exc, "field", None)
    console.print(f"{field}: {exc}" if field else str(exc), markup=False, style="red", soft_wrap=True)
    raise typer.Exit(2) from None


def _print_report(report: dict, *, as_json: bool) -> None:
    """The import's report: JSON on stdout, or counts then every problem and warning, one a line."""
    if as_json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return
    out = Console(soft_wrap=True, highlight=False)
    source = report.get("source") or {}
    if report["problems"]:
        verdict = "[red]refused, nothing saved[/]"
    elif report["dry_run"]:
        verdict = "[yellow]dry run, nothing saved[/]"
    else:
        verdict = f"[green]saved[/] (run {report.get('run_id')})"
    crs = f", crs {escape(str(source['crs']))}" if source.get("crs") else ""
    out.print(
        f"{escape(report['kind'])} from {escape(str(source.get('filename', '')))}: "
        f"{source.get('features', 0)} feature(s), {escape(str(source.get('format', '')))}{crs}: {verdict}"
    )
    out.print(", ".join(f"{k} {v}" for k, v in report["counts"].items()))
    for label, style, issues in (("problem", "red", report["problems"]), ("warning", "yellow", report["warnings"])):
        if issues:
            out.print(f"[{style}]{len(issues)} {label}(s)[/]")
        for issue in issues:
            out.print(f"[{style}]{label}[/] " + escape(_issue_line(issue)))


def _issue_line(issue: dict) -> str:
    """feature N (code) field code: message at file [x, y] crs = wgs84 [lon, lat]."""
    if issue.get("feature") is None:
        where = "file"
    else:
        where = f"feature {issue['feature']}"
        if issue.get("feature_code"):
            where += f" ({issue['feature_code']})"
    line = f"{where} {issue.get('field') or '-'} {issue['code']}: {issue['message']}"
    at = issue.get("at")
    if at:
        x, y = at["file"]
        lon, lat = at["wgs84"]
        line += f"  at {x}, {y} ({at.get('crs')})"
        if [x, y] != [lon, lat]:
            line += f" = wgs84 {lon}, {lat}"
    return line


@app.command("init")
def init_cmd(
    admin: Annotated[str, typer.Option(help="the first administrator's username")] = "admin",
    admin_password_file: Annotated[
        Path | None, typer.Option(help="read the password from this file's first line (else it is prompted for)")
    ] = None,
) -> None:
    """Start from nothing: migrate the schema, add the reference categories, and create the first
    administrator, nothing else. Refused (exit 1) once any account exists."""
    from sqlalchemy import func, select

    from service.audit.service import audit
    from service.auth.models import User
    from service.auth.service import create_user
    from service.common.errors import DomainError

    settings = get_settings()
    db = _database(settings)
    try:
        prepare_database(db)
        with db.reader() as session:
            users = session.scalar(select(func.count()).select_from(User)) or 0
        if users:
            console.print(
                f"[red]refused: the database already has {users} account(s)[/]; init only starts an empty one "
                "(add accounts with `neighborgrid create-user` or the admin page)"
            )
            raise typer.Exit(1)
        password = _init_password(admin_password_file)
        with db.transaction() as session:
            if session.scalar(select(func.count()).select_from(User)):
                console.print("[red]refused: an account was created meanwhile[/]")
                raise typer.Exit(1)
            user = create_user(session, username=admin, password=password, role=Role.ADMIN, display_name=admin)
            audit(
                session,
                actor=None,
                action="create",
                entity="user",
                entity_id=user.id,
                after={"username": user.username, "role": user.role.value, "by": "neighborgrid init"},
            )
    except DomainError as exc:
        _domain_error(exc)
    finally:
        db.dispose()
    console.print(
        f"[green]ready:[/] schema at {migrate.head_revision()}, administrator {escape(admin)} created "
        f"({_redacted(settings.database_url)}). Next: import the city's areas (see README, Onboarding a city).",
        soft_wrap=True,
    )


def _init_password(path: Path | None) -> str:
    """The first admin's password: the file's first line (stripped), else prompted twice (hidden)."""
    if path is not None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            console.print(f"admin_password_file: cannot read {path}: {exc}", markup=False, style="red")
            raise typer.Exit(2) from None
        return lines[0].strip() if lines else ""
    if not sys.stdin.isatty():
        console.print(
            "[red]no terminal to ask for the password:[/] pass --admin-password-file FILE "
            "(its first line is the password)"
        )
        raise typer.Exit(2)
    password = getpass.getpass("password for the administrator: ")
    if getpass.getpass("again: ") != password:
        console.print("[red]passwords differ[/]")
        raise typer.Exit(2)
    return password


@app.command("backup")
def backup_cmd(file: Annotated[Path, typer.Argument(help="the backup file to write (.zip)")]) -> None:
    """Back up every table to a portable file (restores into SpatiaLite or PostGIS)."""
    from service.ops.backup import backup

    db = _database(get_settings())
    try:
        with db.reader() as session:
            counts = backup(session, file)
    finally:
        db.dispose()
    console.print(f"wrote {file}: {sum(counts.values())} rows in {len(counts)} tables")


@app.command("restore")
def restore_cmd(file: Annotated[Path, typer.Argument(help="a file written by `neighborgrid backup`")]) -> None:
    """Restore a backup into an empty database (migrated first); all or nothing."""
    from service.ops.backup import BackupError, restore

    settings = get_settings()
    db = _database(settings)
    migrate.upgrade(db.engine)
    try:
        with db.transaction() as session:
            counts = restore(session, file)
    except BackupError as exc:
        console.print(f"[red]nothing restored: {exc}[/]")
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    console.print(f"restored {sum(counts.values())} rows in {len(counts)} tables from {file}")


@app.command("create-user")
def create_user_cmd(
    username: str,
    role: Annotated[Role, typer.Option(help="the account's role")],
    display_name: Annotated[str | None, typer.Option()] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
) -> None:
    """Create a real account. The password is prompted for (or read from stdin), never an argument."""
    from service.auth.service import create_user
    from service.common.errors import DomainError

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            console.print("[red]passwords differ[/]")
            raise typer.Exit(2)
    db = _database(get_settings())
    try:
        with db.transaction() as session:
            user = create_user(session, username=username, password=password, role=role, display_name=display_name)
            console.print(f"[green]created {user.username} ({user.role.value})[/]")
    except DomainError as exc:
        console.print(f"[red]{exc.field}: {exc}[/]")
        raise typer.Exit(2) from None
    finally:
        db.dispose()


@app.command("rotate-secret")
def rotate_secret_cmd() -> None:
    """Replace the token signing key with a new random one: every session ends (tokens signed with
    the old key are refused by every worker at once) and everyone logs in again."""
    from service.audit.service import audit
    from service.auth.keys import SecretFileError, key_id, secret_file

    settings = get_settings()
    if settings.secret_key:
        console.print(
            "[red]NEIGHBORGRID_SECRET_KEY is set, so the key is the operator's, not this command's.[/] "
            "Rotate it by setting a new random value (python -c 'import secrets; print(secrets.token_urlsafe(48))') "
            "and restarting every worker: tokens signed with the old key are then refused."
        )
        raise typer.Exit(2)
    try:
        kid = key_id(secret_file(settings.secret_file).rotate())
    except (OSError, SecretFileError) as exc:
        console.print(f"[red]the key was not rotated: {exc}[/]")
        raise typer.Exit(2) from None
    console.print(f"[green]new signing key {kid} in {settings.secret_file} (0600)[/]: every session has ended")
    db = _database(settings)
    try:
        with db.transaction() as session:
            audit(session, actor=None, action="rotate_secret", entity="signing_key", entity_id=kid)
    except Exception as exc:  # the rotation stands; only its audit entry is missing
        console.print(f"[yellow]not recorded in the audit log: {exc}[/]")
    finally:
        db.dispose()


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
    worker_healthcheck_timeout: Annotated[
        int, typer.Option(help="seconds a starting worker may take before uvicorn replaces it")
    ] = 60,
) -> None:
    """Serve the API and pages with uvicorn."""
    import uvicorn

    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    console.print(f"neighborgrid on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    os.environ.setdefault("NEIGHBORGRID_DATABASE_URL", settings.database_url)
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        proxy_headers=False,
        timeout_worker_healthcheck=worker_healthcheck_timeout,
    )


@app.command("import-osm")
def import_osm_cmd(
    file: Annotated[Path, typer.Argument(help="an OpenStreetMap extract (.osm.pbf)")],
    keep_network: Annotated[
        bool, typer.Option("--keep-network", help="add to the current street network instead of replacing it")
    ] = False,
) -> None:
    """Import the walking network, buildings and service amenities of an OpenStreetMap extract."""
    from rich.markup import escape

    from service.osm.importer import OSM_ATTRIBUTION, load_osm
    from service.osm.reader import OsmImportError, read_osm

    settings = get_settings()
    db = _database(settings)
    try:
        with rich_progress() as progress:
            data = read_osm(file, progress=progress)  # the whole file is read before the database is touched
            prepare_database(db)
            with db.transaction() as session:
                counts = load_osm(session, data, progress=progress, replace_network=not keep_network, settings=settings)
    except OsmImportError as exc:
        console.print(f"[red]nothing imported: {escape(str(exc))}[/]")
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    console.print("imported: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    console.print(OSM_ATTRIBUTION)


def main() -> None:
    connect_domains()
    app()


if __name__ == "__main__":
    main()
