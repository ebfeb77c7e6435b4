"""docker-compose.yml cannot run here (no Docker engine), so check it against the app's settings."""

from __future__ import annotations

from pathlib import Path

import yaml
from sqlalchemy.engine import make_url

from service.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


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
    env = {k: str(v) for k, v in services["app"]["environment"].items()}
    settings = Settings(**{k.removeprefix("NEIGHBORGRID_").lower(): v for k, v in env.items()})
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
