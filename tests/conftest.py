"""Real parts for every test: a redis-server of the suite's own, the Aula app on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator, Optional

import aiohttp
import pytest
import redis
from aiohttp import web
from aiosmtpd.controller import Controller

from events.bus import GLOBAL_STREAM, session_stream
from server.app import create_app
from server.config import Settings
from server.context import CONTEXT
from summaries.embeddings import SentenceEmbedder
from summaries.extractive import ExtractiveSummariser
from transcription.faster_whisper_engine import WhisperSettings

LOOPBACK = "127.0.0.1"


def _dump_asyncio_tasks(*_: Any) -> None:
    """`kill -USR1 <pytest pid>`: every asyncio task's stack, into aula-tasks-<pid>.txt in the
    temp folder (a hung teardown shows what it waits for; py-spy only shows the idle loop)."""
    import traceback

    loop = asyncio.events._get_running_loop()
    with open(Path(tempfile.gettempdir()) / f"aula-tasks-{os.getpid()}.txt", "w") as out:
        for task in asyncio.all_tasks(loop) if loop is not None else ():
            print(f"--- {task!r}", file=out)
            for frame in task.get_stack():
                traceback.print_stack(frame, limit=1, file=out)


signal.signal(signal.SIGUSR1, _dump_asyncio_tasks)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server process the suite owns, so tests can also kill and restart it."""

    def __init__(self, directory: Path, persistent: bool = False) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self._executable = executable
        self._directory = directory
        # Persistent: AOF fsynced on every write, as a production Redis that must survive a kill.
        self._persistence = ["--appendonly", "yes", "--appendfsync", "always"] if persistent else [
            "--appendonly", "no"]
        self.port = free_port()
        self.url = f"redis://{LOOPBACK}:{self.port}/0"
        self._process: Optional[subprocess.Popen[bytes]] = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [self._executable, "--port", str(self.port), "--bind", LOOPBACK, "--save", "",
             *self._persistence, "--dir", str(self._directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(host=LOOPBACK, port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with tempfile.TemporaryDirectory(prefix="aula-redis-") as directory:
        server = RedisServer(Path(directory))
        server.start()
        yield server
        server.kill()


def iso(offset_s: float = 0.0) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=offset_s)).isoformat()


@dataclass
class AulaServer:
    base_url: str
    api_key: str
    app: web.Application
    http: aiohttp.ClientSession
    data_dir: Path
    created: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    async def create_session(self, **fields: Any) -> dict[str, Any]:
        body = {
            "title": "Algebra 1", "scheduled_start": iso(), "scheduled_end": iso(3600),
            "roster": [], "instructors": [], "settings": {}, **fields,
        }
        async with self.http.post(f"{self.base_url}/api/sessions", json=body,
                                  headers=self.headers) as response:
            assert response.status == 201, await response.text()
            return await response.json()

    async def token(self, session_id: str, identity: str, name: Optional[str] = None,
                    role: str = "student", **extra: Any) -> dict[str, Any]:
        body = {"identity": identity, "name": name or identity, "role": role, **extra}
        async with self.http.post(f"{self.base_url}/api/sessions/{session_id}/tokens",
                                  json=body, headers=self.headers) as response:
            assert response.status == 201, await response.text()
            return await response.json()

    async def end_session(self, session_id: str) -> dict[str, Any]:
        """`POST /api/sessions/{id}/end`, as the instructor's "End class" does; the ended session."""
        async with self.http.post(f"{self.base_url}/api/sessions/{session_id}/end", headers=self.headers) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    @property
    def sfu(self):  # type: ignore[no-untyped-def]
        return self.app[CONTEXT].sfu

    async def session_events(self, session_id: str) -> list[dict[str, Any]]:
        """The session's events as downstream consumers see them: its Redis stream, oldest first."""
        entries = await self.app[CONTEXT].redis.xrange(session_stream(session_id))
        return [json.loads(fields[b"event"]) for _, fields in entries]

    async def wait_for_event(self, session_id: str, predicate: Callable[[dict[str, Any]], bool],
                             timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for event in await self.session_events(session_id):
                if predicate(event):
                    return event
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching event in {await self.session_events(session_id)}")
            await asyncio.sleep(0.1)


def loopback_settings(redis_url: str, data_dir: Path, **overrides: Any) -> Settings:
    """Loopback-only ICE, so no test traffic leaves 127.0.0.0/8. A fleet of its own (unless the
    test names one): servers of other tests on the same Redis are not its nodes."""
    port = overrides.pop("port", None) or free_port()
    overrides.setdefault("fleet_name", f"test-{port}")
    return Settings(
        host=LOOPBACK, port=port, redis_url=redis_url, data_dir=data_dir,
        api_key="test-api-key", secret="test-secret-that-is-long-enough-for-hs256", ice_addresses=(LOOPBACK,),
        ice_allowed_networks=("127.0.0.0/8",), reconnect_grace_s=2.0, **overrides)


@contextlib.asynccontextmanager
async def running_aula(settings: Settings) -> AsyncIterator[AulaServer]:
    """The Aula app on loopback, in this test's event loop; stopped (not killed) on exit."""
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    try:
        async with aiohttp.ClientSession() as http:
            yield AulaServer(f"http://{settings.host}:{settings.port}", settings.api_key or "",
                             app, http, settings.data_dir)
    finally:
        await runner.cleanup()


@pytest.fixture
async def aula_server(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[AulaServer]:
    async with running_aula(loopback_settings(redis_server.url, tmp_path / "data")) as server:
        yield server


@pytest.fixture
async def transcribing_aula(redis_server: RedisServer, tmp_path: Path,
                            whisper_settings: WhisperSettings) -> AsyncIterator[AulaServer]:
    """An Aula that transcribes, with the random-weights test model."""
    settings = loopback_settings(redis_server.url, tmp_path / "data", whisper=whisper_settings)
    async with running_aula(settings) as server:
        yield server


@pytest.fixture(scope="session")
def whisper_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A random-weights Whisper model built here (no download): garbage text, real pipeline."""
    from transcription.random_model import DIMS, build

    return build(str(tmp_path_factory.mktemp("whisper") / "test"), DIMS["test"])


@pytest.fixture(scope="session")
def whisper_settings(whisper_model: str) -> WhisperSettings:
    """Engine settings for the random model: few tokens (it never says end-of-text), and no
    temperature fallbacks (its every decode fails Whisper's guards)."""
    return WhisperSettings(whisper_model, max_tokens=8, fallback_temperatures=())


class Mailbox:
    """A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def mailbox():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield box, controller.port
    controller.stop()


async def fresh_group(server: "AulaServer", group: str) -> None:
    """The suite's Redis holds other tests' events: a test's downstream workers start after them."""
    redis = server.app[CONTEXT].redis
    if await redis.exists(GLOBAL_STREAM):
        await redis.xgroup_destroy(GLOBAL_STREAM, group)
    await redis.xgroup_create(GLOBAL_STREAM, group, id="$", mkstream=True)


@pytest.fixture(scope="session")
def summariser() -> ExtractiveSummariser:
    """The embedded default summariser, on the MiniLM model that ships in its pip package (loaded once)."""
    return ExtractiveSummariser(SentenceEmbedder())


@pytest.fixture
async def webhook_receiver():
    """A school system's webhook endpoint on loopback: (body, headers) of each POST; set the status it answers."""
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
