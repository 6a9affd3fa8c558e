"""REST API: sessions, join tokens, health; guarded by the API key."""

from __future__ import annotations

import asyncio
import hmac
import json
import platform
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import quote

import aiortc
from aiohttp import web

from engagement.attendance import attendance_policy, records_csv, summarise
from events.bus import session_stream
from events.xapi import statements
from media.permissions import Permissions, Role
from events.event import iso
from recording.manifest import StillRecording, delete_media, read_manifest
from workflows.records import StudentRecords
from transcription.transcript_files import FORMATS, TranscriptFiles, render_srt, render_vtt

from . import __version__
from engagement.attendance_store import AttendanceStore
from .context import CONTEXT, AppContext
from .loop_monitor import udp_receive_buffer_errors
from sessions import Session, SessionInvalid, parse_new_session

MAX_BODY_BYTES = 256 * 1024
# The OpenAPI document of every route below; tests/fuzz checks it against the route table.
OPENAPI_FILE = Path(__file__).with_name("openapi.json")
# /api/ paths that need no API key: the signaling socket (its token says who) and the document.
OPEN_API_PATHS = frozenset({"/api/rtc", "/api/openapi.json",
                            "/api/nodes"})  # API key or ops token: server/fleet_api.py checks
# The operations dashboard's endpoints take an ops token instead (server/dashboard.py).
OPS_API_PREFIX = "/api/dashboard/"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def path_session(request: web.Request) -> Session:
    """The session the path names; a 404 (the same body `error` writes) if there is none."""
    session = await request.app[CONTEXT].sessions.get(request.match_info["session_id"])
    if session is None:
        raise web.HTTPNotFound(text=json.dumps({"error": {"code": "session_not_found",
                                                          "message": "no such session"}}),
                               content_type="application/json")
    return session


# aiohttp's own refusals, named in the API's error shape.
HTTP_ERROR_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Under /api/ every refusal is `{"error": {code, message}}`, also aiohttp's own (no such
    path, a method the path does not take, a body over the limit). Not the signaling socket: its
    refusals are messages on the socket."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if (not request.path.startswith("/api/") or request.path == "/api/rtc" or exc.status < 400
                or exc.content_type == "application/json"):
            raise
        default = f"{exc.status}: {exc.reason}"  # aiohttp's own text says no more than the status
        message = exc.text if exc.text and exc.text != default else f"{exc.reason}: {request.method} {request.path}"
        response = error(exc.status, HTTP_ERROR_CODES.get(exc.status, "http_error"), message)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response


@web.middleware
async def api_key_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every /api/ path but OPEN_API_PATHS and OPS_API_PREFIX's needs `Authorization: Bearer <api key>`."""
    if (request.path.startswith("/api/") and request.path not in OPEN_API_PATHS
            and not request.path.startswith(OPS_API_PREFIX) and not has_api_key(request)):
        return error(401, "unauthorized", "an API key is required: Authorization: Bearer <key>")
    return await handler(request)


def has_api_key(request: web.Request) -> bool:
    given = request.headers.get("Authorization", "")
    expected = f"Bearer {request.app[CONTEXT].settings.api_key}"
    return hmac.compare_digest(given.encode(), expected.encode())


async def _json_body(request: web.Request) -> Any:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES,
                                            actual_size=request.content_length)
    raw = await request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=len(raw))
    try:
        return json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise SessionInvalid(f"the body is not valid JSON: {exc}") from exc


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request's body, a JSON object; else a 400 `invalid_request` (the same body `error` writes)."""
    try:
        body = await _json_body(request)
    except SessionInvalid as exc:
        message = str(exc)
    else:
        if isinstance(body, dict):
            return body
        message = "the body must be a JSON object"
    raise web.HTTPBadRequest(text=json.dumps({"error": {"code": "invalid_request", "message": message}}),
                             content_type="application/json")


def _base_url(request: web.Request, context: AppContext) -> str:
    if context.settings.public_url:
        return context.settings.public_url.rstrip("/")
    if not request.host:
        raise web.HTTPBadRequest(text="the request has no Host header to build links with: send "
                                      "one, or start the server with --public-url")
    return f"{request.scheme}://{request.host}"


async def healthz(request: web.Request) -> web.Response:
    context: AppContext = request.app[CONTEXT]
    try:
        redis_ok = bool(await context.redis.ping())
    except Exception:
        redis_ok = False
    return web.json_response({
        "status": "ok" if redis_ok else "degraded",
        "versions": {"aula": __version__, "aiortc": aiortc.__version__,
                     "python": platform.python_version()},
        "redis": {"reachable": redis_ok, "embedded": context.settings.redis_url is None},
        "rooms": len(context.sfu.rooms),
        "transcription": "on" if context.live.speech.transcribing else "off",
        "time": time.time(),
    }, status=200)


async def stats(request: web.Request) -> web.Response:
    context: AppContext = request.app[CONTEXT]
    return web.json_response({
        "media": context.sfu.stats(),
        "event_loop_lag": context.loop_lag.summary(),
        "gc_pauses": context.loop_lag.gc_summary(),
        "udp_receive_buffer_errors": udp_receive_buffer_errors(),
        "transcription": context.live.speech.metrics(),
        # What a leak would grow: benchmarks/soak.py watches these across joins and leaves.
        "process": {"asyncio_tasks": len(asyncio.all_tasks()), "threads": threading.active_count(),
                    "python_allocated_blocks": sys.getallocatedblocks()},
    })


async def create_session(request: web.Request) -> web.Response:
    context: AppContext = request.app[CONTEXT]
    try:
        session = parse_new_session(await _json_body(request))
    except SessionInvalid as exc:
        return error(400, "invalid_session", str(exc))
    await context.sessions.save(session)
    await context.live.schedule(session)
    return web.json_response(session.to_dict(), status=201)


async def list_sessions(request: web.Request) -> web.Response:
    context: AppContext = request.app[CONTEXT]
    sessions = await context.sessions.list()
    return web.json_response({"sessions": [
        {**s.to_dict(), "live": s.id in context.sfu.rooms,
         "participants": len(context.sfu.rooms[s.id].participants) if s.id in context.sfu.rooms else 0}
        for s in sessions]})


async def get_session(request: web.Request) -> web.Response:
    context: AppContext = request.app[CONTEXT]
    session = await path_session(request)
    room = context.sfu.rooms.get(session.id)
    return web.json_response({
        **session.to_dict(), "node": await context.hosting.placement.host(session.id),
        "room": None if room is None else {
            **room.describe(), "participants": [p.describe() for p in room.participants.values()]},
    })


async def create_join_token(request: web.Request) -> web.Response:
    context: AppContext = request.app[CONTEXT]
    session = await path_session(request)
    if session.ended:
        return error(409, "session_ended", "the session has ended")
    body = await json_object(request)
    try:
        identity, name = body.get("identity"), body.get("name", body.get("identity"))
        if not isinstance(identity, str) or not identity.strip() or len(identity) > 128:
            raise SessionInvalid("identity must be a non-empty string of at most 128 characters")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise SessionInvalid("name must be a non-empty string of at most 200 characters")
        try:
            role = Role(body.get("role", "student"))
        except ValueError as exc:
            raise SessionInvalid("role must be instructor, student or observer") from exc
        overrides = body.get("permissions", {})
        if not isinstance(overrides, dict):
            raise SessionInvalid("permissions must be an object")
        try:
            permissions = Permissions.for_role(role).with_overrides(overrides)
        except ValueError as exc:
            raise SessionInvalid(str(exc)) from exc
        ttl = body.get("ttl_s")
        if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 < ttl <= 7 * 86400):
            raise SessionInvalid("ttl_s must be an integer between 1 and 604800")
    except SessionInvalid as exc:
        return error(400, "invalid_request", str(exc))
    token = context.tokens.issue_join(session.id, identity.strip(), name.strip(), role,
                                      permissions, ttl)
    join_url = f"{_base_url(request, context)}/join/{quote(session.id)}?token={token}"
    return web.json_response({"token": token, "join_url": join_url,
                              "identity": identity.strip(), "role": role.value}, status=201)


async def create_ops_token(request: web.Request) -> web.Response:
    context: AppContext = request.app[CONTEXT]
    body = await json_object(request)
    if body.get("role") != "ops":
        return error(400, "invalid_request", 'role must be "ops"; join tokens come from '
                     "/api/sessions/{id}/tokens")
    identity = body.get("identity")
    if not isinstance(identity, str) or not identity.strip():
        return error(400, "invalid_request", "identity must be a non-empty string")
    name = body.get("name", identity)
    if not isinstance(name, str) or not name.strip():
        return error(400, "invalid_request", "name must be a non-empty string")
    return web.json_response({"token": context.tokens.issue_ops(identity.strip(), name.strip())},
                             status=201)


async def end_session(request: web.Request) -> web.Response:
    context: AppContext = request.app[CONTEXT]
    session = await path_session(request)
    ended = await context.live.end(session.id, "api")
    return web.json_response((ended or session).to_dict())


async def recording_control(request: web.Request) -> web.Response:
    """Start or stop recording a live class: `{"action": "start" | "stop"}`."""
    context: AppContext = request.app[CONTEXT]
    session = await path_session(request)
    action = (await json_object(request)).get("action")
    if action not in ("start", "stop"):
        return error(400, "invalid_request", 'action must be "start" or "stop"')
    host = await context.hosting.elsewhere(session.id)
    if host is not None:  # the class runs on another node: it records there
        answer = await context.hosting.commands.send(host.name, {"recording": session.id, "on": action == "start"})
    else:
        answer = await context.live.answer({"recording": session.id, "on": action == "start"})
    if answer.get("not_live"):
        return error(409, "not_live", "the class is not live: nobody is in its room")
    return web.json_response(answer)


async def recordings(request: web.Request) -> web.Response:
    """recordings.json: every recorded track of the session."""
    context: AppContext = request.app[CONTEXT]
    session = await path_session(request)
    tracks = await asyncio.to_thread(read_manifest, context.settings.data_dir / "sessions" / session.id
                                     / "recordings")
    return web.json_response({"session_id": session.id, "tracks": [asdict(t) for t in tracks]})


async def delete_participant_media(request: web.Request) -> web.Response:
    """Student-data stewardship: delete one participant's recordings of a session (and the
    export, which holds them); recordings.json keeps a line saying what went and when."""
    context: AppContext = request.app[CONTEXT]
    session = await path_session(request)
    identity = request.match_info["identity"]
    try:
        deleted = await asyncio.to_thread(
            delete_media, context.settings.data_dir / "sessions" / session.id / "recordings", session.id,
            iso(time.time()), context.storage, identity)
    except StillRecording as exc:
        return error(409, "still_recording", str(exc))
    if deleted:
        await asyncio.to_thread(context.exports.forget, session.id)
    return web.json_response({"participant": identity, "deleted": deleted})


async def student_record(request: web.Request) -> web.Response:
    """Every session of one student: attendance category, minutes, lateness, engagement, flags,
    and the risk level with its reasons (written by `aula worker`)."""
    context: AppContext = request.app[CONTEXT]
    identity = request.match_info["identity"]
    records = StudentRecords(context.redis)
    return web.json_response({"identity": identity, "sessions": await records.sessions(identity),
                              "risk": await records.risk(identity)})


async def attendance(request: web.Request) -> web.Response:
    context: AppContext = request.app[CONTEXT]
    session = await path_session(request)
    now = session.ended_at or time.time()
    store = AttendanceStore(context.redis, session.id)
    summary = summarise(await store.all(), [(entry.identity, entry.name) for entry in session.roster],
                        attendance_policy(session), now, frozenset(await store.excused()))
    if request.query.get("format", "json") == "csv":
        return web.Response(text=records_csv(summary["records"]), content_type="text/csv",
                            headers={"Content-Disposition":
                                     f'attachment; filename="attendance-{session.id}.csv"'})
    if request.query.get("format", "json") != "json":
        return error(400, "invalid_request", "format must be json or csv")
    return web.json_response({"session_id": session.id, "ended": session.ended, **summary})


async def transcript(request: web.Request) -> web.Response:
    """The session's transcript so far (finals only), as JSON, WebVTT or SubRip."""
    context: AppContext = request.app[CONTEXT]
    session = await path_session(request)
    fmt = request.query.get("format", "json")
    if fmt not in FORMATS:
        return error(400, "invalid_request", "format must be json, vtt or srt")
    files = await asyncio.to_thread(TranscriptFiles, context.settings.data_dir / "sessions" / session.id,
                                    session.id)
    if fmt == "json":
        return web.json_response({"session_id": session.id, "ended": session.ended,
                                  "transcription": "on" if context.live.speech.transcribing else "off",
                                  "segments": [asdict(segment) for segment in files.segments]})
    render = render_vtt if fmt == "vtt" else render_srt
    return web.Response(text=render(files.segments), content_type=FORMATS[fmt], charset="utf-8",
                        headers={"Content-Disposition":
                                 f'inline; filename="transcript-{session.id}.{fmt}"'})


async def excuse(request: web.Request) -> web.Response:
    """Record an excused absence (a note from home): no no-show notice, category excused."""
    context: AppContext = request.app[CONTEXT]
    session = await path_session(request)
    identity = request.match_info["identity"]
    if identity not in {entry.identity for entry in session.roster}:
        return error(404, "not_on_roster", f"{identity!r} is not on this session's roster")
    await AttendanceStore(context.redis, session.id).excuse(identity)
    return web.json_response({"session_id": session.id, "identity": identity, "excused": True})


async def xapi(request: web.Request) -> web.Response:
    """The session's events as xAPI statements (Virtual Classroom profile)."""
    context: AppContext = request.app[CONTEXT]
    session = await path_session(request)
    entries = await context.redis.xrange(session_stream(session.id))
    envelopes = [json.loads(fields[b"event"]) for _, fields in entries]
    return web.json_response(statements(
        envelopes, homepage=_base_url(request, context),
        chat_text=request.query.get("chat_text") in ("1", "true")))


def add_routes(app: web.Application) -> None:
    document = OPENAPI_FILE.read_bytes()
    json.loads(document)  # read once, at start: a broken document fails the start, not a request

    async def openapi(request: web.Request) -> web.Response:
        return web.Response(body=document, content_type="application/json")

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/api/stats", stats)
    app.router.add_post("/api/sessions", create_session)
    app.router.add_get("/api/sessions", list_sessions)
    app.router.add_get("/api/sessions/{session_id}", get_session)
    app.router.add_post("/api/sessions/{session_id}/tokens", create_join_token)
    app.router.add_post("/api/sessions/{session_id}/end", end_session)
    app.router.add_get("/api/sessions/{session_id}/attendance", attendance)
    app.router.add_post("/api/sessions/{session_id}/attendance/{identity}/excuse", excuse)
    app.router.add_get("/api/sessions/{session_id}/xapi", xapi)
    app.router.add_get("/api/sessions/{session_id}/transcript", transcript)
    app.router.add_post("/api/sessions/{session_id}/recording", recording_control)
    app.router.add_get("/api/sessions/{session_id}/recordings", recordings)
    app.router.add_delete("/api/sessions/{session_id}/recordings/{identity}", delete_participant_media)
    app.router.add_post("/api/tokens", create_ops_token)
    app.router.add_get("/api/students/{identity}", student_record)

