"""Settings, read from ``NEIGHBORGRID_*`` environment variables (or a ``.env`` file)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.auth.keys import secret_file

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Unit-grid codes exist in several national layouts: 14 or 15 digits (6-digit county code,
#: 3-digit street/town, 3-digit community, 2- or 3-digit grid serial) and 20 digits (CJ/T 349).
DEFAULT_GRID_CODE_PATTERN = r"^(\d{14}|\d{15}|\d{20})$"
#: A signing key set by the operator must be at least this long (HS256 wants 256 bits of key).
MIN_SECRET_KEY_LENGTH = 32


class Settings(BaseSettings):
    """Everything an operator may set. Defaults serve the embedded demo on one machine."""

    # hide_input_in_errors: a refused setting (a short key, a URL with a password) is not echoed.
    model_config = SettingsConfigDict(
        env_prefix="NEIGHBORGRID_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    database_url: str = "sqlite:///./neighborgrid.db"
    spatialite_library_path: str = "mod_spatialite"
    sqlite_busy_timeout_ms: int = 15_000
    db_pool_size: int = 10

    json_logs: bool = True
    log_level: str = "INFO"

    host: str = "127.0.0.1"
    port: int = 8000

    #: The JWT signing key. When unset, a random key is generated into ``secret_file`` (0600) and
    #: ``neighborgrid rotate-secret`` replaces it; when set, rotating means setting a new value.
    secret_key: str | None = Field(default=None, description="JWT signing key; generated into secret_file if unset")
    secret_file: Path = Path(".neighborgrid-secret")
    token_ttl_minutes: int = 8 * 60
    #: Login: after this many failures in a row from one client IP on one account name (known or
    #: not), that pair waits login_first_wait_seconds, doubled at each further failure, up to
    #: login_lock_minutes (429 with Retry-After). Other addresses, e.g. the account's owner, do not wait.
    login_max_failures: int = Field(default=5, ge=1)
    login_first_wait_seconds: float = Field(default=1.0, gt=0)
    login_lock_minutes: float = Field(default=15.0, gt=0)
    #: Per client IP and worker, per minute (0: no limit).
    login_rate_per_ip: int = 30
    intake_rate_per_ip: int = 60
    #: Public views of requests (OGC API, Open311) round locations to this grid (or the building).
    public_location_grid_m: float = Field(default=50.0, gt=0)
    #: The public feeds (Open311, OGC API, anonymous) show published requests of this many days
    #: only; older ids answer as if they never existed.
    public_feed_days: int = Field(default=90, ge=1, le=3660)
    #: Lookups of a request by its secret tracking code (``/track``, Open311 ``/tokens``, acting or
    #: adding photos with the code), per client IP and worker: all lookups per minute, and failed
    #: ones (guessing) per hour; over either, 429 with Retry-After (0: no limit).
    code_lookups_per_ip_minute: int = Field(default=60, ge=0)
    code_misses_per_ip_hour: int = Field(default=30, ge=0)
    #: The base of every absolute link the OGC API and Open311 answer with (e.g.
    #: ``https://grid.example.cn``); when unset, links follow the request's Host, which must then
    #: be one of ``allowed_hosts`` (else 400), so a forged Host never lands in a link.
    public_url: str | None = None
    allowed_hosts: list[str] = ["127.0.0.1", "localhost", "::1"]
    #: Open311 jurisdiction id (GeoReport v2 discovery), e.g. the district's admin code.
    open311_jurisdiction: str = "350625"
    #: Browsers on these origins may call the API (CORS is off when empty).
    cors_origins: list[str] = []

    grid_code_pattern: str = DEFAULT_GRID_CODE_PATTERN
    locate_max_distance_m: float = Field(default=200.0, ge=0)
    #: Bulk locate (``POST /api/v1/grids/locate``): the most points, and the largest body, in one
    #: request; more gets 413 (100,000 points as GeoJSON take about 11 MB, as CSV about 3 MB).
    locate_bulk_max_points: int = Field(default=100_000, ge=1)
    locate_bulk_max_bytes: int = Field(default=24 * 1024 * 1024, ge=1)
    #: Grid edits: overlaps and gaps smaller than this are tolerated (digitising noise).
    grid_tolerance_m2: float = Field(default=1.0, ge=0)
    grid_max_vertices: int = Field(default=20_000, ge=4)
    #: Grid-layer imports (API and ``import-grids``): the largest file, the most a zipped
    #: Shapefile may unpack to (declared and real), and the most features and vertices in one file.
    layer_upload_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    layer_unpacked_max_bytes: int = Field(default=200 * 1024 * 1024, ge=1)
    layer_max_features: int = Field(default=20_000, ge=1)
    layer_max_vertices: int = Field(default=2_000_000, ge=4)
    #: Where an import writes its fixed-name copies of the file (None: the system's temp directory).
    layer_tmp_dir: Path | None = None
    #: Onboarding imports (``POST /api/v1/imports/{kind}``, ``neighborgrid import``): the largest
    #: file, what a zip (Shapefile, .xlsx) may unpack to, and the most features and vertices in one.
    import_upload_max_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    import_unpacked_max_bytes: int = Field(default=1024 * 1024 * 1024, ge=1)
    import_max_features: int = Field(default=400_000, ge=1)
    import_max_vertices: int = Field(default=20_000_000, ge=4)
    #: A child sticking out of its parent by no more than this band along the boundary is clipped
    #: to it (digitising noise); beyond it, the import warns ``outside_parent`` and keeps the shape.
    import_clip_tolerance_m: float = Field(default=5.0, ge=0)
    #: Overlaps and gaps among siblings (areas of one parent, grids of one community) above this
    #: are reported as warnings.
    import_sibling_tolerance_m2: float = Field(default=50.0, ge=0)
    #: A grid holds 300-500 households in local practice; outside the band an edit gets a warning.
    grid_households_min: int = 300
    grid_households_max: int = 500

    # Requests: service levels of our reference practice (answer in 5 min, on site in 30).
    response_minutes: float = Field(default=5, gt=0)
    onsite_minutes: float = Field(default=30, gt=0)
    walking_speed_mps: float = Field(default=1.2, gt=0)
    volunteer_max_open_cases: int = Field(default=3, ge=1)
    #: Positions older than this no longer count for the nearest-volunteer choice (None: no limit).
    #: Default: a 12-hour shift; a volunteer who has not reported since is not where they were.
    volunteer_position_max_age_minutes: float | None = Field(default=12 * 60, gt=0)
    #: Position reports per volunteer account and minute (per worker process; 0: no limit).
    volunteer_position_rate_per_minute: int = Field(default=12, ge=0)
    #: A reported position farther than this outside every township boundary is refused (422).
    volunteer_position_max_outside_m: float = Field(default=1000.0, ge=0)

    # Community life: micro-wishes, key households, follow-ups.
    #: A claimed wish that is not fulfilled within this time goes back to the open list.
    wish_claim_hours: float = Field(default=72.0, gt=0)
    #: Key households are visited at least this often unless their own frequency says otherwise (每周至少上门1次).
    key_household_visit_days: int = Field(default=7, ge=1, le=366)
    #: A key case's door-knock follow-up by the secretary (书记敲门) is due this long after closure.
    follow_up_due_days: float = Field(default=3.0, gt=0)
    #: A return visit (回访) asked for by staff is due this long after it is created, unless given.
    return_visit_due_days: float = Field(default=7.0, gt=0)
    max_snap_distance_m: float = Field(default=500, gt=0)
    duplicate_radius_m: float = Field(default=100, ge=0)
    duplicate_window_hours: float = Field(default=24, ge=0)
    description_max_length: int = Field(default=2000, ge=1)
    auto_close_after_days: float = Field(default=7, gt=0)
    sla_tick_seconds: float = Field(default=15, gt=0)
    scheduler_enabled: bool = True
    #: SSE subscribers re-read the outbox at least this often, even without a wake-up.
    events_poll_seconds: float = Field(default=2.0, gt=0)
    #: Open event streams one account may hold in one worker process; more get 429.
    events_max_streams_per_user: int = Field(default=5, ge=1)
    #: Open event streams per worker process; more get 429. None: 10 per pooled connection
    #: (``db_pool_size``): a stream holds no connection, but each event costs every stream one short
    #: outbox read, and at most half the pool serves those reads at once (service/events/hub.py).
    events_max_streams: int | None = Field(default=None, ge=1)
    #: An open stream re-checks its account (disabled, signed out everywhere, role changed) and
    #: what it may see at least this often, and ends when the account may no longer watch.
    events_recheck_seconds: float = Field(default=60.0, gt=0, le=60)
    media_dir: Path = Path("./media")
    max_photo_bytes: int = 5 * 1024 * 1024
    #: Largest request body outside photo uploads; more gets 413.
    max_body_bytes: int = 1024 * 1024

    # Service circles: the 5/10/15-minute life circles of GB 50180-2018.
    circle_minutes: tuple[int, ...] = (5, 10, 15)
    circle_corridor_m: float = Field(default=30.0, gt=0)
    circle_fill_holes_m2: float = Field(default=20_000.0, ge=0)
    siting_max_candidates: int = Field(default=2000, ge=1)
    siting_time_limit_s: float = Field(default=30.0, gt=0)

    # Web maps. "none" draws the base from our own layers (works offline); the others load tiles
    # from the internet: OpenStreetMap, Tianditu (天地图, CGCS2000 ≈ WGS84; needs a key) or Amap
    # (GCJ-02: every overlay is shifted on the page to match).
    #: Photos kept per request and stage (report, resolution, verification); more get 409.
    photo_max_per_request: int = Field(default=10, ge=1)
    #: Photos and bytes accepted per client IP in any hour from anonymous callers, residents and
    #: volunteers (staff are not counted); counted in the database, so they hold across workers.
    #: Over either, 429 with Retry-After (0: no limit).
    photo_uploads_per_ip_hour: int = Field(default=30, ge=0)
    photo_bytes_per_ip_hour: int = Field(default=60 * 1024 * 1024, ge=0)
    #: All stored photos together may take this many bytes; an upload past it gets 507.
    photo_storage_budget_bytes: int = Field(default=20 * 1024**3, ge=0)
    #: Larger images (width x height) are refused before they are decoded (decompression bombs).
    photo_max_pixels: int = Field(default=50_000_000, ge=1)
    basemap: Literal["none", "osm", "tianditu", "amap"] = "none"
    tianditu_key: str | None = None
    default_language: Literal["zh", "en"] = "zh"

    demo_dir: Path = PROJECT_ROOT / "fixtures" / "demo"
    demo_password: str = "demo-password"

    @field_validator("secret_key")
    @classmethod
    def _strong_key(cls, value: str | None) -> str | None:
        """An empty key means "generate one"; a short one (a placeholder such as ``change-me``) is
        refused at start-up rather than signing tokens anyone can forge."""
        if not value:
            return None
        if len(value) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(
                f"NEIGHBORGRID_SECRET_KEY is too short ({len(value)} characters): use at least "
                f"{MIN_SECRET_KEY_LENGTH} random characters, e.g. python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))', or leave it unset to have one generated"
            )
        return value

    @property
    def signing_key(self) -> str:
        """The JWT key: ``secret_key`` when set, else the key kept in ``secret_file`` (created 0600
        with a random key if missing), re-read whenever the file changes, so ``neighborgrid
        rotate-secret`` reaches every worker without a restart (service/auth/keys.py)."""
        if self.secret_key:
            return self.secret_key
        return secret_file(self.secret_file).key()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def get_settings() -> Settings:
    """The settings as the environment (and ``.env``) gives them now; a running app reads its own
    (``service.deps.SettingsDep``)."""
    return Settings()
