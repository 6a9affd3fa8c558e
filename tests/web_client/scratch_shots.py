import asyncio
from typing import Any
import pytest
from .test_join_page import open_class, tile
from .test_class_activity import send_chat, HIDE_PAGE_JS

async def test_shots(aula_server: Any, open_page: Any) -> None:
    session = await aula_server.create_session(title="Fractions")
    sid = session["id"]
    people = [("teacher", "Ada Teacher", "instructor"), ("stu-a", "Alan A", "student"), ("stu-b", "Grace B", "student")]
    pages = await open_class(aula_server, open_page, sid, people)
    teacher, alan, grace = (pages[i].page for i in ("teacher", "stu-a", "stu-b"))
    for p in pages.values():
        try:
            await p.wait_for_phase("joined")
        except Exception:
            print(p.log_tail(30)); raise
    for p in (teacher, alan, grace):
        await p.set_viewport_size({"width": 1280, "height": 800})
    await alan.click('[data-action="toggle-chat"]')
    await send_chat(alan, "Is 3/4 bigger than 2/3?")
    await send_chat(alan, "I did not get the homework", to="teacher")
    await grace.click('[data-action="toggle-hand"]')
    await alan.click('[data-action="toggle-hand"]')
    await teacher.click('[data-action="create-poll"]')
    await teacher.fill('#poll-form [name="question"]', "Which is bigger?")
    await teacher.click('#poll-form [data-action="add-option"]')
    o = teacher.locator('#poll-form input[name="option"]')
    for i, t in enumerate(["2/3", "3/4", "They are equal"]):
        await o.nth(i).fill(t)
    await teacher.check('#poll-options li[data-option="1"] input[type="radio"]')
    await teacher.screenshot(path="/tmp/scratch/dialog.png")
    await teacher.click('#poll-form [data-action="start-poll"]')
    try:
        await alan.wait_for_selector('#poll button[data-option="1"]', timeout=5000)
    except Exception:
        for p in pages.values():
            print(p.name, (await p.state())["lastError"], (await p.state())["poll"], p.log_tail(10))
        print(await teacher.evaluate("document.querySelector('#poll-error').textContent"))
        raise
    await alan.click('#poll button[data-option="1"]')
    await grace.click('#poll button[data-option="2"]')
    await teacher.click('[data-action="toggle-panel"]')
    await teacher.click('[data-action="toggle-chat"]')
    await grace.evaluate(HIDE_PAGE_JS)
    await teacher.wait_for_selector('#panel tr[data-identity="stu-b"][data-away="true"]', timeout=12000)
    await teacher.click('#panel tr[data-identity="stu-a"] [data-action="score-parts"]')
    await alan.click('[data-action="toggle-reactions"]')
    await alan.screenshot(path="/tmp/scratch/alan_picker.png")
    await alan.click('#reactions [data-action="react"][data-emoji="🎉"]')
    await asyncio.sleep(0.6)
    await teacher.screenshot(path="/tmp/scratch/teacher.png")
    await alan.screenshot(path="/tmp/scratch/alan.png")
    await teacher.click('#poll [data-action="end-poll"]')
    await asyncio.sleep(0.5)
    await alan.screenshot(path="/tmp/scratch/alan_ended.png")
    await grace.screenshot(path="/tmp/scratch/grace_ended.png")
    await teacher.set_viewport_size({"width": 600, "height": 800})
    await teacher.screenshot(path="/tmp/scratch/teacher_narrow.png")
    for p in pages.values():
        print(p.name, p.log_tail(10))
