"""Outbox: events that could not reach Redis, kept on disk in order until they do."""

from __future__ import annotations

import os
from pathlib import Path


class Outbox:
    """An append-only file of JSON lines plus a cursor: the byte offset replayed so far.

    Appends are fsynced: an event the bus accepted survives a crash. A crash between sending
    a line and moving the cursor sends that line again on replay; consumers drop duplicates
    by event id.
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._path = directory / "pending.jsonl"
        self._cursor_path = directory / "cursor"

    def append(self, line: str) -> None:
        with open(self._path, "a", encoding="utf-8") as file:
            file.write(line + "\n")
            file.flush()
            os.fsync(file.fileno())

    def _cursor(self) -> int:
        try:
            return int(self._cursor_path.read_text())
        except (OSError, ValueError):
            return 0

    def has_pending(self) -> bool:
        try:
            return self._path.stat().st_size > self._cursor()
        except OSError:
            return False

    def pending(self, limit: int = 500) -> list[tuple[int, str]]:
        """Up to `limit` unsent lines, each with the cursor value once it is sent."""
        lines: list[tuple[int, str]] = []
        try:
            with open(self._path, "rb") as file:
                file.seek(self._cursor())
                for raw in file:
                    if not raw.endswith(b"\n"):
                        break  # a torn last write: wait for it to complete
                    lines.append((file.tell(), raw.decode("utf-8").rstrip("\n")))
                    if len(lines) >= limit:
                        break
        except OSError:
            return []
        return lines

    def mark_sent(self, cursor: int) -> None:
        temporary = self._cursor_path.with_suffix(".tmp")
        temporary.write_text(str(cursor))
        os.replace(temporary, self._cursor_path)
        if cursor >= self._path.stat().st_size:
            # Everything is out: start a fresh file rather than grow one forever.
            self._path.unlink(missing_ok=True)
            self._cursor_path.unlink(missing_ok=True)
