"""Live captions in real headless Chromium: an aiortc student speaks (espeak), the instructor's
page turns captions on and sees that student's utterances settle into final lines."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.conftest import loopback_settings, running_aula
from tests.media.test_forwarding import join
from tests.synthetic import AUDIO_RATE, PcmTrack, espeak

from .test_join_page import open_class

pytestmark = pytest.mark.browser


async def test_the_instructor_turns_captions_on_and_sees_each_speaker_named(
        redis_server: Any, tmp_path: Any, whisper_settings: Any, open_page: Any) -> None:
    settings = loopback_settings(redis_server.url, tmp_path / "data", whisper=whisper_settings)
    async with running_aula(settings) as server:
        session = await server.create_session(title="Biology")
        pages = await open_class(server, open_page, session["id"], [("teacher", "Ada Teacher", "instructor")])
        teacher = pages["teacher"]
        await teacher.wait_for_phase("joined")
        page = teacher.page
        button = page.locator('#controls [data-action="toggle-captions"]')
        await button.wait_for(state="visible", timeout=10_000)
        assert await button.get_attribute("aria-pressed") == "false"
        assert await page.locator("#captions").is_hidden()
        await button.click()
        assert await button.get_attribute("aria-pressed") == "true"

        speech = np.concatenate([np.zeros(AUDIO_RATE // 2, np.int16),
                                 espeak("Plants make sugar from light, water and air."),
                                 np.zeros(AUDIO_RATE * 2, np.int16)])
        student = await join(server, session["id"], "stu-a", publish={"microphone": PcmTrack(speech)})
        try:
            final = page.locator('#captions .caption[data-speaker="stu-a"][data-final="true"]')
            await final.wait_for(timeout=20_000)
            assert (await final.locator(".caption-name").text_content()) == "stu-a"
            event = await server.wait_for_event(session["id"], lambda e: e["type"] == "transcript.final")
            assert await final.get_attribute("data-utterance-id") == event["data"]["utterance_id"]
            # Off again: the captions go away, and the choice is kept for the next visit.
            await button.click()
            assert await page.locator("#captions").is_hidden()
            assert await page.evaluate("localStorage.getItem('aula.captions')") == "off"
        finally:
            await student.close()


async def test_without_transcription_there_is_no_captions_button(aula_server: Any, open_page: Any) -> None:
    session = await aula_server.create_session()
    pages = await open_class(aula_server, open_page, session["id"], [("teacher", "Ada Teacher", "instructor")])
    await pages["teacher"].wait_for_phase("joined")
    assert await pages["teacher"].page.locator('#controls [data-action="toggle-captions"]').is_hidden()
