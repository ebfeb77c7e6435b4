#!/usr/bin/env bash
# Install the Debian packages neighborgrid needs, idempotently.
#   scripts/system-deps.sh runtime   SpatiaLite (and Node.js/npm for the browser assets)
#   scripts/system-deps.sh test      + PostGIS for the running PostgreSQL, Chromium, GDAL tools, a CJK font
# Installs with apt-get when run as root; otherwise prints the exact command and fails.
set -euo pipefail
mode=${1:-runtime}

need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

runtime_pkgs=(libsqlite3-mod-spatialite)
command -v npm >/dev/null 2>&1 || runtime_pkgs+=(nodejs npm)

test_pkgs=(chromium gdal-bin fonts-wqy-microhei)  # a CJK font: the screenshots show Chinese labels
pg_major() {
  # the major version of the PostgreSQL cluster on this machine (pg_lsclusters), else the newest client
  if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters -h 2>/dev/null | awk 'NR==1 {print $1}'
  fi
}

pkgs=("${runtime_pkgs[@]}")
if [ "$mode" = "test" ]; then
  major=$(pg_major)
  pkgs+=("${test_pkgs[@]}")
  if [ -n "$major" ]; then pkgs+=("postgresql-${major}-postgis-3"); fi
fi

for p in "${pkgs[@]}"; do have "$p" || need+=("$p"); done
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  echo "installing: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "missing system packages: ${need[*]}" >&2
  echo "run: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
