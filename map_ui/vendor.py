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

#: destination folder -> (npm package, files or folders relative to the package root)
ASSETS: dict[str, tuple[str, list[str]]] = {
    "swagger-ui": (
        "swagger-ui-dist",
        ["swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "oauth2-redirect.html", "LICENSE"],
    ),
}


def missing() -> list[str]:
    """Vendored files that are not in place (empty when the assets are ready)."""
    return [
        f"{dest}/{Path(name).name}"
        for dest, (_pkg, files) in ASSETS.items()
        for name in files
        if not (VENDOR / dest / Path(name).name).exists()
    ]


def copy_assets() -> list[Path]:
    copied = []
    for dest, (package, files) in ASSETS.items():
        target = VENDOR / dest
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            src = NODE_MODULES / package / name
            if not src.exists():
                raise SystemExit(f"missing {src}; run `npm ci` in {HERE}")
            out = target / Path(name).name
            if src.is_dir():
                shutil.copytree(src, out, dirs_exist_ok=True)
            else:
                shutil.copy2(src, out)
            copied.append(out)
    return copied


if __name__ == "__main__":
    paths = copy_assets()
    print(f"copied {len(paths)} asset files into {VENDOR}", file=sys.stderr)
