"""The app-wide resources, started and stopped in one place (server/app.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

import redis.asyncio as aioredis

from media import SFU

from events.bus import EventBus
from recording.storage import RecordingStorage

from .config import Settings
from classroom.hosting import Hosting
from classroom.live_sessions import LiveSessions
from .loop_monitor import LoopLagMonitor
from .rate_limit import JoinLimiter
from sessions import SessionStore
from .tokens import TokenIssuer

if TYPE_CHECKING:
    from .playback import Exports


@dataclass
class AppContext:
    settings: Settings
    redis: aioredis.Redis
    feed_redis: aioredis.Redis  # dashboard feeds' blocking reads
    sessions: SessionStore
    tokens: TokenIssuer
    sfu: SFU
    loop_lag: LoopLagMonitor
    bus: EventBus
    live: LiveSessions
    hosting: Hosting
    storage: RecordingStorage
    exports: "Exports"
    joins: JoinLimiter


CONTEXT = web.AppKey("context", AppContext)
