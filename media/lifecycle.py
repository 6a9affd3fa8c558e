"""Ending asyncio tasks the way the media objects close: cancelled, then waited for.

A media object that owns tasks (a room's watchers, a participant's negotiation) closes them
with `cancel_and_wait`, never a bare `.cancel()`: once its `close()` returns, none of its tasks
is still running, so closing a room leaves nothing behind on the loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Optional

logger = logging.getLogger(__name__)


async def cancel_and_wait(*tasks: Optional["asyncio.Future[Any]"]) -> None:
    """Cancel `tasks` (None and finished ones are skipped) and wait until each has ended.

    The calling task is never waited for (a task closing its own owner); an exception a task
    ended with is logged, not raised: closing goes on. Cancelling the caller stops the wait,
    not the cancellation of `tasks`.
    """
    current = asyncio.current_task()
    pending = [task for task in tasks if task is not None and task is not current]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
    for task in pending:
        if not task.cancelled() and task.exception() is not None:
            logger.error("a task ended with an error while closing", exc_info=task.exception())


async def until_cancelled() -> None:
    """Wait until cancelled, then return: what a loop that has nothing to do waits for."""
    try:
        await asyncio.get_running_loop().create_future()
    except asyncio.CancelledError:
        pass
