"""The seed's promise, end to end: a roster of three with guardians, two join, the third does not;
within the grace + 5 s the guardian has an email (a real SMTP server, aiosmtpd), the school's
system a signed webhook, operations a flag, and the student's record the absence, with no human
in the loop. A redelivered event sends nothing twice; a failing webhook is retried, then
dead-lettered."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from client import ClientOptions
from events.schema import validate
from server.context import CONTEXT
from tests.conftest import free_port, fresh_group, iso
from tests.media.test_forwarding import join
from tests.synthetic import ToneTrack
from workflows.config import Smtp, Webhook, WorkflowConfig
from workflows.notify import SIGNATURE_HEADER, verify
from workflows.worker import DEAD_LETTER, GROUP, WorkflowWorker

SECRET = "whsec-test-secret"
GRACE_S = 3


@pytest.fixture
async def webhook_receiver():
    received: list[tuple[bytes, dict[str, str]]] = []
    status = {"code": 200}

    async def hook(request: web.Request) -> web.Response:
        received.append((await request.read(), dict(request.headers)))
        return web.Response(status=status["code"])

    app = web.Application()
    app.router.add_post("/hooks/aula", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/hooks/aula", received, status
    await runner.cleanup()


async def run_worker(server, config: WorkflowConfig, name: str, http: aiohttp.ClientSession):
    context = server.app[CONTEXT]
    worker = WorkflowWorker(context.redis, context.bus, config, name, http, claim_idle_ms=500)
    stop = asyncio.Event()
    return worker, stop, asyncio.ensure_future(worker.run(stop))


async def test_a_no_show_reaches_the_guardian_the_school_and_the_record_within_a_minute(
        aula_server, mailbox, webhook_receiver):
    box, smtp_port = mailbox
    hook_url, hooks, _ = webhook_receiver
    roster = [{"identity": who, "name": name, "guardian": {"name": f"Parent of {name}", "email": f"{who}@home.example"}}
              for who, name in (("ann", "Ann"), ("bob", "Bob"), ("cy", "Cy"))]
    await fresh_group(aula_server, GROUP)
    session = await aula_server.create_session(title="Algebra 1", roster=roster,
                                               scheduled_start=iso(), settings={"no_show_after_s": GRACE_S})
    config = WorkflowConfig(smtp=Smtp("127.0.0.1", smtp_port, "School <office@school.example>"),
                            webhook=Webhook(hook_url, SECRET))
    async with aiohttp.ClientSession() as http:
        worker, stop, task = await run_worker(aula_server, config, "w1", http)
        started = time.monotonic()
        clients = [await join(aula_server, session["id"], who, publish={"microphone": ToneTrack(440)},
                              options=ClientOptions(decode=False)) for who in ("ann", "bob")]
        try:
            while not (box.messages and hooks) and time.monotonic() - started < GRACE_S + 5:
                await asyncio.sleep(0.1)
            elapsed = time.monotonic() - started
            flag = await aula_server.wait_for_event(session["id"], lambda e: e["type"] == "flag.raised")
        finally:
            for client in clients:
                await client.close()
        assert elapsed <= GRACE_S + 5, elapsed
        print(f"no-show → guardian email and webhook in {elapsed:.1f} s (grace {GRACE_S} s)")

        # The guardian's email, for Cy only.
        assert len(box.messages) == 1
        email = box.messages[0]
        assert email["To"] == "cy@home.example" and "Cy" in email["Subject"] and "Algebra 1" in email["Subject"]
        assert "Parent of Cy" in email.get_payload()
        # The school's system: a correctly signed POST, about Cy's no-show.
        body, headers = hooks[0]
        assert verify(SECRET, headers[SIGNATURE_HEADER], body)
        assert not verify("another-secret", headers[SIGNATURE_HEADER], body)
        assert b'"attendance.no_show"' in body and b'"cy"' in body
        # Operations' flag and the student's record.
        assert flag["participant"] == "cy" and flag["data"]["kind"] == "no_show"
        async with aula_server.http.get(f"{aula_server.base_url}/api/students/cy", headers=aula_server.headers) as r:
            record = await r.json()
        assert record["sessions"][0]["session_id"] == session["id"]
        assert record["sessions"][0]["category"] == "unexcused_absence" and "no_show" in record["sessions"][0]["flags"]

        # A redelivered no-show (a worker that died before acknowledging it) sends nothing twice.
        no_show = next(e for e in await aula_server.session_events(session["id"]) if e["type"] == "attendance.no_show")
        await worker.handle(no_show)
        other, other_stop, other_task = await run_worker(aula_server, config, "w2", http)
        await other.handle(no_show)
        assert len(box.messages) == 1 and len(hooks) == 1
        stop.set()
        other_stop.set()
        await asyncio.gather(task, other_task)
    events = await aula_server.session_events(session["id"])
    for event in events:
        validate(event)
    sent = [e for e in events if e["type"] == "workflow.notification_sent"]
    assert {e["data"]["channel"] for e in sent} == {"email", "webhook"} and len(sent) == 2


async def test_a_failing_webhook_is_retried_then_dead_lettered(aula_server, webhook_receiver):
    hook_url, hooks, status = webhook_receiver
    status["code"] = 503
    await fresh_group(aula_server, GROUP)
    session = await aula_server.create_session(
        roster=[{"identity": "cy", "name": "Cy", "guardian": None}], scheduled_start=iso(),
        settings={"no_show_after_s": 1})
    config = WorkflowConfig(webhook=Webhook(hook_url, SECRET), max_attempts=3, retry_base_s=0.05)
    async with aiohttp.ClientSession() as http:
        worker, stop, task = await run_worker(aula_server, config, "w1", http)
        failed = await aula_server.wait_for_event(
            session["id"], lambda e: e["type"] == "workflow.notification_failed", timeout=15)
        stop.set()
        await task
    assert len(hooks) == 3 and failed["data"]["attempts"] == 3 and "503" in failed["data"]["error"]
    dead = await aula_server.app[CONTEXT].redis.xrange(DEAD_LETTER)
    assert any(fields[b"event_id"].decode() == failed["data"]["cause_event_id"] for _, fields in dead)
