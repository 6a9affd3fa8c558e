"""The seed's promise, end to end: a roster of three with guardians; two join from Chromium, the
third does not. Within the grace + 5 s the guardian has an email (a real SMTP server, aiosmtpd),
the school's system a correctly signed webhook, operations the flag on the dashboard page (in
Chromium), and the student's record the absence, with no human in the loop. A redelivered no-show
sends nothing twice."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from events.schema import validate
from server.context import CONTEXT
from tests.conftest import fresh_group, iso
from tests.server.test_dashboard_api import ops_token
from tests.web_client.test_dashboard import open_dashboard
from tests.web_client.test_join_page import open_class
from workflows.config import Smtp, Webhook, WorkflowConfig
from workflows.notify import SIGNATURE_HEADER, verify
from workflows.worker import GROUP, WorkflowWorker

pytestmark = pytest.mark.browser

SECRET = "whsec-test-secret"
# Long enough for two Chromium pages to start and join on a loaded 2-core machine.
GRACE_S = 8


async def test_a_no_show_reaches_the_guardian_the_school_operations_and_the_record(
        aula_server: Any, open_page: Any, mailbox: Any, webhook_receiver: Any, tmp_path: Any) -> None:
    server = aula_server
    context = server.app[CONTEXT]
    box, smtp_port = mailbox
    hook_url, hooks, _ = webhook_receiver
    roster = [{"identity": who, "name": name, "guardian": {"name": f"Parent of {name}", "email": f"{who}@home.example"}}
              for who, name in (("ann", "Ann"), ("bob", "Bob"), ("cy", "Cy"))]
    await fresh_group(server, GROUP)
    dashboard = (await open_dashboard(server, open_page, await ops_token(server, "olga", "Olga Ops"))).page
    config = WorkflowConfig(smtp=Smtp("127.0.0.1", smtp_port, "School <office@school.example>"),
                            webhook=Webhook(hook_url, SECRET))
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as http:
        worker = WorkflowWorker(context.redis, context.bus, config, "w1", http, claim_idle_ms=500)
        task = asyncio.ensure_future(worker.run(stop))
        try:
            session = await server.create_session(title="Algebra 1", roster=roster, scheduled_start=iso(),
                                                   settings={"no_show_after_s": GRACE_S})
            started = time.monotonic()
            pages = await open_class(server, open_page, session["id"],
                                     [("ann", "Ann", "student"), ("bob", "Bob", "student")])
            for page in pages.values():
                await page.wait_for_phase("joined")
            while not (box.messages and hooks) and time.monotonic() - started < GRACE_S + 5:
                await asyncio.sleep(0.1)
            elapsed = time.monotonic() - started
            flag = dashboard.locator(f'#flags-list li.flag[data-kind="no_show"][data-participant="cy"]'
                                     f'[data-session-id="{session["id"]}"]')
            await flag.wait_for(timeout=10_000)
            await dashboard.screenshot(path=str(tmp_path / "no-show-on-the-dashboard.png"), full_page=True)

            # A redelivered no-show (a worker that died before acknowledging it) sends nothing twice.
            no_show = next(e for e in await server.session_events(session["id"]) if e["type"] == "attendance.no_show")
            await worker.handle(no_show)
            await asyncio.sleep(0.5)
        finally:
            stop.set()
            await task
    assert elapsed <= GRACE_S + 5, elapsed
    print(f"no-show → guardian email and webhook in {elapsed:.1f} s (grace {GRACE_S} s)")

    # The guardian's email, for Cy only, once.
    assert len(box.messages) == 1
    email = box.messages[0]
    assert email["To"] == "cy@home.example" and "Cy" in email["Subject"] and "Algebra 1" in email["Subject"]
    assert "Parent of Cy" in email.get_payload(decode=True).decode()
    # The school's system: one correctly signed POST, about Cy's no-show.
    [(body, headers)] = hooks
    assert verify(SECRET, headers[SIGNATURE_HEADER], body)
    assert not verify("another-secret", headers[SIGNATURE_HEADER], body)
    assert b'"attendance.no_show"' in body and b'"cy"' in body
    # Operations' flag, on the dashboard page.
    assert "Cy missed Algebra 1" in await flag.locator(".flag-reason").text_content()
    # The student's record.
    async with server.http.get(f"{server.base_url}/api/students/cy", headers=server.headers) as response:
        record = await response.json()
    entry = next(s for s in record["sessions"] if s["session_id"] == session["id"])
    assert entry["category"] == "unexcused_absence" and "no_show" in entry["flags"]

    events = await server.session_events(session["id"])
    for event in events:
        validate(event)
    assert {e["participant"] for e in events if e["type"] == "attendance.no_show"} == {"cy"}
    sent = [e for e in events if e["type"] == "workflow.notification_sent"]
    assert sorted(e["data"]["channel"] for e in sent) == ["email", "webhook"]
