"""Helpers for the real-client tests: run GDAL's command-line tools against the served app."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest


def gdal(*args: str, timeout: int = 120) -> str:
    """Run a GDAL tool; its output. CI installs gdal-bin, so a missing tool fails (never skips)."""
    if shutil.which(args[0]) is None:
        pytest.fail(f"{args[0]} is not installed (apt-get install gdal-bin)")
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return done.stdout


def feature_count(info: str) -> int:
    found = re.search(r"Feature Count: (\d+)", info)
    assert found, info
    return int(found.group(1))


def extent(info: str) -> tuple[float, float, float, float]:
    found = re.search(r"Extent: \(([-\d.]+), ([-\d.]+)\) - \(([-\d.]+), ([-\d.]+)\)", info)
    assert found, info
    return tuple(float(v) for v in found.groups())  # type: ignore[return-value]
