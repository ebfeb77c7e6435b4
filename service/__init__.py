"""neighborgrid's web service: FastAPI routes, SQLAlchemy models, workflows and the CLI."""
