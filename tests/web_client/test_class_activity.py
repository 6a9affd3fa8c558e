"""Class activity in real headless Chromium: chat, hands, reactions, polls, tab visibility.

What the pages show is checked on the other pages, and what the server recorded is checked on
the session's Redis stream (every event there must validate against events/schemas/).
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from events.schema import validate

from .test_join_page import open_class, tile

pytestmark = pytest.mark.browser

# How the test hides a page: Page Visibility has no CDP switch that keeps scripts running, so
# the page's document says it is hidden and fires the event the browser would fire.
HIDE_PAGE_JS = """
() => {
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
  Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
  document.dispatchEvent(new Event('visibilitychange'));
}
"""


def signal(name: str, participant: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    """A predicate for the `engagement.signal` `name` about `participant` with these data fields."""

    def matches(event: dict[str, Any]) -> bool:
        data = event.get("data", {})
        return (event["type"] == "engagement.signal" and event.get("participant") == participant
                and data.get("signal") == name
                and all(data.get(key) == value for key, value in fields.items()))

    return matches


async def send_chat(page: Any, text: str, to: str = "") -> None:
    """Type `text` in the open chat panel and press Enter (to "" = everyone)."""
    await page.select_option("#chat-to", to)
    await page.fill("#chat-text", text)
    await page.press("#chat-text", "Enter")


async def test_chat_hands_reactions_polls_and_visibility_reach_the_pages_and_the_event_stream(
        aula_server: Any, open_page: Any) -> None:
    session = await aula_server.create_session(title="Fractions")
    session_id = session["id"]
    people = [("teacher", "Ada Teacher", "instructor"), ("stu-a", "Alan A", "student"),
              ("stu-b", "Grace B", "student")]
    pages = await open_class(aula_server, open_page, session_id, people)
    teacher, alan, grace = (pages[identity].page for identity in ("teacher", "stu-a", "stu-b"))
    for class_page in pages.values():
        await class_page.wait_for_phase("joined")
    for page in (teacher, grace):
        await page.wait_for_selector(tile("stu-a"), timeout=10_000)
    # Students get no moderator controls; the instructor gets no hand to raise.
    assert await alan.locator('[data-action="create-poll"]').is_hidden()
    assert await alan.locator('[data-action="toggle-panel"]').is_hidden()
    assert await teacher.locator('[data-action="toggle-hand"]').is_hidden()

    # -- chat: public, then private to the instructor -------------------------------------
    await alan.click('[data-action="toggle-chat"]')
    assert await alan.get_attribute('[data-action="toggle-chat"]', "aria-pressed") == "true"
    await alan.wait_for_selector('#chat-to option[value="teacher"]', state="attached")
    # A student may write privately only to the instructors.
    assert await alan.locator('#chat-to option[value="stu-b"]').count() == 0
    await send_chat(alan, "Is 3/4 bigger than 2/3?")
    await send_chat(alan, "I did not get the homework", to="teacher")

    public = '#chat-messages li[data-from="stu-a"][data-private="false"]'
    await grace.wait_for_selector(public, state="attached", timeout=10_000)
    assert await grace.text_content(f"{public} .chat-text") == "Is 3/4 bigger than 2/3?"
    assert await grace.text_content(f"{public} .chat-name") == "Alan A"
    # Grace's chat is closed: the message waits behind an unread badge.
    await grace.wait_for_selector('[data-action="toggle-chat"][data-unread="1"] .badge', timeout=5_000)
    await grace.click('[data-action="toggle-chat"]')
    await grace.wait_for_selector(f"{public} .chat-text", state="visible")
    assert await grace.get_attribute('[data-action="toggle-chat"]', "data-unread") == "0"

    private = '#chat-messages li[data-from="stu-a"][data-private="true"]'
    await teacher.wait_for_selector(private, state="attached", timeout=10_000)
    assert await teacher.text_content(f"{private} .chat-text") == "I did not get the homework"
    assert await teacher.text_content(f"{private} .chat-private") == "Private to you"
    await alan.wait_for_selector(f'{private}[data-self="true"][data-to="teacher"]', state="attached")
    assert await alan.locator(public).count() == 1  # the sender sees its own message once

    # -- a hand, raised by the student and lowered by the instructor ----------------------
    await alan.click('[data-action="toggle-hand"]')
    await alan.wait_for_selector('[data-action="toggle-hand"][aria-pressed="true"]', timeout=5_000)
    await teacher.wait_for_selector('#hands li[data-identity="stu-a"]', timeout=5_000)
    await grace.wait_for_selector(f'{tile("stu-a")}[data-hand="true"] .tile-hand', timeout=5_000)
    assert await grace.locator("#hands").is_hidden()  # the queue is the moderators'
    await teacher.click('#hands li[data-identity="stu-a"] [data-action="lower-hand"]')
    await alan.wait_for_selector('[data-action="toggle-hand"][aria-pressed="false"]', timeout=5_000)
    await teacher.wait_for_selector("#hands", state="hidden", timeout=5_000)
    await teacher.wait_for_selector(f'{tile("stu-a")}[data-hand="false"]', timeout=5_000)

    # -- a reaction floats over the sender's tile on the other pages ----------------------
    await alan.click('[data-action="toggle-reactions"]')
    await alan.click('#reactions [data-action="react"][data-emoji="👏"]')
    for page in (teacher, grace):
        await page.wait_for_selector(f'{tile("stu-a")} .tile-reaction[data-emoji="👏"]', timeout=5_000)

    # -- a comprehension check: one right answer, one wrong (after a change of mind) ------
    await teacher.click('[data-action="create-poll"]')
    await teacher.fill('#poll-form [name="question"]', "Which is bigger?")
    await teacher.click('#poll-form [data-action="add-option"]')
    options = teacher.locator('#poll-form input[name="option"]')
    for index, text in enumerate(["2/3", "3/4", "They are equal"]):
        await options.nth(index).fill(text)
    await teacher.check('#poll-options li[data-option="1"] input[type="radio"]')
    await teacher.click('#poll-form [data-action="start-poll"]')
    await teacher.wait_for_selector("#poll-dialog", state="hidden")

    for page in (alan, grace):
        await page.wait_for_selector('#poll[data-state="running"] button[data-option="2"]', timeout=5_000)
        assert await page.text_content("#poll .poll-question") == "Which is bigger?"
    await alan.click('#poll button[data-option="1"]')
    await grace.click('#poll button[data-option="0"]')
    await grace.click('#poll button[data-option="2"]')  # a second answer replaces the first
    assert await grace.get_attribute('#poll button[data-option="2"]', "aria-pressed") == "true"
    assert await grace.get_attribute('#poll button[data-option="0"]', "aria-pressed") == "false"

    # The instructor sees the live results on the poll card and in the live panel.
    await teacher.wait_for_selector('#poll[data-state="running"] li[data-option="1"][data-count="1"]', timeout=5_000)
    await teacher.wait_for_selector('#poll li[data-option="2"][data-count="1"]', timeout=5_000)
    await teacher.wait_for_selector('#poll li[data-option="0"][data-count="0"]', timeout=5_000)
    assert "2 of 2 answered" in await teacher.text_content("#poll .poll-status")
    assert await teacher.get_attribute('#poll li[data-option="1"]', "data-correct") == "true"
    await teacher.click('[data-action="toggle-panel"]')
    await teacher.wait_for_selector('#panel-poll li[data-option="1"][data-count="1"]', timeout=5_000)

    await teacher.click('#poll [data-action="end-poll"]')
    await alan.wait_for_selector('#poll[data-state="ended"] li[data-option="1"][data-correct="true"][data-yours="true"]',
                                 timeout=5_000)
    await grace.wait_for_selector('#poll[data-state="ended"] li[data-option="2"][data-yours="true"]', timeout=5_000)
    assert await grace.get_attribute('#poll li[data-option="1"]', "data-correct") == "true"
    assert await grace.get_attribute('#poll li[data-option="2"]', "data-correct") is None
    assert await grace.get_attribute('#poll li[data-option="2"]', "data-count") == "1"
    await teacher.wait_for_selector('#poll[data-state="ended"] li[data-option="1"][data-count="1"]', timeout=5_000)
    assert await teacher.is_enabled('[data-action="create-poll"]')  # the next poll may start

    # -- Grace's tab goes out of view: the live panel shows her away ----------------------
    await grace.evaluate(HIDE_PAGE_JS)
    row = '#panel tr[data-identity="stu-b"]'
    await teacher.wait_for_selector(f'{row}[data-away="true"]', timeout=12_000)
    assert await teacher.text_content(f"{row} .cell-tab") == "Away"
    assert await teacher.get_attribute('#panel tr[data-identity="stu-a"]', "data-away") == "false"
    assert await teacher.get_attribute('#panel tr[data-identity="stu-a"]', "data-score") not in (None, "")

    # The private message never reached the other student.
    assert await grace.locator('#chat-messages li[data-private="true"]').count() == 0

    # -- what the server recorded ----------------------------------------------------------
    wait = aula_server.wait_for_event
    chat = await wait(session_id, signal("chat_message", "stu-a", text="Is 3/4 bigger than 2/3?", to=None))
    private_chat = await wait(session_id, signal("chat_message", "stu-a", text="I did not get the homework",
                                                 to="teacher"))
    assert chat["data"]["message_id"] != private_chat["data"]["message_id"]
    await wait(session_id, signal("hand_raised", "stu-a"))
    await wait(session_id, signal("hand_lowered", "stu-a", by="teacher"))
    await wait(session_id, signal("reaction", "stu-a", emoji="👏"))
    started = await wait(session_id, lambda e: e["type"] == "poll.started")
    poll_id = started["data"]["poll_id"]
    assert started["participant"] == "teacher"
    assert started["data"]["question"] == "Which is bigger?"
    assert started["data"]["options"] == ["2/3", "3/4", "They are equal"]
    assert started["data"]["correct"] == 1
    await wait(session_id, signal("poll_answered", "stu-a", poll_id=poll_id, option=1, correct=True))
    await wait(session_id, signal("poll_answered", "stu-b", poll_id=poll_id, option=2, correct=False))
    ended = await wait(session_id, lambda e: e["type"] == "poll.ended")
    assert ended["participant"] == "teacher"
    assert ended["data"]["counts"] == [0, 1, 1]
    assert sorted(ended["data"]["answers"], key=lambda a: a["identity"]) == [
        {"identity": "stu-a", "option": 1, "correct": True},
        {"identity": "stu-b", "option": 2, "correct": False},
    ]
    await wait(session_id, signal("tab_hidden", "stu-b"))

    events = await aula_server.session_events(session_id)
    for event in events:
        validate(event)
    signals = [(e.get("participant"), e["data"]["signal"]) for e in events if e["type"] == "engagement.signal"]
    # Joining sends the page's visibility, which is no change: no tab signal for anyone else.
    assert ("stu-a", "tab_hidden") not in signals and ("stu-a", "tab_visible") not in signals
    assert signals.count(("stu-a", "chat_message")) == 2
    assert signals.count(("stu-b", "poll_answered")) == 2  # the first answer and its replacement
    assert ("teacher", "hand_raised") not in signals
    assert not [line for p in pages.values() for line in p.logs if line.startswith("pageerror")]


async def test_a_page_joining_mid_class_gets_the_raised_hands_and_the_running_poll(
        aula_server: Any, open_page: Any) -> None:
    session = await aula_server.create_session(title="Late arrivals")
    people = [("teacher", "Ada Teacher", "instructor"), ("stu-a", "Alan A", "student")]
    pages = await open_class(aula_server, open_page, session["id"], people)
    teacher, alan = pages["teacher"].page, pages["stu-a"].page
    for class_page in pages.values():
        await class_page.wait_for_phase("joined")
    await alan.click('[data-action="toggle-hand"]')
    await teacher.wait_for_selector('#hands li[data-identity="stu-a"]', timeout=5_000)
    await teacher.click('[data-action="create-poll"]')
    await teacher.fill('#poll-form [name="question"]', "Ready?")
    options = teacher.locator('#poll-form input[name="option"]')
    await options.nth(0).fill("Yes")
    await options.nth(1).fill("No")
    await teacher.press('#poll-form input[name="option"] >> nth=1', "Enter")  # Enter submits the form
    await alan.wait_for_selector('#poll[data-state="running"]', timeout=5_000)

    late = (await open_class(aula_server, open_page, session["id"], [("stu-b", "Grace B", "student")]))["stu-b"]
    await late.wait_for_phase("joined")
    await late.page.wait_for_selector('#poll[data-state="running"] button[data-option="1"]', timeout=5_000)
    await late.page.wait_for_selector(f'{tile("stu-a")}[data-hand="true"]', timeout=10_000)
    assert await late.page.text_content("#poll .poll-question") == "Ready?"
    # The poll button is off while a poll runs (one at a time).
    assert await teacher.is_disabled('[data-action="create-poll"]')


async def test_each_page_reports_its_connection_quality_every_10_s(aula_server: Any, open_page: Any) -> None:
    session = await aula_server.create_session(title="Quality")
    people = [("teacher", "Ada Teacher", "instructor"), ("stu-a", "Alan A", "student")]
    pages = await open_class(aula_server, open_page, session["id"], people)
    for class_page in pages.values():
        await class_page.wait_for_phase("joined")
    await pages["teacher"].wait_playing("stu-a")

    for identity in ("teacher", "stu-a"):
        event = await aula_server.wait_for_event(session["id"], signal("connection_quality", identity), timeout=15.0)
        validate(event)
        data = event["data"]
        # Loopback: a round trip well under a second, next to no loss.
        assert data["rtt_ms"] is not None and 0 <= data["rtt_ms"] < 1000, data
        assert data["packet_loss"] is not None and 0 <= data["packet_loss"] < 0.2, data
        assert data["jitter_ms"] is not None and data["jitter_ms"] >= 0, data
    for class_page in pages.values():
        assert (await class_page.state())["lastError"] is None
