"""An installed plug-in distribution, for real: a module and a `.dist-info` folder with its
entry points on sys.path, which is all importlib.metadata reads."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest


def install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, group: str, name: str,
                   module: str, source: str, attribute: str = "create") -> None:
    """`module` (with `source`) importable, and `name = module:attribute` in entry point `group`."""
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    dist = tmp_path / f"{module.replace('_', '-')}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 0.1\n",
                                   encoding="utf-8")
    (dist / "entry_points.txt").write_text(f"[{group}]\n{name} = {module}:{attribute}\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
