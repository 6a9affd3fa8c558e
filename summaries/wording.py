"""How numbers and lists read in a summary."""

from __future__ import annotations


def duration_words(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if rest and minutes < 10 else f"{round(seconds / 60)} min"


def join_words(parts: list[str], separator: str = ", ") -> str:
    """"a", "a and b", "a, b and c"."""
    return parts[0] if len(parts) == 1 else separator.join(parts[:-1]) + " and " + parts[-1]
