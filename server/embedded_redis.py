"""An embedded redis-server, started when Aula is given no --redis-url, stopped with it."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from typing import Optional

import redis.asyncio as aioredis

from .child_process import die_with_parent, stop_process

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0


class EmbeddedRedisError(RuntimeError):
    pass


class EmbeddedRedis:
    """redis-server on a private unix socket under the data dir, persisting there (AOF)."""

    def __init__(self, data_dir: Path, executable: Optional[str] = None) -> None:
        self._dir = (data_dir / "redis").resolve()
        self._executable = executable or shutil.which("redis-server")
        self._process: Optional[asyncio.subprocess.Process] = None
        self.socket_path = self._dir / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    async def start(self) -> None:
        if self._executable is None:
            raise EmbeddedRedisError(
                "no redis-server found: install it (apt-get install redis-server) "
                "or pass --redis-url")
        self._dir.mkdir(parents=True, exist_ok=True)
        self.socket_path.unlink(missing_ok=True)
        self._process = await asyncio.create_subprocess_exec(
            self._executable, "--port", "0", "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700", "--dir", str(self._dir), "--appendonly", "yes",
            "--save", "", "--daemonize", "no", "--loglevel", "warning",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, preexec_fn=die_with_parent,
        )
        client = aioredis.from_url(self.url)
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
        try:
            while True:
                if self._process.returncode is not None:
                    stderr = await self._process.stderr.read() if self._process.stderr else b""
                    raise EmbeddedRedisError(f"redis-server exited: {stderr.decode(errors='replace')}")
                try:
                    await client.ping()
                    break
                except (OSError, aioredis.ConnectionError):
                    if asyncio.get_running_loop().time() > deadline:
                        raise EmbeddedRedisError("redis-server did not start in time")
                    await asyncio.sleep(0.05)
        finally:
            await client.aclose()
        logger.info("embedded redis-server at %s", self.url)

    async def stop(self) -> None:
        if self._process is not None:
            await stop_process(self._process, 5)
