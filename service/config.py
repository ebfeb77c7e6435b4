"""Settings, read from ``NEIGHBORGRID_*`` environment variables (or a ``.env`` file)."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Unit-grid codes exist in several national layouts: 14 or 15 digits (6-digit county code,
#: 3-digit street/town, 3-digit community, 2- or 3-digit grid serial) and 20 digits (CJ/T 349).
DEFAULT_GRID_CODE_PATTERN = r"^(\d{14}|\d{15}|\d{20})$"


class Settings(BaseSettings):
    """Everything an operator may set. Defaults serve the embedded demo on one machine."""

    model_config = SettingsConfigDict(env_prefix="NEIGHBORGRID_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./neighborgrid.db"
    spatialite_library_path: str = "mod_spatialite"
    sqlite_busy_timeout_ms: int = 15_000
    db_pool_size: int = 10

    host: str = "127.0.0.1"
    port: int = 8000

    secret_key: str | None = Field(default=None, description="JWT signing key; generated into secret_file if unset")
    secret_file: Path = Path(".neighborgrid-secret")
    token_ttl_minutes: int = 8 * 60

    grid_code_pattern: str = DEFAULT_GRID_CODE_PATTERN
    locate_max_distance_m: float = Field(default=200.0, ge=0)

    demo_dir: Path = PROJECT_ROOT / "fixtures" / "demo"
    demo_password: str = "demo-password"

    @cached_property
    def signing_key(self) -> str:
        """The JWT key: the setting, else a random key kept in ``secret_file`` (0600) for restarts."""
        if self.secret_key:
            return self.secret_key
        path = self.secret_file
        if path.exists():
            return path.read_text().strip()
        key = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(key)
        return key

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def get_settings() -> Settings:
    return Settings()
