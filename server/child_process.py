"""What the server's own child processes (embedded redis-server, embedded worker) share."""

from __future__ import annotations

import asyncio
import ctypes
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent() -> None:
    """Run in the child before exec: on Linux it gets SIGTERM when the server dies, even by
    kill -9, so no orphan goes on beside the one a restarted server starts."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


async def stop_process(process: asyncio.subprocess.Process, timeout_s: float) -> None:
    """SIGTERM, and SIGKILL if it has not exited within `timeout_s`."""
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), timeout_s)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
