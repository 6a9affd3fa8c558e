"""The instructor's review page in Chromium: edit a line, remove another, approve; the summary the
guardians will get is the edited one, and approval is on the bus. Students may not open it."""

from __future__ import annotations

import time
from typing import Any

import pytest

from server.context import CONTEXT
from summaries.draft import draft_summary
from summaries.evidence import class_record
from summaries.store import SummaryStore
from tests.summaries.test_student_facts import class_events

pytestmark = pytest.mark.browser


async def test_review_edit_remove_and_approve(aula_server: Any, open_page: Any, summariser: Any, tmp_path: Any) -> None:
    server = aula_server
    session = await server.create_session(title="Fractions", instructors=["ms-lee"])
    sid = session["id"]
    events, _ = class_events()
    store = SummaryStore(server.app[CONTEXT].redis, server.data_dir / "sessions")
    await store.create_draft(draft_summary(class_record(sid, events), summariser, time.time()))

    student = (await server.token(sid, "sam"))["token"]
    async with server.http.get(f"{server.base_url}/review/{sid}?token={student}") as response:
        assert response.status == 403
    teacher = (await server.token(sid, "ms-lee", role="instructor"))["token"]
    page = (await open_page("ms-lee", f"{server.base_url}/review/{sid}?token={teacher}")).page
    await page.wait_for_selector('#review[data-state="ready"][data-status="draft"]', timeout=10_000)
    assert await page.locator(".review-student").count() == 3

    sam = page.locator('.review-student[data-identity="sam"]')
    await sam.locator('li[data-kind="participation"] textarea').fill("Sam led the discussion on common denominators.")
    ali = page.locator('.review-student[data-identity="ali"]')
    camera_row = ali.locator('li[data-kind="concern"]').nth(await _row_index(ali, "camera"))
    await camera_row.locator("button.review-remove").click()
    assert await camera_row.get_attribute("data-removed") is not None
    assert "at 25:00" == await sam.locator('li[data-kind="participation"] .review-evidence').text_content()
    await page.locator("#approve").click()
    await page.wait_for_selector('#review[data-status="approved"]', timeout=10_000)
    await page.screenshot(path=str(tmp_path / "review.png"), full_page=True)
    assert await page.locator("#approve").is_disabled()

    async with server.http.get(f"{server.base_url}/api/sessions/{sid}/summary", headers=server.headers) as response:
        summary = await response.json()
    students = {s["identity"]: s for s in summary["students"]}
    sam_texts = [s["text"] for s in students["sam"]["statements"]]
    assert "Sam led the discussion on common denominators." in sam_texts
    assert not any("camera" in s["text"] for s in students["ali"]["statements"])
    assert [(h["action"], h["by"]) for h in summary["history"][1:]] == [("edited", "ms-lee"), ("approved", "ms-lee")]
    approved = await server.wait_for_event(sid, lambda e: e["type"] == "summary.approved")
    assert approved["data"]["by"] == "ms-lee"


async def _row_index(student: Any, word: str) -> int:
    texts = await student.locator('li[data-kind="concern"] textarea').evaluate_all("(els) => els.map((e) => e.value)")
    return next(i for i, text in enumerate(texts) if word in text)
