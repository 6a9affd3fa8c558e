"""The browser client in real headless Chromium against a real Aula server on loopback."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytestmark = pytest.mark.browser


async def autojoin_url(server: Any, session_id: str, identity: str, name: str, role: str) -> str:
    issued = await server.token(session_id, identity, name, role)
    url = issued["join_url"]
    return f"{url}{'&' if '?' in url else '?'}autojoin=1"


async def open_class(server: Any, open_page: Any, session_id: str, people: list[tuple[str, str, str]]) -> dict[str, Any]:
    """Open one autojoining page per (identity, name, role), all at once."""
    urls = [await autojoin_url(server, session_id, *person) for person in people]
    pages = await asyncio.gather(*(open_page(person[0], url) for person, url in zip(people, urls)))
    return {person[0]: page for person, page in zip(people, pages)}


def tile(identity: str) -> str:
    return f'[data-identity="{identity}"]'


async def test_every_page_plays_the_other_participants_video_and_audio(aula_server: Any, open_page: Any) -> None:
    session = await aula_server.create_session(title="Algebra")
    people = [("teacher", "Ada Teacher", "instructor"), ("stu-a", "Alan A", "student"), ("stu-b", "Grace B", "student")]
    pages = await open_class(aula_server, open_page, session["id"], people)

    for identity, page in pages.items():
        await page.wait_for_phase("joined")
        # Every tile, own included, is [data-identity] holding exactly one video.
        for other in pages:
            assert await page.page.locator(f"{tile(other)} video").count() == 1
        for other in pages:
            if other == identity:
                continue
            seen = await page.wait_playing(other)
            assert seen["width"] > 0 and seen["mean"] > 20, seen
            assert seen["audioLive"], f"{identity} has no live audio from {other}: {seen}"
    # The own tile is the local preview, muted, with no audio element of its own.
    own = pages["stu-a"].page.locator(f'{tile("stu-a")}[data-self="true"]')
    assert await own.locator("video").evaluate("(v) => v.muted") is True
    assert await own.locator("audio").count() == 0
    assert await pages["stu-a"].page.title() == "Algebra · Aula"


async def test_instructor_mutes_and_removes_a_student_from_the_page(aula_server: Any, open_page: Any) -> None:
    session = await aula_server.create_session(title="Moderation")
    people = [("teacher", "Ada Teacher", "instructor"), ("stu-a", "Alan A", "student"), ("stu-b", "Grace B", "student")]
    pages = await open_class(aula_server, open_page, session["id"], people)
    teacher, alan, grace = pages["teacher"], pages["stu-a"], pages["stu-b"]
    for page in pages.values():
        await page.wait_for_phase("joined")
    # Students get no moderation buttons; the instructor gets them on students' tiles only.
    assert await alan.page.locator('[data-action^="moderate-"]').count() == 0
    assert await alan.page.locator('[data-action="toggle-lock"]').is_hidden()
    for watcher in (teacher, grace):
        await watcher.page.wait_for_selector(f'{tile("stu-a")}[data-mic-muted="false"]', timeout=15_000)

    await teacher.page.click(f'{tile("stu-a")} [data-action="moderate-mute"]')

    # Alan's own page mutes its microphone and says who did it.
    await alan.page.wait_for_selector('#notice[data-kind="muted"]', timeout=10_000)
    await alan.page.wait_for_selector(f'{tile("stu-a")}[data-self][data-mic-muted="true"]', timeout=5_000)
    assert await alan.page.get_attribute('[data-action="toggle-mic"]', "aria-pressed") == "false"
    assert (await alan.state())["micEnabled"] is False
    # The others see Alan's muted indicator.
    for watcher in (teacher, grace):
        await watcher.page.wait_for_selector(f'{tile("stu-a")}[data-mic-muted="true"] .mic-off', timeout=10_000)
        assert await watcher.page.locator(f'{tile("stu-a")} .mic-off').is_visible()

    await teacher.page.click(f'{tile("stu-b")} [data-action="moderate-remove"]')

    await grace.page.wait_for_selector('#notice[data-kind="removed"]', timeout=10_000)
    assert "You were removed from the class" in await grace.page.inner_text("#notice")
    await grace.wait_for_phase("removed")
    assert (await grace.state())["published"] == []
    for watcher in (teacher, alan):
        await watcher.page.wait_for_selector(tile("stu-b"), state="detached", timeout=10_000)
    # The others are unaffected: Alan still sees the instructor.
    await alan.wait_playing("teacher")


async def test_a_locked_room_refuses_a_new_student_until_it_is_unlocked(aula_server: Any, open_page: Any) -> None:
    session = await aula_server.create_session(title="Locked")
    pages = await open_class(aula_server, open_page, session["id"], [("teacher", "Ada Teacher", "instructor")])
    teacher = pages["teacher"]
    await teacher.wait_for_phase("joined")

    await teacher.page.click('[data-action="toggle-lock"]')
    await teacher.page.wait_for_selector('#app[data-locked="true"]', timeout=10_000)
    assert await teacher.page.locator("#lock-state").is_visible()
    assert await teacher.page.get_attribute('[data-action="toggle-lock"]', "aria-label") == "Unlock room"

    late = await open_page("late", await autojoin_url(aula_server, session["id"], "stu-late", "Late Student", "student"))
    await late.page.wait_for_selector('#notice[data-kind="refused"][data-code="room_locked"]', timeout=15_000)
    assert "locked" in (await late.page.inner_text("#notice-text")).lower()
    await late.wait_for_phase("refused")
    assert await teacher.page.locator(tile("stu-late")).count() == 0

    await teacher.page.click('[data-action="toggle-lock"]')
    await teacher.page.wait_for_selector('#app[data-locked="false"]', timeout=10_000)
    await late.page.click("#retry-button")

    await late.wait_for_phase("joined")
    await late.wait_playing("teacher")
    await teacher.wait_playing("stu-late")


async def test_a_student_who_reloads_comes_back_and_is_seen_again(aula_server: Any, open_page: Any) -> None:
    session = await aula_server.create_session(title="Reload")
    people = [("teacher", "Ada Teacher", "instructor"), ("stu-a", "Alan A", "student")]
    pages = await open_class(aula_server, open_page, session["id"], people)
    teacher, alan = pages["teacher"], pages["stu-a"]
    await teacher.wait_playing("stu-a")
    await alan.wait_playing("teacher")

    await alan.page.reload()

    await alan.wait_for_phase("joined")
    await alan.wait_playing("teacher")
    # The old page's connection closed with the reload, so frames that still move come from the
    # new one. (The frame counter is no measure: a new track restarts it.)
    after = await teacher.wait_playing("stu-a")
    assert after["audioLive"]
    assert await teacher.page.locator(tile("stu-a")).count() == 1
    assert (await teacher.state())["phase"] == "joined"


async def camera_packets(page: Any, identity: str) -> int:
    """RTP packets this page has received so far on `identity`'s camera."""
    state = await page.state()
    mid = next(r["mid"] for r in state["routes"] if r["identity"] == identity and r["source"] == "camera")
    stats = await page.page.evaluate("() => window.aula.stats()")
    return next((row["packets"] for row in stats["subscriber"] if row["mid"] == mid), 0)


async def test_a_tile_scrolled_out_of_view_stops_receiving_video_until_it_is_back(aula_server: Any, open_page: Any) -> None:
    session = await aula_server.create_session(title="Gallery")
    people = [("teacher", "Ada Teacher", "instructor"), ("stu-a", "Alan A", "student")]
    pages = await open_class(aula_server, open_page, session["id"], people)
    teacher = pages["teacher"]
    await teacher.wait_playing("stu-a")

    # A phone-sized window: the own tile fills it, Alan's tile is below the fold.
    await teacher.page.set_viewport_size({"width": 320, "height": 200})
    await teacher.page.wait_for_selector(f'{tile("stu-a")}[data-visible="false"]', state="attached", timeout=5_000)
    await asyncio.sleep(0.5)  # packets already on the way
    before = await camera_packets(teacher, "stu-a")
    await asyncio.sleep(1.5)
    assert await camera_packets(teacher, "stu-a") == before, "a hidden tile's video is still forwarded"
    assert (await teacher.probe("stu-a"))["audioLive"], "audio must keep flowing for hidden tiles"

    await teacher.page.locator(tile("stu-a")).scroll_into_view_if_needed()
    await teacher.page.wait_for_selector(f'{tile("stu-a")}[data-visible="true"]', state="attached", timeout=5_000)
    await teacher.wait_playing("stu-a")
    assert await camera_packets(teacher, "stu-a") > before


async def test_the_instructor_ends_the_class_for_everyone(aula_server: Any, open_page: Any) -> None:
    session = await aula_server.create_session(
        roster=[{"identity": "stu-a", "name": "Student A"}, {"identity": "stu-b", "name": "Student B"}])
    pages = await open_class(aula_server, open_page, session["id"],
                             [("teacher", "Teacher", "instructor"), ("stu-a", "Student A", "student")])
    teacher, student = pages["teacher"], pages["stu-a"]
    await teacher.wait_for_phase("joined")
    await student.wait_for_phase("joined")
    assert await student.page.locator('[data-action="end-class"]').is_hidden()
    teacher.page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await teacher.page.click('[data-action="end-class"]')
    for page in (teacher, student):
        await page.page.wait_for_selector('#notice[data-kind="ended"]', state="visible", timeout=10_000)
    summary = await aula_server.wait_for_event(session["id"], lambda e: e["type"] == "attendance.summary")
    categories = {r["identity"]: r["category"] for r in summary["data"]["records"]}
    assert categories == {"stu-a": "present", "stu-b": "unexcused_absence", "teacher": "present"}
    ended = await aula_server.wait_for_event(session["id"], lambda e: e["type"] == "session.ended")
    assert ended["data"]["reason"] == "instructor"
