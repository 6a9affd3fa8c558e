"""A notice that keeps failing: a webhook endpoint that answers 503 is retried with backoff, then
the notice is dead-lettered and reported. (The no-show end to end, from Chromium joins to the
dashboard: tests/web_client/test_no_show_end_to_end.py.)"""

from __future__ import annotations

import asyncio

import aiohttp

from server.context import CONTEXT
from tests.conftest import fresh_group, iso
from workflows.config import Webhook, WorkflowConfig
from workflows.worker import DEAD_LETTER, GROUP, WorkflowWorker

SECRET = "whsec-test-secret"


async def run_worker(server, config: WorkflowConfig, name: str, http: aiohttp.ClientSession):
    context = server.app[CONTEXT]
    worker = WorkflowWorker(context.redis, context.bus, config, name, http, claim_idle_ms=500)
    stop = asyncio.Event()
    return worker, stop, asyncio.ensure_future(worker.run(stop))


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
