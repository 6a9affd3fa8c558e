"""The import rule (docs/architecture.md): imports flow one way, down the layers below; a package
imports its own layer's peers only where the rule names them. A worker can therefore import a
session store or the event bus without importing the server or a room."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LAYERS: list[set[str]] = [
    {"server", "client"},                                       # the edges: HTTP/WebSocket, a Python participant
    {"classroom", "dashboards"},                                # the live class; the operations dashboard's data
    {"media"},                                                  # the SFU
    {"engagement", "transcription", "summaries", "workflows"},  # what the class's media and events mean
    {"recording", "sessions", "fleet"},                         # what is kept per session; the nodes
    {"events"},                                                 # the bus, the envelope
]
PEERS_ALLOWED = {("workflows", "summaries")}  # approved summaries go to guardians

LAYER_OF = {package: depth for depth, layer in enumerate(LAYERS) for package in layer}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """(first-party package, line) for every import in the file, lazy ones included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            if top in LAYER_OF:
                found.add((top, node.lineno))
    return found


def violations() -> list[str]:
    found = []
    for package, depth in LAYER_OF.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for imported, line in imported_packages(path):
                if imported == package or LAYER_OF[imported] > depth or (package, imported) in PEERS_ALLOWED:
                    continue
                direction = "upward" if LAYER_OF[imported] < depth else "sideways"
                found.append(f"{path.relative_to(ROOT)}:{line} imports {imported} ({direction})")
    return found


def test_every_package_is_in_a_layer() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks"}
    assert packages == set(LAYER_OF), "place each new package in LAYERS (and docs/architecture.md)"


def test_imports_flow_down() -> None:
    assert violations() == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    upward = tmp_path / "upward.py"
    upward.write_text("def late():\n    from server.app import build_app\n", encoding="utf-8")
    assert imported_packages(upward) == {("server", 2)}
