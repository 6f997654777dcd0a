"""The page's third-party files are the npm packages' own, byte for byte.

``dashboard/package.json`` names the packages and, under ``vendor``, the
files copied from each into ``daemon/gateway/static/vendor/<name>/``;
``dashboard/package-lock.json`` pins them. The test installs the lockfile
with ``npm ci`` in a scratch folder and compares. An upgrade is a lockfile
change plus ``npm run vendor``. Without npm the test is skipped, except under
CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

DASHBOARD = REPO / "dashboard"
VENDOR = REPO / "daemon" / "gateway" / "static" / "vendor"


def vendor_map() -> dict[str, dict[str, object]]:
    mapping: dict[str, dict[str, object]] = json.loads((DASHBOARD / "package.json").read_text())["vendor"]
    return mapping


def test_the_vendored_files_match_the_locked_packages(tmp_path: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        if os.environ.get("CI"):
            pytest.fail("npm is needed to check the vendored files under CI (apt-get install -y npm)")
        pytest.skip("npm is not installed")
    for name in ("package.json", "package-lock.json"):
        shutil.copy(DASHBOARD / name, tmp_path / name)
    subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], cwd=tmp_path,
                   check=True, timeout=300, capture_output=True)
    expected: set[Path] = set()
    for name, spec in vendor_map().items():
        source = tmp_path / str(spec["from"])
        files = spec["files"]
        assert isinstance(files, list)
        for file in files:
            copy = VENDOR / name / file
            expected.add(copy)
            assert copy.is_file(), f"{copy.relative_to(REPO)} is missing: run npm run vendor in dashboard/"
            assert copy.read_bytes() == (source / file).read_bytes(), (
                f"{copy.relative_to(REPO)} differs from {spec['from']}/{file} of the locked package")
    present = {path for path in VENDOR.rglob("*") if path.is_file()}
    assert present == expected, f"files under vendor/ that package.json does not name: {sorted(present - expected)}"


def test_the_lockfile_pins_what_package_json_asks_for() -> None:
    package = json.loads((DASHBOARD / "package.json").read_text())
    lock = json.loads((DASHBOARD / "package-lock.json").read_text())
    for name, version in package["dependencies"].items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    assert set(package["dependencies"]) == {"leaflet", "@msgpack/msgpack"}
    assert package["dependencies"]["leaflet"] == "1.9.4"
    assert (VENDOR / "leaflet" / "LICENSE").read_text().startswith("BSD 2-Clause License")
