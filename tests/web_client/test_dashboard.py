"""The operations dashboard in real headless Chromium: live counts as a real (aiortc) participant
joins, a no-show flag raised by the real workflow worker, the session and student views."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from client import ClientOptions
from events import Event, EventType
from events.bus import GLOBAL_STREAM
from server.context import CONTEXT
from tests.conftest import iso
from tests.media.test_forwarding import join
from tests.server.test_dashboard_api import ops_token
from workflows.config import WorkflowConfig
from workflows.records import StudentRecords
from workflows.worker import GROUP, WorkflowWorker

pytestmark = pytest.mark.browser


async def open_dashboard(server: Any, open_page: Any, token: str) -> Any:
    page = await open_page("ops", f"{server.base_url}/dashboard?token={token}")
    await page.page.wait_for_selector('#dashboard[data-state="ready"]', state="attached", timeout=10_000)
    await page.page.wait_for_selector('#feed-status[data-state="live"]', timeout=10_000)
    return page


async def test_a_live_sessions_count_goes_from_0_to_1_when_a_participant_joins(
        aula_server: Any, open_page: Any, tmp_path: Path) -> None:
    server = aula_server
    session = await server.create_session(title="Algebra 1", roster=[{"identity": "sam", "name": "Sam"}])
    dashboard = await open_dashboard(server, open_page, await ops_token(server))
    page = dashboard.page
    row = page.locator(f'#sessions-live tr[data-session-id="{session["id"]}"]')
    assert await row.get_attribute("data-in-room") == "0"
    assert await row.locator('[data-field="in-room"]').text_content() == "0"
    assert await row.locator('[data-field="students"]').text_content() == "0 / 1"
    await page.screenshot(path=str(tmp_path / "dashboard-before-join.png"), full_page=True)
    await page.evaluate("window.notReloaded = true")

    sam = await join(server, session["id"], "sam", options=ClientOptions(decode=False))
    try:
        await page.wait_for_selector(f'#sessions-live tr[data-session-id="{session["id"]}"][data-in-room="1"]',
                                     timeout=10_000)
        screenshot = tmp_path / "dashboard-after-join.png"
        await page.screenshot(path=str(screenshot), full_page=True)
        print(f"screenshot: {screenshot}")
        assert screenshot.stat().st_size > 10_000
        assert await page.evaluate("window.notReloaded") is True  # updated in place, by the feed
        assert await row.locator('[data-field="in-room"]').text_content() == "1"
        assert await row.locator('[data-field="students"]').text_content() == "1 / 1"
        assert (await page.evaluate("window.aulaDashboard.state.events")) > 0

        # The session view: Sam in the room, in the attendance table.
        await row.locator('[data-field="title"] a').click()
        await page.wait_for_selector(f'#view-session[data-session-id="{session["id"]}"]', timeout=10_000)
        sam_row = page.locator('#attendance tr[data-identity="sam"]')
        assert await sam_row.get_attribute("data-in-room") == "true"
        assert await sam_row.get_attribute("data-category") == "present"
    finally:
        await sam.close()
    await page.wait_for_selector('#attendance tr[data-identity="sam"][data-in-room="false"]', timeout=10_000)


async def test_a_no_show_flag_from_the_workflow_worker_shows_in_the_flags_panel_and_is_resolved(
        aula_server: Any, open_page: Any, tmp_path: Path) -> None:
    server = aula_server
    context = server.app[CONTEXT]
    cy = f"cy-{secrets.token_hex(3)}"  # the suite's Redis keeps other tests' students
    # Cy missed last week's class too: this second absence makes a chronic absence.
    await StudentRecords(context.redis).merge(cy, "ses_00000000000000aa", {
        "title": "Biology (last week)", "scheduled_start": iso(-7 * 86400), "category": "unexcused_absence",
        "present_s": 0}, flag="no_show")
    dashboard = await open_dashboard(server, open_page, await ops_token(server, "olga", "Olga Ops"))
    page = dashboard.page
    session = await server.create_session(title="Biology", scheduled_start=iso(),
                                          roster=[{"identity": cy, "name": "Cy"}],
                                          settings={"no_show_after_s": 1})
    async with aiohttp.ClientSession() as http:
        # `aula worker` with the default rules: a no-show raises a flag and goes on the record.
        # Its group starts here: the suite's Redis holds other tests' no-shows.
        await context.redis.xgroup_destroy(GLOBAL_STREAM, GROUP)
        await context.redis.xgroup_create(GLOBAL_STREAM, GROUP, id="$", mkstream=True)
        worker = WorkflowWorker(context.redis, context.bus, WorkflowConfig(), "dashboard-test", http)
        stop = asyncio.Event()
        task = asyncio.ensure_future(worker.run(stop))
        try:
            flag = page.locator(f'#flags-list li.flag[data-kind="no_show"][data-participant="{cy}"]'
                                f'[data-session-id="{session["id"]}"]')
            await flag.wait_for(timeout=15_000)
            at_risk = page.locator(f'#flags-list li.flag[data-kind="at_risk"][data-participant="{cy}"]')
            await at_risk.wait_for(timeout=10_000)
        finally:
            stop.set()
            await task
    assert await flag.get_attribute("data-state") == "open"
    assert "Cy missed Biology" in await flag.locator(".flag-reason").text_content()
    assert await flag.locator('[data-link="session"]').text_content() == "Biology"
    assert "chronic absence" in await at_risk.locator(".flag-reason").text_content()
    await page.screenshot(path=str(tmp_path / "dashboard-no-show-flag.png"), full_page=True)

    await flag.locator('button[data-action="acknowledge-flag"]').click()
    await page.wait_for_selector(f'#flags-list li.flag[data-kind="no_show"][data-participant="{cy}"]'
                                 '[data-state="acknowledged"]', timeout=10_000)
    assert "Acknowledged by Olga Ops" in await flag.locator(".flag-resolution").text_content()
    await flag.locator('button[data-action="resolve-flag"]').click()
    await flag.wait_for(state="detached", timeout=10_000)
    await page.locator('button[data-action="flags-filter"][data-filter="resolved"]').click()
    resolved = page.locator(f'#flags-list li.flag[data-kind="no_show"][data-participant="{cy}"][data-state="resolved"]')
    await resolved.wait_for(timeout=10_000)
    assert "Resolved by Olga Ops" in await resolved.locator(".flag-resolution").text_content()

    # The student view: both absences on record, the risk the worker assessed, the flags.
    await resolved.locator('[data-link="student"]').click()
    await page.wait_for_selector(f'#view-student[data-identity="{cy}"]', timeout=10_000)
    history = page.locator(f'#student-history tr[data-session-id="{session["id"]}"]')
    await history.wait_for(timeout=10_000)
    assert await history.get_attribute("data-category") == "unexcused_absence"
    assert await page.locator("#student-history tbody tr").count() == 2
    risk = page.locator("#student-risk")
    assert await risk.get_attribute("data-level") == "at_risk" and await risk.text_content() == "At risk"
    assert await page.locator("#student-risk-reasons li").all_text_contents() == [
        "chronic absence: missed 2 of 2 classes (100%)"]
    assert await page.locator(f'#student-flags li.flag[data-kind="no_show"][data-session-id="{session["id"]}"]'
                              '[data-state="resolved"]').count() == 1
    assert await page.locator('#student-flags li.flag[data-kind="at_risk"]').count() == 1
    await page.screenshot(path=str(tmp_path / "dashboard-student.png"), full_page=True)


async def test_the_session_view_grows_its_transcript_and_engagement_timeline_live(
        aula_server: Any, open_page: Any, tmp_path: Path) -> None:
    server = aula_server
    session = await server.create_session(title="Geography", roster=[{"identity": "sam", "name": "Sam"}])
    token = await ops_token(server)
    page = (await open_dashboard(server, open_page, token)).page
    sam = await join(server, session["id"], "sam", options=ClientOptions(decode=False))
    bus = server.app[CONTEXT].bus
    try:
        await page.goto(f"{server.base_url}/dashboard?token={token}#/session/{session['id']}")
        await page.wait_for_selector('#attendance tr[data-identity="sam"][data-in-room="true"]', timeout=10_000)
        chart = page.locator('#attendance tr[data-identity="sam"] svg.timeline')
        assert await chart.get_attribute("data-points") == "0"
        await page.wait_for_selector('#feed-status[data-state="live"]', timeout=10_000)
        for score in (20, 60):
            await bus.publish(Event(EventType.ENGAGEMENT_SNAPSHOT, session["id"], {
                "present_s": 30.0, "talk_time_s": 5.0, "speaking_turns": 1, "camera_on_s": 30.0,
                "visible_s": 30.0, "messages": 0, "hands": 0, "reactions": 0, "polls_answered": 0,
                "polls_correct": 0, "score": score,
                "score_parts": {"talk": score, "chat": 0, "hands": 0, "reactions": 0, "polls": 0}}, "sam"))
        await page.wait_for_selector('#attendance tr[data-identity="sam"] svg.timeline[data-points="2"]', timeout=10_000)
        assert await chart.get_attribute("data-last-score") == "60"
        # Finals are appended as the feed brings them (the page does not re-read the session).
        for n, line in enumerate(("Rivers run to the sea.", "Mountains make rain.")):
            await bus.publish(Event(EventType.TRANSCRIPT_FINAL, session["id"], {
                "name": "Sam", "utterance_id": f"TR_1-{n}", "start": 1.0 + n, "end": 2.0 + n, "text": line,
                "words": [], "confidence": 0.9, "language": "en"}, "sam"))
        await page.wait_for_function("document.querySelectorAll('#transcript li').length === 2", timeout=10_000)
        assert await page.locator("#transcript li .transcript-text").all_text_contents() == [
            "Rivers run to the sea.", "Mountains make rain."]
        assert await page.locator("#transcript-empty").is_hidden()
        await page.screenshot(path=str(tmp_path / "dashboard-session.png"), full_page=True)
    finally:
        await sam.close()


async def test_a_students_link_is_refused_with_a_clear_page(aula_server: Any, open_page: Any) -> None:
    server = aula_server
    session = await server.create_session(title="Algebra 1", roster=[{"identity": "sam", "name": "Sam"}])
    await StudentRecords(server.app[CONTEXT].redis).merge("sam", session["id"], {"title": "Algebra 1"})
    student = (await server.token(session["id"], "sam"))["token"]
    page = (await open_page("sam", f"{server.base_url}/dashboard?token={student}")).page
    assert await page.locator("#refused h1").text_content() == "No access to the operations dashboard"
    assert "for a class, not for operations" in await page.locator("#refused-reason").text_content()
    assert await page.locator("#dashboard").count() == 0
