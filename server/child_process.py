"""What the server's own child processes (embedded redis-server, embedded worker) share."""

from __future__ import annotations

import ctypes
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent() -> None:
    """Run in the child before exec: on Linux it gets SIGTERM when the server dies, even by
    kill -9, so no orphan goes on beside the one a restarted server starts."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
