"""The type checker as a test: mypy over the packages pyproject.toml names (strict on classroom,
dashboards, events, media and sessions), so a change that breaks a type fails the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_finds_no_error(tmp_path: Path) -> None:
    checked = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Success: no issues found" in checked.stdout


def test_every_package_ships_its_types() -> None:
    packages = [p.parent for p in ROOT.glob("*/__init__.py") if p.parent.name not in ("tests", "benchmarks")]
    assert [p.name for p in packages if not (p / "py.typed").exists()] == []
