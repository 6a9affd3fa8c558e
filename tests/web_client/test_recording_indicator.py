"""Consent: when the instructor starts recording, every participant's page shows it at once."""

from __future__ import annotations

from typing import Any

import pytest

from .test_join_page import open_class

pytestmark = pytest.mark.browser


async def test_every_page_shows_the_recording_indicator_while_the_class_is_recorded(
        aula_server: Any, open_page: Any) -> None:
    session = await aula_server.create_session(title="Chemistry")
    people = [("teacher", "Ada Teacher", "instructor"), ("stu-a", "Alan A", "student"),
              ("stu-b", "Grace B", "student")]
    pages = await open_class(aula_server, open_page, session["id"], people)
    for page in pages.values():
        await page.wait_for_phase("joined")
        assert await page.page.locator("#recording-indicator").is_hidden()
    teacher = pages["teacher"].page
    button = teacher.locator('#controls [data-action="toggle-recording"]')
    assert await button.is_visible()
    for identity in ("stu-a", "stu-b"):  # students have no such control
        assert await pages[identity].page.locator('#controls [data-action="toggle-recording"]').is_hidden()

    await button.click()
    for page in pages.values():
        await page.page.locator("#recording-indicator").wait_for(state="visible", timeout=5_000)
    assert await button.get_attribute("aria-pressed") == "true"
    event = await aula_server.wait_for_event(session["id"], lambda e: e["type"] == "recording.started")
    assert event["participant"] == "teacher"

    # A student who reloads mid-recording sees it from the moment they are back.
    await pages["stu-b"].page.reload()
    await pages["stu-b"].wait_for_phase("joined")
    await pages["stu-b"].page.locator("#recording-indicator").wait_for(state="visible", timeout=5_000)

    await button.click()
    for page in pages.values():
        await page.page.locator("#recording-indicator").wait_for(state="hidden", timeout=5_000)
    finished = await aula_server.wait_for_event(session["id"], lambda e: e["type"] == "recording.finished")
    assert {f["participant"] for f in finished["data"]["files"]} == {"teacher", "stu-a", "stu-b"}
