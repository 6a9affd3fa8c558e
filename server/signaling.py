"""The signaling WebSocket (`GET /api/rtc?token=…`); docs/signaling.md lists every message."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Optional

from aiohttp import WSMsgType, web

from fleet import NoNodeAvailable
from media import JoinRefused, MediaError, Participant, PermissionDenied, Room, Source

from .context import CONTEXT, AppContext
from classroom.live_session import LiveSession
from classroom.live_sessions import LiveSessions
from .rate_limit import JoinRefusal, TokenBucket
from .tokens import TokenError

logger = logging.getLogger(__name__)

# A subscriber answer for a class of 50 carries ~100 m-lines.
MAX_MESSAGE_BYTES = 256 * 1024
# Frames above this are cut off by aiohttp itself (close code 1009).
MAX_FRAME_BYTES = 1024 * 1024
# Close codes (4000-4999 are the application's).
CLOSE_AUTH = 4001
CLOSE_REFUSED = 4003
CLOSE_NOT_FOUND = 4004
CLOSE_RATE_LIMITED = 4029  # as HTTP 429
CLOSE_REDIRECT = 4307  # as HTTP 307: the room is on another node (the `redirect` message says where)
CLOSE_UNAVAILABLE = 4503  # as HTTP 503: no node takes the room now; try again


class BadMessage(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Call:
    """What a message handler works on: the room, the live session, who sent it."""

    room: Room
    live: LiveSession
    participant: Participant
    sessions: LiveSessions


class Connection:
    """One participant's socket: an outbox drained by a writer task, and the message loop."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self._outbox: asyncio.Queue[Optional[dict[str, Any]]] = asyncio.Queue()
        self._writer = asyncio.ensure_future(self._write())

    def send(self, message: dict[str, Any]) -> None:
        self._outbox.put_nowait(message)

    async def _write(self) -> None:
        while (message := await self._outbox.get()) is not None:
            try:
                await self.ws.send_str(json.dumps(message))
            except (ConnectionError, RuntimeError):
                return

    async def close(self, code: int = 1000, message: bytes = b"") -> None:
        self._outbox.put_nowait(None)
        await asyncio.wait([self._writer], timeout=2)
        await self.ws.close(code=code, message=message)


def rtc_url(base_url: str) -> str:
    """The signaling socket's URL on a node: ws: for http:, wss: for https:."""
    return base_url.replace("http", "ws", 1).rstrip("/") + "/api/rtc"


async def rtc_socket(request: web.Request) -> web.StreamResponse:
    context: AppContext = request.app[CONTEXT]
    ws = web.WebSocketResponse(max_msg_size=MAX_FRAME_BYTES, heartbeat=20)
    await ws.prepare(request)
    connection = Connection(ws)

    async def refuse(code: str, message: str, close_code: int,
                     **extra: Any) -> web.WebSocketResponse:
        connection.send({"type": "error", "code": code, "message": message, **extra})
        await connection.close(close_code, code.encode())
        return ws

    async def too_many(refusal: JoinRefusal) -> web.WebSocketResponse:
        return await refuse(refusal.code, refusal.message, CLOSE_RATE_LIMITED,
                            retry_after_s=round(refusal.retry_after_s, 1))

    if (refusal := context.joins.admit_address(request.remote or "")) is not None:
        return await too_many(refusal)
    try:
        grant = context.tokens.verify_join(request.query.get("token", ""))
    except TokenError as exc:
        return await refuse(exc.code, str(exc), CLOSE_AUTH)
    if (refusal := context.joins.admit_identity(grant.session_id, grant.identity)) is not None:
        return await too_many(refusal)
    session = await context.sessions.get(grant.session_id)
    if session is None:
        return await refuse("session_not_found", "no such session", CLOSE_NOT_FOUND)
    if session.ended:
        return await refuse("session_ended", "the class has ended", CLOSE_REFUSED)
    try:
        host = await context.hosting.host_elsewhere(session.id)
    except NoNodeAvailable as exc:
        return await refuse("no_node_available", str(exc), CLOSE_UNAVAILABLE)
    if host is not None:
        # The room lives on another node: the client opens the same socket there, same token.
        connection.send({"type": "redirect", "url": rtc_url(host.url), "node": host.name})
        await connection.close(CLOSE_REDIRECT, b"redirect")
        return ws
    nodes = context.hosting.node_urls()
    live, room = context.live.open_room(session)
    try:
        participant = await room.join(grant.identity, grant.name, grant.role, grant.permissions,
                                      connection.send,
                                      joined_extra={**live.joined_extra(grant.identity, grant.permissions.moderate),
                                                    "nodes": nodes})
    except JoinRefused as exc:
        return await refuse(exc.code, str(exc), CLOSE_REFUSED)
    call = Call(room, live, participant, context.live)

    # Removed, replaced by a newer connection, or the class ended: end this socket too.
    closer = asyncio.ensure_future(_close_when_closed(participant, connection))
    left_on_purpose = False
    limiter = TokenBucket(context.settings.message_limit)
    try:
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                if frame.type == WSMsgType.BINARY:
                    connection.send({"type": "error", "code": "bad_json",
                                     "message": "messages are JSON text frames"})
                continue
            if not limiter.take():
                connection.send({"type": "error", "code": "rate_limited", "message":
                                 f"more than {context.settings.message_limit.per_s:g} messages a "
                                 "second; this one was dropped"})
                continue
            message_type: Optional[str] = None
            try:
                message = _parse(frame.data)
                message_type = message["type"]
                if message_type == "leave":
                    left_on_purpose = True
                    break
                await HANDLERS[message_type](call, message)
            except BadMessage as exc:
                connection.send(_error(exc.code, str(exc), message_type))
            except MediaError as exc:
                connection.send(_error(exc.code, str(exc), message_type))
            except Exception:
                # A bug must cost one message, never the participant's connection.
                logger.exception("signaling %s from %s failed", message_type, participant.identity)
                connection.send(_error("internal_error", "the server could not handle this "
                                       "message", message_type))
            if participant.closed:
                break
    finally:
        closer.cancel()
        if left_on_purpose or participant.closed:
            await room.leave(participant, "left")
        else:
            room.disconnected(participant, context.settings.reconnect_grace_s)
        await connection.close()
    return ws


async def _close_when_closed(participant: Participant, connection: Connection) -> None:
    await participant.wait_closed()
    await connection.close(CLOSE_REFUSED, b"closed")


def _error(code: str, message: str, ref_type: Optional[str]) -> dict[str, Any]:
    error: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if ref_type is not None:
        error["ref_type"] = ref_type
    return error


def _parse(data: str) -> dict[str, Any]:
    if len(data.encode()) > MAX_MESSAGE_BYTES:
        raise BadMessage("too_large", f"messages are limited to {MAX_MESSAGE_BYTES} bytes")
    try:
        message = json.loads(data)
    except ValueError as exc:
        raise BadMessage("bad_json", f"not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise BadMessage("bad_json", "a message must be a JSON object")
    if not isinstance(message.get("type"), str) or message["type"] not in HANDLERS:
        raise BadMessage("unknown_type", f"unknown message type {str(message.get('type'))[:40]!r}")
    return message


def _field(message: dict[str, Any], name: str, kind: type, required: bool = True) -> Any:
    value = message.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise BadMessage("bad_message", f"{message['type']}: {name} must be a {kind.__name__}")
    return value


def _target(message: dict[str, Any], expected: Optional[str] = None) -> str:
    target = _field(message, "target", str)
    if target not in ("publisher", "subscriber") or (expected and target != expected):
        allowed = expected or "publisher or subscriber"
        raise BadMessage("bad_message", f"{message['type']}: target must be {allowed}")
    return target


async def _offer(call: Call, message: dict[str, Any]) -> None:
    room, participant = call.room, call.participant
    _target(message, "publisher")
    sdp = _field(message, "sdp", str)
    tracks = _field(message, "tracks", list)
    if not all(isinstance(t, dict) for t in tracks):
        raise BadMessage("bad_message", "offer: tracks must be a list of {mid, source}")
    answer, described = await participant.handle_publisher_offer(sdp, tracks)
    participant.signal({"type": "answer", "target": "publisher", "sdp": answer,
                        "tracks": described})
    room.participant_updated(participant)


async def _answer(call: Call, message: dict[str, Any]) -> None:
    _target(message, "subscriber")
    await call.participant.handle_subscriber_answer(_field(message, "sdp", str))


async def _candidate(call: Call, message: dict[str, Any]) -> None:
    target = _target(message)
    candidate = message.get("candidate")
    if candidate is not None and not isinstance(candidate, dict):
        raise BadMessage("bad_message", "candidate: candidate must be an object or null")
    await call.participant.add_ice_candidate(target, candidate)


def _source(message: dict[str, Any], default: Optional[str] = None) -> Source:
    value = message.get("source", default)
    try:
        return Source(value)
    except ValueError as exc:
        raise BadMessage("bad_message", "source must be microphone, camera or screen") from exc


async def _mute(call: Call, message: dict[str, Any]) -> None:
    call.room.set_muted(call.participant, _source(message), _field(message, "muted", bool))


MODERATION = ("mute", "remove", "lock", "unlock", "lower_hand", "end_class")


async def _moderate(call: Call, message: dict[str, Any]) -> None:
    action = _field(message, "action", str)
    if action not in MODERATION:
        raise BadMessage("bad_message", f"moderate: action must be one of {', '.join(MODERATION)}")
    identity = _field(message, "identity", str, required=action in ("mute", "remove", "lower_hand"))
    if action == "lower_hand":
        call.live.hands.lower_for(call.participant, identity)
    elif action == "end_class":
        if not call.participant.permissions.moderate:
            raise PermissionDenied("ending the class needs the moderate permission")
        asyncio.ensure_future(call.sessions.end(call.room.session_id, "instructor"))
    else:
        source = _source(message, "microphone").value if action == "mute" else None
        await call.room.moderate(call.participant, action, identity, source)


async def _recording(call: Call, message: dict[str, Any]) -> None:
    action = _field(message, "action", str)
    if action not in ("start", "stop"):
        raise BadMessage("bad_message", "recording: action must be start or stop")
    await call.live.set_recording(call.participant, action == "start")


async def _update_subscription(call: Call, message: dict[str, Any]) -> None:
    participant = call.participant
    sids = _field(message, "sids", list)
    if not all(isinstance(sid, str) for sid in sids) or len(sids) > 500:
        raise BadMessage("bad_message", "update_subscription: sids must be a list of track sids")
    participant.set_subscriptions_enabled(sids, _field(message, "enabled", bool))


async def _ping(call: Call, message: dict[str, Any]) -> None:
    call.participant.signal({"type": "pong", "ts": message.get("ts")})


async def _leave(call: Call, message: dict[str, Any]) -> None:
    """Handled by the message loop itself (it ends the connection)."""


async def _chat(call: Call, message: dict[str, Any]) -> None:
    call.live.chat.send(call.participant, _field(message, "text", str),
                   _field(message, "to", str, required=False))


async def _hand(call: Call, message: dict[str, Any]) -> None:
    call.live.hands.set(call.participant, _field(message, "raised", bool))


async def _reaction(call: Call, message: dict[str, Any]) -> None:
    call.live.reactions.send(call.participant, _field(message, "emoji", str))


async def _poll_create(call: Call, message: dict[str, Any]) -> None:
    options = _field(message, "options", list)
    if not all(isinstance(option, str) for option in options):
        raise BadMessage("bad_message", "poll_create: options must be strings")
    call.live.polls.create(call.participant, _field(message, "question", str), options,
                          _field(message, "correct", int, required=False))


async def _poll_answer(call: Call, message: dict[str, Any]) -> None:
    call.live.polls.answer(call.participant, _field(message, "poll_id", str),
                          _field(message, "option", int))


async def _poll_end(call: Call, message: dict[str, Any]) -> None:
    call.live.polls.end(call.participant, _field(message, "poll_id", str))


async def _visibility(call: Call, message: dict[str, Any]) -> None:
    call.live.presence.visibility(call.participant, _field(message, "visible", bool))


def _measure(message: dict[str, Any], name: str, upper: float) -> Optional[float]:
    value = message.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= upper:
        raise BadMessage("bad_message", f"quality: {name} must be a number from 0 to {upper}")
    return float(value)


async def _quality(call: Call, message: dict[str, Any]) -> None:
    call.live.presence.quality(call.participant, _measure(message, "rtt_ms", 60_000),
                      _measure(message, "packet_loss", 1.0), _measure(message, "jitter_ms", 60_000))


HANDLERS = {
    "offer": _offer, "answer": _answer, "candidate": _candidate, "mute": _mute,
    "moderate": _moderate, "update_subscription": _update_subscription, "chat": _chat,
    "hand": _hand, "reaction": _reaction, "recording": _recording, "poll_create": _poll_create,
    "poll_answer": _poll_answer, "poll_end": _poll_end, "visibility": _visibility,
    "quality": _quality, "ping": _ping, "leave": _leave,
}
