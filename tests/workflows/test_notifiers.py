"""Notifiers as plug-ins: the registry by name, the base (metrics, aclose once), and what a
receiver's answer means: a refusal (4xx but 408/429) goes straight to the dead letter with its
reason; a 429, a 5xx or a timeout is tried again. Against real aiohttp servers on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from events.plugin import APIError, Registry, UnknownPlugin
from server.context import CONTEXT
from tests.conftest import free_port, fresh_group, iso
from tests.plugin_dist import install_plugin
from workflows.config import Smtp, Webhook, WorkflowConfig, load_config
from workflows.notify import Notice, Notifier, SmtpNotifier, WebhookNotifier
from workflows.registry import DEFAULT_NOTIFIERS, NOTIFIERS, create_notifiers
from workflows.worker import DEAD_LETTER, GROUP, WorkflowWorker

SECRET = "whsec-test-secret"


class Memory(Notifier):
    """An email notifier that keeps what it was given."""
    name = "memory"
    channel = "email"

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Notice] = []
        self.closed_times = 0

    async def _send(self, notice: Notice) -> None:
        self.sent.append(notice)

    async def _aclose(self) -> None:
        self.closed_times += 1


@pytest.fixture
async def receiver():
    """A webhook endpoint answering `status["code"]` with a body saying why, after `status["delay_s"]`."""
    status = {"code": 200, "delay_s": 0.0}
    calls: list[bytes] = []

    async def hook(request: web.Request) -> web.Response:
        calls.append(await request.read())
        await asyncio.sleep(status["delay_s"])
        return web.Response(status=status["code"], text="event.id is not one of ours")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/hook", status, calls
    await runner.cleanup()


@pytest.mark.parametrize("code, retryable", [(400, False), (401, False), (404, False), (422, False),
                                             (408, True), (429, True), (500, True), (503, True)])
async def test_what_each_answer_means(receiver, code, retryable):
    url, status, _ = receiver
    status["code"] = code
    notifier = WebhookNotifier(Webhook(url, SECRET), timeout_s=5)
    try:
        with pytest.raises(APIError) as caught:
            await notifier.send(Notice("no_show", "", "evt-1", payload={"a": 1}))
    finally:
        await notifier.aclose()
    assert caught.value.retryable is retryable
    assert f"HTTP {code}" in caught.value.message and "not one of ours" in caught.value.message
    assert notifier.metrics()["errors"] == 1 and notifier.metrics()["sent"] == 0


async def test_a_timeout_is_retryable_and_a_2xx_is_sent(receiver):
    url, status, calls = receiver
    notifier = WebhookNotifier(Webhook(url, SECRET), timeout_s=0.2)
    status["delay_s"] = 1.0
    with pytest.raises(APIError) as caught:
        await notifier.send(Notice("no_show", "", "evt-1"))
    assert caught.value.retryable
    status["delay_s"] = 0.0
    await notifier.send(Notice("no_show", "", "evt-2"))
    assert len(calls) == 2 and notifier.metrics()["sent"] == 1
    own_session = notifier._http
    await notifier.aclose()
    await notifier.aclose()
    assert own_session is not None and own_session.closed and notifier.closed
    with pytest.raises(APIError):
        await notifier.send(Notice("no_show", "", "evt-3"))  # closed


async def test_a_shared_session_is_left_open(receiver):
    url, _, _ = receiver
    async with aiohttp.ClientSession() as http:
        notifier = WebhookNotifier(Webhook(url, SECRET), timeout_s=5, http=http)
        await notifier.send(Notice("no_show", "", "evt-1"))
        await notifier.aclose()
        assert not http.closed


async def test_the_base_closes_once_and_measures():
    memory = Memory()
    await memory.send(Notice("s", "b", "k", to="a@example.org"))
    await memory.aclose()
    await memory.aclose()
    assert memory.closed_times == 1
    assert memory.metrics() == {**memory.metrics(), "name": "memory", "channel": "email", "sent": 1,
                                "errors": 0, "closed": True}


async def test_the_built_ins_are_made_only_where_the_config_sets_them_up():
    assert set(DEFAULT_NOTIFIERS) <= set(NOTIFIERS.names())
    async with aiohttp.ClientSession() as http:
        assert create_notifiers(DEFAULT_NOTIFIERS, WorkflowConfig(), http) == []
        config = WorkflowConfig(smtp=Smtp("mail.example.org"), webhook=Webhook("http://sis.example.org", SECRET))
        made = create_notifiers(DEFAULT_NOTIFIERS, config, http)
        assert [type(n) for n in made] == [SmtpNotifier, WebhookNotifier]
        assert [n.channel for n in made] == ["email", "webhook"]
        assert [type(n) for n in create_notifiers(["webhook"], config, http)] == [WebhookNotifier]


async def test_an_unknown_notifier_is_a_clear_error_listing_the_known_ones():
    async with aiohttp.ClientSession() as http:
        with pytest.raises(UnknownPlugin) as caught:
            create_notifiers(["smtp", "pager"], WorkflowConfig(), http)
    assert "unknown notifier 'pager'" in str(caught.value) and "smtp, webhook" in str(caught.value)


async def test_a_notifier_must_serve_a_known_channel():
    class Carrier(Memory):
        name = "pigeon"
        channel = "pigeon"

    NOTIFIERS.register("pigeon", lambda config, http: Carrier())
    try:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(ValueError, match="channel 'pigeon'"):
                create_notifiers(["pigeon"], WorkflowConfig(), http)
    finally:
        NOTIFIERS.unregister("pigeon")


async def test_a_notifier_from_an_installed_package_reads_its_own_table(tmp_path, monkeypatch):
    install_plugin(tmp_path, monkeypatch, "aula.notifiers", "sms", "aula_test_sms", """
        from workflows.notify import Notifier

        class Sms(Notifier):
            name = "sms"
            channel = "email"

            def __init__(self, gateway):
                super().__init__()
                self.gateway = gateway

            async def _send(self, notice):
                pass

        def create(config, http):
            options = config.notifier_options("sms")
            return Sms(options["gateway"]) if options else None
    """)
    rules = tmp_path / "rules.toml"
    rules.write_text('[notifier.sms]\ngateway = "https://sms.example.org"\n', encoding="utf-8")
    config = load_config(rules, env={})
    registry = Registry("notifier", "aula.notifiers")
    async with aiohttp.ClientSession() as http:
        sms = registry.get("sms")(config, http)
        assert sms is not None and sms.gateway == "https://sms.example.org"
        assert registry.get("sms")(WorkflowConfig(), http) is None


# -- the worker: retried or dead-lettered at once --------------------------------------------

async def no_show_through(server, config: WorkflowConfig, notifiers=DEFAULT_NOTIFIERS, guardian=None):
    """A no-show, and the worker's report of the notice about it."""
    await fresh_group(server, GROUP)
    session = await server.create_session(
        roster=[{"identity": "cy", "name": "Cy", "guardian": guardian}], scheduled_start=iso(),
        settings={"no_show_after_s": 1})
    context = server.app[CONTEXT]
    async with aiohttp.ClientSession() as http:
        worker = WorkflowWorker(context.redis, context.bus, config, "w1", http, claim_idle_ms=500,
                                notifiers=notifiers)
        stop = asyncio.Event()
        task = asyncio.ensure_future(worker.run(stop))
        try:
            report = await server.wait_for_event(
                session["id"], lambda e: e["type"].startswith("workflow.notification_"), timeout=15)
        finally:
            stop.set()
            await task
    assert all(notifier.closed for notifier in worker.notifiers)
    return report


async def dead_letter_of(server, cause_event_id: str) -> dict[bytes, bytes]:
    entries = await server.app[CONTEXT].redis.xrange(DEAD_LETTER)
    return next(fields for _, fields in entries if fields[b"event_id"].decode() == cause_event_id)


async def test_a_refused_webhook_goes_straight_to_the_dead_letter_with_its_reason(aula_server, receiver):
    url, status, calls = receiver
    status["code"] = 400
    config = WorkflowConfig(webhook=Webhook(url, SECRET), max_attempts=3, retry_base_s=0.05)
    failed = await no_show_through(aula_server, config)
    assert failed["type"] == "workflow.notification_failed"
    assert len(calls) == 1 and failed["data"]["attempts"] == 1
    assert "HTTP 400" in failed["data"]["error"] and "not one of ours" in failed["data"]["error"]
    dead = await dead_letter_of(aula_server, failed["data"]["cause_event_id"])
    assert dead[b"attempts"] == b"1" and b"HTTP 400" in dead[b"error"] and dead[b"notifier"] == b"webhook"


@pytest.mark.parametrize("code", [429, 503])
async def test_a_busy_or_failing_webhook_is_retried_then_dead_lettered(aula_server, receiver, code):
    url, status, calls = receiver
    status["code"] = code
    config = WorkflowConfig(webhook=Webhook(url, SECRET), max_attempts=3, retry_base_s=0.05)
    failed = await no_show_through(aula_server, config)
    assert len(calls) == 3 and failed["data"]["attempts"] == 3 and f"HTTP {code}" in failed["data"]["error"]
    dead = await dead_letter_of(aula_server, failed["data"]["cause_event_id"])
    assert dead[b"attempts"] == b"3"


async def test_a_webhook_that_recovers_is_sent_on_a_later_attempt(aula_server, receiver):
    url, status, calls = receiver
    status["code"] = 429
    config = WorkflowConfig(webhook=Webhook(url, SECRET), max_attempts=4, retry_base_s=0.3)

    async def recover() -> None:
        while not calls:
            await asyncio.sleep(0.02)
        status["code"] = 200

    recovering = asyncio.ensure_future(recover())
    sent = await no_show_through(aula_server, config)
    await recovering
    assert sent["type"] == "workflow.notification_sent" and sent["data"]["attempts"] == 2


async def test_the_guardians_email_goes_through_a_registered_notifier(aula_server):
    memory = Memory()
    NOTIFIERS.register("memory", lambda config, http: memory)
    try:
        sent = await no_show_through(aula_server, WorkflowConfig(), ["memory"],
                                     guardian={"name": "Ana", "email": "ana@example.org"})
    finally:
        NOTIFIERS.unregister("memory")
    assert sent["type"] == "workflow.notification_sent"
    assert sent["data"]["channel"] == "email" and sent["data"]["to"] == "ana@example.org"
    assert [notice.to for notice in memory.sent] == ["ana@example.org"]
    assert "Cy" in memory.sent[0].subject and memory.closed_times == 1


def test_an_existing_rules_file_still_loads(tmp_path: Path):
    rules = tmp_path / "rules.toml"
    rules.write_text('[smtp]\nhost = "smtp.school.org"\n\n[webhook]\nurl = "https://sis.school.org/hooks"\n'
                     '\n[[rule]]\non = "attendance.no_show"\nactions = ["email_guardian", "webhook"]\n'
                     'template = "no_show"\n', encoding="utf-8")
    config = load_config(rules, env={"AULA_WEBHOOK_SECRET": SECRET})
    assert config.smtp is not None and config.webhook is not None and config.notifier_tables == {}
