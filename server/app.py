"""The aiohttp application: resources started in order, torn down in reverse."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any, AsyncIterator, Callable, Optional

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from aiohttp import web

from events.bus import EventBus
from recording.manifest import repair as repair_recordings
from recording.storage import storage_from_url
from media import SFU

from .api import add_routes, api_key_guard, json_errors
from .config import Settings
from .context import CONTEXT, AppContext
from .dashboard import add_dashboard_routes
from .embedded_redis import EmbeddedRedis
from .fleet_api import add_fleet_routes
from .embedded_worker import EmbeddedWorker
from .garbage import CollectAfterDepartures
from classroom.hosting import Hosting
from classroom.live_sessions import LiveSessions
from classroom.transcription import SpeechServices
from .loop_monitor import LoopLagMonitor
from .playback import Exports, add_playback_routes
from .rate_limit import JoinLimiter
from classroom.recovery import LiveClasses, LiveClassesFile, resume
from .review import add_review_routes
from sessions import SessionStore
from .signaling import rtc_socket
from .tokens import TokenIssuer

logger = logging.getLogger(__name__)

LIVE_CLASSES = web.AppKey("live_classes", LiveClassesFile)


def create_app(settings: Settings, on_drained: Callable[[], None] = lambda: None) -> web.Application:
    """`on_drained`: called when a drain (POST /api/nodes/{name}/drain) has no class left here."""
    settings = settings.with_generated_secrets()
    app = web.Application(middlewares=[json_errors, api_key_guard], client_max_size=256 * 1024)
    app.cleanup_ctx.append(_context(settings, on_drained))
    app.on_shutdown.append(_close_rooms)
    add_routes(app)
    add_playback_routes(app)
    add_review_routes(app)
    add_dashboard_routes(app)
    add_fleet_routes(app)
    app.router.add_get("/api/rtc", rtc_socket)
    app.router.add_static("/static/", settings.web_client_dir, follow_symlinks=False)
    return app


async def _close_rooms(app: web.Application) -> None:
    """Before aiohttp waits for open handlers: end every participant's socket (their rooms
    close with reason server_shutdown; clients reconnect to wherever the class moves). live.json
    stops first: it keeps the classes as they ran, for the next process to resume. The node
    leaves the fleet before its rooms close, so the clients' rejoins go where the rooms move."""
    await app[CONTEXT].hosting.close()
    await app[LIVE_CLASSES].close()
    await app[CONTEXT].sfu.close()


def _context(settings: Settings, on_drained: Callable[[], None]):  # type: ignore[no-untyped-def]
    async def context(app: web.Application) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # Recordings a killed process left open: measured and marked interrupted.
        await asyncio.to_thread(repair_recordings, settings.data_dir / "sessions")
        embedded = None
        redis_url = settings.redis_url
        if redis_url is None:
            embedded = EmbeddedRedis(settings.data_dir)
            await embedded.start()
            redis_url = embedded.url
        redis = redis_client(redis_url, REDIS_MAX_CONNECTIONS)
        # Each open dashboard feed holds a connection in XREAD BLOCK: they get their own pool,
        # so viewers never take the connections a class's events need.
        feed_redis = redis_client(redis_url, max_connections=None)
        assert settings.secret is not None
        storage = storage_from_url(settings.recording_storage)
        sfu = SFU(settings.ice_addresses, settings.ice_allowed_networks)
        hosting = Hosting(redis, sfu, settings.node_name or f"{socket.gethostname()}-{settings.port}",
                          advertise_url(settings), settings.fleet_name, settings.node_ttl_s,
                          settings.node_max_participants, on_drained)
        loop_lag = LoopLagMonitor()
        loop_lag.start()
        full_collections = CollectAfterDepartures(sfu)
        full_collections.start()
        sessions = SessionStore(redis)
        bus = EventBus(redis, settings.data_dir)
        bus.start()
        # Loading a model takes seconds: off the loop.
        speech = await asyncio.to_thread(SpeechServices, settings.whisper, settings.whisper_language,
                                         redis_url if settings.asr_remote else None)
        if settings.whisper is not None:
            logger.info("transcription is on: %s", settings.whisper.model)
        elif settings.asr_remote:
            logger.info("transcription is on: by `aula asr-worker` processes through Redis")
        else:
            logger.info("transcription is off: no --whisper-model given")
        live = LiveSessions(sessions, bus, redis, sfu, hosting, speech, storage, settings.data_dir,
                            settings.end_grace_s, settings.snapshot_interval_s,
                            settings.panel_interval_s, settings.video_sample_interval_s)
        await hosting.start(live.answer)
        # Before the timers (a class's end may be due) and before any connection (a rejoin).
        resumed = await _resume_classes(settings, sessions, live, bus, redis)
        live.start()
        live_classes = LiveClassesFile(settings.data_dir, sfu, live, resumed)
        live_classes.start()
        app[LIVE_CLASSES] = live_classes
        worker = EmbeddedWorker(redis_url, settings.data_dir) if settings.embedded_worker else None
        if worker is not None:
            worker.start()
        app[CONTEXT] = AppContext(
            settings=settings, redis=redis, feed_redis=feed_redis, sessions=sessions,
            tokens=TokenIssuer(settings.secret, settings.token_ttl_s), sfu=sfu, loop_lag=loop_lag,
            bus=bus, live=live, hosting=hosting, storage=storage,
            exports=Exports(settings.data_dir / "sessions", storage),
            joins=JoinLimiter(settings.join_limit_address, settings.join_limit_identity),
        )
        try:
            yield
        finally:
            if worker is not None:
                await worker.stop()
            await hosting.close()
            await live_classes.close()
            await live.close()
            await sfu.close()
            await asyncio.to_thread(speech.close)
            await bus.close()
            await loop_lag.close()
            await full_collections.close()
            await redis.aclose()
            await feed_redis.aclose()
            if embedded is not None:
                await embedded.stop()

    return context


def advertise_url(settings: Settings) -> str:
    """Where other nodes send this node's joins."""
    if settings.advertise_url or settings.public_url:
        return str(settings.advertise_url or settings.public_url).rstrip("/")
    host = socket.gethostname() if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}"


# A burst (a class joining at once) waits for a connection rather than opening hundreds.
REDIS_MAX_CONNECTIONS = 32


def redis_client(url: str, max_connections: Optional[int]) -> aioredis.Redis:
    """Short timeouts: a Redis that stops answering must send events to the outbox, not stall a
    class. Retries: after Redis restarts, pooled connections to the old process fail once; they
    are retried on a fresh connection instead of failing the caller."""
    options: dict[str, Any] = dict(
        socket_timeout=2, socket_connect_timeout=2,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError])
    if max_connections is None:
        return aioredis.Redis.from_url(url, **options)
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=max_connections,
                                                    timeout=2, **options)
    return aioredis.Redis.from_pool(pool)


async def _resume_classes(settings: Settings, sessions: SessionStore, live: LiveSessions, bus: EventBus,
                          redis: aioredis.Redis) -> list[str]:
    """The classes the previous process ran here (killed or stopped) go on."""
    previous = await asyncio.to_thread(LiveClasses.read, settings.data_dir)
    if previous is None:
        return []
    try:
        return await resume(previous, sessions, live, bus, redis)
    except (RedisError, OSError) as exc:
        logger.warning("Redis unreachable (%s): the classes of the previous process start afresh", exc)
        return []
