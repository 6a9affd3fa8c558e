"""No source file over ~400 lines outside benchmarks/ and tests/: a file that grows past it holds
more than one thing (docs/architecture.md says where each thing lives). Python, JavaScript, CSS
and HTML; the packet sender's two C files (media/_*.c, ~600 lines each, one per native object)
are not counted."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 400
OUTSIDE = {"tests", "benchmarks", ".git"}
SOURCES = ("*.py", "*.js", "*.css", "*.html")


def test_no_source_file_is_over_the_limit() -> None:
    over = []
    for pattern in SOURCES:
        for path in ROOT.rglob(pattern):
            relative = path.relative_to(ROOT)
            if relative.parts[0] in OUTSIDE or relative.parts[0].endswith(".egg-info"):
                continue
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > LIMIT:
                over.append(f"{relative}: {lines} lines")
    assert over == [], f"split these by concern (at most {LIMIT} lines each)"
