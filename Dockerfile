# neighborgrid app image. Browser assets are installed from the npm registry at build time.
FROM node:20-bookworm-slim AS assets
WORKDIR /src/map_ui
COPY map_ui/package.json map_ui/package-lock.json ./
RUN SCARF_ANALYTICS=false npm ci --no-audit --no-fund --silent

FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends libsqlite3-mod-spatialite \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY geo geo
COPY service service
COPY map_ui map_ui
COPY fixtures fixtures
COPY --from=assets /src/map_ui/node_modules map_ui/node_modules
RUN pip install --no-cache-dir . && python -m map_ui.vendor && rm -rf map_ui/node_modules
# The signing key file and photos live on a volume the unprivileged user owns (not in /app).
RUN mkdir -p /var/lib/neighborgrid && chown nobody:nogroup /var/lib/neighborgrid && chmod 0700 /var/lib/neighborgrid
ENV NEIGHBORGRID_HOST=0.0.0.0 \
    NEIGHBORGRID_PORT=8000 \
    NEIGHBORGRID_DEMO_DIR=/app/fixtures/demo \
    NEIGHBORGRID_SECRET_FILE=/var/lib/neighborgrid/secret \
    NEIGHBORGRID_MEDIA_DIR=/var/lib/neighborgrid/media
EXPOSE 8000
USER nobody
CMD ["sh", "-c", "neighborgrid db upgrade && neighborgrid serve --workers 2"]
