"""docker-compose.yml cannot run here (no Docker engine), so check it against the app's settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from service.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def interpolated(value: object) -> str:
    """A compose value as `docker compose` sees it with nothing set in the shell: ``${VAR:-default}``
    becomes its default."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", str(value))


def app_settings() -> Settings:
    env = {k: interpolated(v) for k, v in compose()["services"]["app"]["environment"].items()}
    return Settings(**{k.removeprefix("NEIGHBORGRID_").lower(): v for k, v in env.items()})


def test_compose_runs_postgis_and_the_app_built_from_the_dockerfile():
    services = compose()["services"]
    assert set(services) == {"db", "app"}
    assert services["db"]["image"].startswith("postgis/postgis:")
    assert services["app"]["build"] == "."
    assert (ROOT / "Dockerfile").exists()
    assert services["app"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])


def test_app_environment_is_valid_settings_pointing_at_the_db_service():
    services = compose()["services"]
    settings = app_settings()
    url = make_url(settings.database_url)
    db_env = services["db"]["environment"]
    assert url.get_backend_name() == "postgresql" and url.get_driver_name() == "psycopg"
    assert url.host == "db" and url.port == 5432
    assert (url.username, url.password, url.database) == (
        db_env["POSTGRES_USER"],
        db_env["POSTGRES_PASSWORD"],
        db_env["POSTGRES_DB"],
    )
    _host_port, container_port = services["app"]["ports"][0].split(":")
    assert int(container_port) == settings.port
    assert settings.host == "0.0.0.0"


def test_dockerfile_installs_spatialite_migrates_and_serves():
    text = (ROOT / "Dockerfile").read_text()
    assert "libsqlite3-mod-spatialite" in text
    assert "neighborgrid db upgrade" in text and "neighborgrid serve" in text
    assert "npm ci" in text and "map_ui.vendor" in text


def test_compose_signs_tokens_with_no_known_key_and_links_from_a_public_url():
    """A placeholder key in the compose file would let anyone who read it forge an admin token: the
    default is a key generated into a 0600 file on the app's own volume, and a short key is refused."""
    settings = app_settings()
    assert settings.secret_key is None
    dockerfile = (ROOT / "Dockerfile").read_text()
    secret_file = re.search(r"NEIGHBORGRID_SECRET_FILE=(\S+)", dockerfile)
    assert secret_file, "the image names where the generated key is kept"
    volume = Path(secret_file.group(1)).parent.as_posix()
    assert re.search(rf"chown nobody\S* {re.escape(volume)}", dockerfile)  # writable by the app's user only
    app = compose()["services"]["app"]
    assert any(str(v).endswith(f":{volume}") for v in app["volumes"]), app["volumes"]
    assert settings.public_url and settings.public_url.startswith("http")
    with pytest.raises(ValidationError, match="too short"):
        Settings(secret_key="change-me-in-production")
