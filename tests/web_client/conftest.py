"""Real headless Chromium (Debian's /usr/bin/chromium) driving the join page.

One browser per test (the `aula_server` fixture runs the app inside each test's own event
loop, and a Playwright connection is bound to the loop that opened it; Chromium starts in
well under a second); every page gets a fresh context, so pages share no cookies, storage or
media devices. Chromium's fake camera draws a moving test pattern and its fake
microphone plays a beep, so what a page receives can be checked pixel by pixel.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Optional

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from client.browser import CHROMIUM, CHROMIUM_ARGS


# What a tile shows, read in the page: video size, clock and decoded frame count, a sampled frame's mean pixel
# value (the fake camera's pattern is far from black), and whether the remote <audio> has
# a live track.
PROBE_JS = """
(identity) => {
  const tile = [...document.querySelectorAll('[data-identity]')]
    .find((el) => el.dataset.identity === identity);
  if (!tile) return null;
  const video = tile.querySelector('video');
  const audio = tile.querySelector('audio');
  const result = {
    width: video ? video.videoWidth : 0,
    height: video ? video.videoHeight : 0,
    time: video ? video.currentTime : 0,
    frames: video && video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality().totalVideoFrames : 0,
    paused: video ? video.paused : true,
    mean: 0,
    videoTrackId: video && video.srcObject ? (video.srcObject.getVideoTracks()[0] || {}).id || null : null,
    audioLive: false,
    micMuted: tile.dataset.micMuted,
    cameraOff: tile.dataset.cameraOff,
  };
  if (audio && audio.srcObject) {
    result.audioLive = audio.srcObject.getAudioTracks().some((t) => t.readyState === 'live');
  }
  if (result.width > 0) {
    const canvas = document.createElement('canvas');
    canvas.width = 64;
    canvas.height = 36;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let sum = 0;
    for (let i = 0; i < data.length; i += 4) sum += data[i] + data[i + 1] + data[i + 2];
    result.mean = sum / (data.length / 4) / 3;
  }
  return result;
}
"""


@dataclass
class ClassPage:
    """One participant's browser page, with the checks the tests share."""

    name: str
    context: BrowserContext
    page: Page
    logs: list[str] = field(default_factory=list)

    async def state(self) -> dict[str, Any]:
        return await self.page.evaluate("() => window.aula ? window.aula.state : null")

    async def probe(self, identity: str) -> Optional[dict[str, Any]]:
        return await self.page.evaluate(PROBE_JS, identity)

    async def wait_for_phase(self, phase: str, timeout: float = 15.0) -> None:
        await self.page.wait_for_selector(f'#app[data-phase="{phase}"]', state="attached", timeout=timeout * 1000)

    async def wait_playing(
        self, identity: str, timeout: float = 20.0, not_track: Optional[str] = None
    ) -> dict[str, Any]:
        """Wait until `identity`'s tile plays real video (and, remotely, has live audio).

        Playing means: a decoded size, a clock and a frame count that both move between two
        samples, a sampled frame that is not black. `not_track` demands a different video track
        than that id.
        """
        deadline = time.monotonic() + timeout
        last: Optional[dict[str, Any]] = None
        while time.monotonic() < deadline:
            first = await self.probe(identity)
            if first and first["width"] > 0 and (not_track is None or first["videoTrackId"] != not_track):
                await asyncio.sleep(0.4)
                second = await self.probe(identity)
                if (
                    second
                    and second["width"] > 0
                    and second["time"] > first["time"]
                    and second["frames"] > first["frames"]
                    and second["mean"] > 20
                    and second["videoTrackId"] == first["videoTrackId"]
                ):
                    return second
                last = second
            else:
                last = first
                await asyncio.sleep(0.25)
        raise AssertionError(f"{self.name}: {identity}'s video is not playing: {last}\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(f"  [{self.name}] {line}" for line in self.logs[-lines:])

    async def close(self) -> None:
        await self.context.close()


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture
async def open_page(browser: Browser) -> AsyncIterator[Any]:
    """`await open_page(name, url)` → a ClassPage in a fresh context; all closed at the end."""
    pages: list[ClassPage] = []

    async def _open(name: str, url: str) -> ClassPage:
        context = await browser.new_context(viewport={"width": 960, "height": 640})
        page = await context.new_page()
        class_page = ClassPage(name, context, page)
        page.on("console", lambda msg: class_page.logs.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: class_page.logs.append(f"pageerror: {exc}"))
        pages.append(class_page)
        await page.goto(url)
        return class_page

    yield _open
    for class_page in pages:
        await class_page.close()
