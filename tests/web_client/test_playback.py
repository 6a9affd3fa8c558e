"""The playback page: the exported class video with its transcript; a click on a line seeks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from client import ClientOptions
from tests.media.test_forwarding import join
from tests.synthetic import ColourTrack, ToneTrack
from transcription.transcript_files import TranscriptFiles, TranscriptSegment

pytestmark = pytest.mark.browser


async def test_export_then_watch_with_the_transcript_and_seek_by_clicking_a_line(aula_server: Any, open_page: Any) -> None:
    server = aula_server
    session = await server.create_session(title="Geometry", settings={"recording": True})
    student = await join(server, session["id"], "sam", publish={"microphone": ToneTrack(440, 0.2),
                                                               "camera": ColourTrack((200, 60, 60))},
                         options=ClientOptions(decode=False))
    student_token = (await server.token(session["id"], "sam"))["token"]
    teacher_token = (await server.token(session["id"], "ms-lee", role="instructor"))["token"]
    await asyncio.sleep(4.0)
    await student.close()
    await server.end_session(session["id"])
    # What the live transcript would hold (the test model's words are noise).
    session_dir = server.data_dir / "sessions" / session["id"]
    TranscriptFiles(session_dir, session["id"]).replace_all([
        TranscriptSegment("sam", "Sam", 0.5, 1.5, "An angle has two sides."),
        TranscriptSegment("sam", "Sam", 2.5, 3.5, "A right angle is ninety degrees.")])

    export_url = f"{server.base_url}/api/sessions/{session['id']}/export"
    async with server.http.get(export_url, headers=server.headers) as response:
        assert response.status == 404
    async with server.http.post(export_url, headers=server.headers) as response:
        assert response.status == 202 and (await response.json())["status"] == "running"
    for _ in range(600):
        async with server.http.get(export_url, headers=server.headers) as response:
            if response.status == 200:
                assert response.content_type == "video/mp4"
                break
            assert response.status == 202, await response.text()
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the export never finished")

    async with server.http.get(f"{server.base_url}/playback/{session['id']}?token={student_token}") as response:
        assert response.status == 403  # a student may not watch the class recording
    page = (await open_page("ms-lee", f"{server.base_url}/playback/{session['id']}?token={teacher_token}")).page
    await page.wait_for_selector('#playback[data-state="ready"]', timeout=10_000)
    assert await page.locator("#playback-title").text_content() == "Geometry"
    lines = page.locator("#transcript-lines li")
    assert await lines.count() == 2
    await page.wait_for_function("document.querySelector('#playback-video').readyState >= 1", timeout=10_000)
    assert await page.evaluate("document.querySelector('#playback-video').duration") > 3.0
    await lines.nth(1).locator("button").click()
    position = await page.evaluate("document.querySelector('#playback-video').currentTime")
    assert position == pytest.approx(2.5, abs=0.6)
    assert await lines.nth(1).locator("button").get_attribute("aria-current") == "true"
