"""Fail CI unless PostGIS (and, once they exist, browser) tests really ran and nothing was skipped."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def main(path: str) -> int:
    cases = list(ET.parse(path).getroot().iter("testcase"))
    skipped = [c for c in cases if c.find("skipped") is not None]
    postgis = [c for c in cases if "postgis" in c.get("name", "") and c.find("skipped") is None]
    browser = [c for c in cases if ".browser." in c.get("classname", "") and c.find("skipped") is None]
    print(f"junit: {len(cases)} tests, {len(postgis)} ran on PostGIS, {len(browser)} in a browser, "
          f"{len(skipped)} skipped")
    problems = []
    if skipped:
        problems.append("skipped: " + ", ".join(c.get("name", "?") for c in skipped[:10]))
    if not postgis:
        problems.append("no PostGIS test ran")
    if Path("tests/browser").is_dir() and not browser:
        problems.append("no browser test ran")
    for p in problems:
        print("CI FAILURE:", p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
