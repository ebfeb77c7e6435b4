"""Copy the pinned third-party browser assets from ``node_modules`` into ``static/vendor``.

``npm ci`` (run by ``make assets``) installs the versions pinned in ``package-lock.json``; this
script copies only the files pages load, so the app serves them itself and no page needs a CDN.
The copied files are build output and stay out of git.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
VENDOR = HERE / "static" / "vendor"

#: destination folder -> (npm package, {path in the package: path under the destination})
ASSETS: dict[str, tuple[str, dict[str, str]]] = {
    "swagger-ui": (
        "swagger-ui-dist",
        {
            "swagger-ui-bundle.js": "swagger-ui-bundle.js",
            "swagger-ui.css": "swagger-ui.css",
            "favicon-32x32.png": "favicon-32x32.png",
            "LICENSE": "LICENSE",
        },
    ),
    "leaflet": (
        "leaflet",
        {
            "dist/leaflet.js": "leaflet.js",
            "dist/leaflet.css": "leaflet.css",
            "dist/images": "images",
            "LICENSE": "LICENSE",
        },
    ),
    "jquery": ("jquery", {"dist/jquery.min.js": "jquery.min.js", "LICENSE.txt": "LICENSE.txt"}),
    "bootstrap": (
        "bootstrap",
        {
            "dist/js/bootstrap.bundle.min.js": "bootstrap.bundle.min.js",
            "dist/css/bootstrap.min.css": "bootstrap.min.css",
            "LICENSE": "LICENSE",
        },
    ),
    "awesome-markers": (
        "leaflet.awesome-markers",
        {
            "dist/leaflet.awesome-markers.js": "leaflet.awesome-markers.js",
            "dist/leaflet.awesome-markers.css": "leaflet.awesome-markers.css",
            "dist/images": "images",
            "LICENSE": "LICENSE",
        },
    ),
    "fontawesome": (
        "@fortawesome/fontawesome-free",
        {
            "css/all.min.css": "css/all.min.css",
            "webfonts": "webfonts",
            "LICENSE.txt": "LICENSE.txt",
        },
    ),
    "markercluster": (
        "leaflet.markercluster",
        {
            "dist/leaflet.markercluster.js": "leaflet.markercluster.js",
            "dist/MarkerCluster.css": "MarkerCluster.css",
            "dist/MarkerCluster.Default.css": "MarkerCluster.Default.css",
            "MIT-LICENCE.txt": "MIT-LICENCE.txt",
        },
    ),
    "leaflet-heat": ("leaflet.heat", {"dist/leaflet-heat.js": "leaflet-heat.js", "LICENSE": "LICENSE"}),
    "geoman": (
        "@geoman-io/leaflet-geoman-free",
        {
            "dist/leaflet-geoman.min.js": "leaflet-geoman.min.js",
            "dist/leaflet-geoman.css": "leaflet-geoman.css",
            "LICENSE": "LICENSE",
        },
    ),
}


def missing() -> list[str]:
    """Vendored files that are not in place (empty when the assets are ready)."""
    return [
        f"{dest}/{out}"
        for dest, (_pkg, files) in ASSETS.items()
        for out in files.values()
        if not (VENDOR / dest / out).exists()
    ]


def copy_assets() -> list[Path]:
    copied = []
    for dest, (package, files) in ASSETS.items():
        for name, out_name in files.items():
            src = NODE_MODULES / package / name
            if not src.exists():
                raise SystemExit(f"missing {src}; run `npm ci` in {HERE}")
            out = VENDOR / dest / out_name
            out.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, out, dirs_exist_ok=True)
            else:
                shutil.copy2(src, out)
            copied.append(out)
    return copied


def prune_pages() -> list[Path]:
    """Delete the HTML pages npm packages ship (demos, examples, specs): they load Leaflet and tiles
    from CDNs, are never served, and should not sit in the tree of an offline product."""
    pages = sorted(NODE_MODULES.rglob("*.html"))
    for page in pages:
        page.unlink()
    return pages


if __name__ == "__main__":
    paths = copy_assets()
    pruned = prune_pages()
    print(f"copied {len(paths)} asset files into {VENDOR}; removed {len(pruned)} demo pages", file=sys.stderr)
