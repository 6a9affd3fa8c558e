"""Summaries kept in Redis (`aula:summary:{session id}`, read by every node) and mirrored to
`sessions/{id}/summary.json` in the data folder. A draft is written once: a redelivered
`session.ended` never overwrites an instructor's edits. Edits, approval and rejection are
compare-and-set, so two reviewers cannot both approve a stale copy."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Optional

import redis.asyncio as aioredis

from events.event import iso

MAX_TEXT = 4000


class SummaryMissing(LookupError):
    pass


class SummaryConflict(RuntimeError):
    """The summary is not in a state that allows this (e.g. editing an approved summary)."""


class SummaryEditInvalid(ValueError):
    pass


def _key(session_id: str) -> str:
    return f"aula:summary:{session_id}"


class SummaryStore:
    def __init__(self, redis: aioredis.Redis, sessions_dir: Optional[Path]) -> None:
        self._redis = redis
        self._sessions_dir = sessions_dir

    async def get(self, session_id: str) -> Optional[dict[str, Any]]:
        raw = await self._redis.get(_key(session_id))
        return json.loads(raw) if raw else None

    async def create_draft(self, summary: dict[str, Any]) -> bool:
        """False if the session already has a summary (it is left as it is)."""
        created = await self._redis.set(_key(summary["session_id"]), json.dumps(summary), nx=True)
        if created:
            await asyncio.to_thread(self._mirror, summary)
        return bool(created)

    async def edit(self, session_id: str, edits: Any, by: str) -> dict[str, Any]:
        def change(summary: dict[str, Any]) -> None:
            if summary["status"] == "approved":
                raise SummaryConflict("the summary is approved and was sent; it can no longer be edited")
            _apply_edits(summary, edits)
            summary["status"] = "draft"
        return await self._update(session_id, change, "edited", by)

    async def approve(self, session_id: str, by: str) -> dict[str, Any]:
        def change(summary: dict[str, Any]) -> None:
            if summary["status"] == "approved":
                raise SummaryConflict("the summary is already approved")
            summary["status"] = "approved"
        return await self._update(session_id, change, "approved", by)

    async def reject(self, session_id: str, by: str, reason: str) -> dict[str, Any]:
        def change(summary: dict[str, Any]) -> None:
            if summary["status"] == "approved":
                raise SummaryConflict("the summary is approved and was sent; it can no longer be rejected")
            summary["status"] = "rejected"
        return await self._update(session_id, change, "rejected", by, reason[:MAX_TEXT])

    async def _update(self, session_id: str, change: Callable[[dict[str, Any]], None], action: str, by: str,
                      reason: Optional[str] = None) -> dict[str, Any]:
        key = _key(session_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if raw is None:
                        raise SummaryMissing(f"session {session_id} has no summary yet")
                    summary = json.loads(raw)
                    change(summary)
                    entry: dict[str, Any] = {"action": action, "by": by, "at": iso(time.time())}
                    if reason:
                        entry["reason"] = reason
                    summary["history"].append(entry)
                    pipe.multi()
                    pipe.set(key, json.dumps(summary))
                    await pipe.execute()
                    break
                except aioredis.WatchError:
                    continue
        await asyncio.to_thread(self._mirror, summary)
        return summary

    def _mirror(self, summary: dict[str, Any]) -> None:
        """summary.json, written whole (on a thread: a file write has no place on the event loop)."""
        if self._sessions_dir is None:
            return
        folder = self._sessions_dir / summary["session_id"]
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / "summary.json.tmp"
        temporary.write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
        os.replace(temporary, folder / "summary.json")


def _apply_edits(summary: dict[str, Any], edits: Any) -> None:
    """`{"overview": str, "instructor_note": str, "items": {item id: new text, or null to remove}}`;
    an item keeps its evidence when its words are changed."""
    if not isinstance(edits, dict) or set(edits) - {"overview", "instructor_note", "items"}:
        raise SummaryEditInvalid('edits are {"overview": text, "instructor_note": text, "items": {id: text or null}}')
    for field in ("overview", "instructor_note"):
        if field in edits:
            summary[field] = _text(edits[field], field)
    items = edits.get("items", {})
    if not isinstance(items, dict):
        raise SummaryEditInvalid('"items" maps item ids to their new text (null removes the item)')
    lists = [summary[name] for name in ("topics", "key_points", "questions", "action_items")]
    lists += [student["statements"] for student in summary["students"]]
    found = {item["id"]: (items_list, item) for items_list in lists for item in items_list}
    unknown = sorted(set(items) - set(found))
    if unknown:
        raise SummaryEditInvalid(f"no items with ids {', '.join(unknown)}")
    for item_id, text in items.items():
        items_list, item = found[item_id]
        if text is None:
            items_list.remove(item)
        else:
            item["title" if "title" in item else "text"] = _text(text, item_id)


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise SummaryEditInvalid(f"{name} must be text of at most {MAX_TEXT} characters")
    return value.strip()
