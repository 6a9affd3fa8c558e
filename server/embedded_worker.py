"""`aula worker` as a child of `aula serve` (the default: one command runs the whole product),
on the same Redis and data dir. A separate process, so drafting a summary never takes the media
loop's CPU or GIL; restarted if it dies; stopped with the server. At scale, run `aula serve
--no-worker` on media nodes and `aula worker` processes of their own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from pathlib import Path
from typing import Optional

from .child_process import die_with_parent, stop_process

logger = logging.getLogger(__name__)

RESTART_DELAY_S = 2.0
STOP_TIMEOUT_S = 10.0


class EmbeddedWorker:
    def __init__(self, redis_url: str, data_dir: Path) -> None:
        self._argv = [sys.executable, "-m", "server", "worker", "--redis-url", redis_url,
                      "--data-dir", str(data_dir), "--name", "embedded-worker"]
        self._process: Optional[asyncio.subprocess.Process] = None
        self._task: Optional[asyncio.Task[None]] = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._keep_running())

    async def _keep_running(self) -> None:
        while not self._stopping:
            self._process = await asyncio.create_subprocess_exec(*self._argv, preexec_fn=die_with_parent)
            logger.info("embedded aula worker started (pid %d)", self._process.pid)
            code = await self._process.wait()
            if not self._stopping:
                logger.error("embedded aula worker exited with %s; restarting", code)
                await asyncio.sleep(RESTART_DELAY_S)

    async def stop(self) -> None:
        self._stopping = True
        if self._process is not None:
            await stop_process(self._process, STOP_TIMEOUT_S)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
