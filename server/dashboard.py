"""The operations dashboard: the page, its JSON endpoints and its live feed, for ops tokens only.

`GET /dashboard?token=<ops token>` serves web_client/dashboard.html; any other token gets a
403 page that says why and shows nothing. Everything under `/api/dashboard/` takes the ops
token as `Authorization: Bearer <token>` or `?token=` (EventSource cannot set headers), never
the API key: sessions with their live counts and engagement, flags (acknowledge / resolve),
one session (attendance, engagement timelines, transcript), one student's record, and the
events as Server-Sent Events. See docs/operations.md, "Dashboard".
"""

from __future__ import annotations

import html
import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Optional

import redis.asyncio as aioredis
from aiohttp import web

from engagement.attendance import AttendanceRecord, attendance_policy, summarise
from events.bus import GLOBAL_STREAM, session_stream
from events.event import EventType, parse_iso

from .api import error, json_object, path_session, student_record
from engagement.attendance_store import AttendanceStore
from .context import CONTEXT
from .dashboard_feed import EventFeed, parse_last_id
from dashboards.flags import MAX_NOTE_CHARS, FlagBoard, FlagState
from dashboards.index import DashboardIndex
from sessions import Session
from .tokens import OpsGrant, TokenError

READ_CHUNK = 1000
# Per participant in the session view: two hours of 30 s snapshots.
TIMELINE_POINTS = 240
TRANSCRIPT_LINES = 500
STATE_FILTERS = {"open": frozenset({FlagState.OPEN, FlagState.ACKNOWLEDGED}),
                 "resolved": frozenset({FlagState.RESOLVED}),
                 "all": frozenset(FlagState)}
STATE_ACTIONS = {"acknowledge": FlagState.ACKNOWLEDGED, "resolve": FlagState.RESOLVED,
                 "reopen": FlagState.OPEN}
EVENT_TYPES = frozenset(t.value for t in EventType)

OpsHandler = Callable[[web.Request, OpsGrant], Awaitable[web.StreamResponse]]


@dataclass
class Dashboard:
    board: FlagBoard
    feed: EventFeed
    index: DashboardIndex


DASHBOARD = web.AppKey("dashboard", Dashboard)


# -- who may look ---------------------------------------------------------------------------

def _token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    return header[len("Bearer "):].strip() if header.startswith("Bearer ") else request.query.get("token", "")


def _verify(request: web.Request) -> OpsGrant:
    token = _token(request)
    if not token:
        raise TokenError("unauthorized", "an operations token is required: "
                                         "Authorization: Bearer <token>, or ?token=")
    return request.app[CONTEXT].tokens.verify_ops(token)


def ops_only(handler: OpsHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """401 without a valid token, 403 for a valid token that is not an ops token."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            grant = _verify(request)
        except TokenError as exc:
            return error(403 if exc.code == "forbidden" else 401, exc.code, str(exc))
        return await handler(request, grant)

    return guarded


REFUSED_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Aula · Operations: no access</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="/static/css/dashboard.css"></head>
<body><main id="refused" class="refused" data-code="{code}">
<h1>No access to the operations dashboard</h1><p id="refused-reason">{message}</p>
<p>The dashboard needs an operations token (<code>POST /api/tokens</code> with
<code>"role": "ops"</code>). Ask your administrator for a new link.</p></main></body></html>
"""


async def dashboard_page(request: web.Request) -> web.StreamResponse:
    try:
        _verify(request)
    except TokenError as exc:
        message = {"forbidden": "This link's token is for a class, not for operations.",
                   "token_expired": "This link has expired.",
                   "unauthorized": "This link has no token."}.get(exc.code, "This link's token is not valid.")
        return web.Response(status=403, content_type="text/html", headers={"Cache-Control": "no-store"},
                            text=REFUSED_PAGE.format(code=html.escape(exc.code), message=html.escape(message)))
    return web.FileResponse(request.app[CONTEXT].settings.web_client_dir / "dashboard.html",
                            headers={"Cache-Control": "no-store"})


# -- sessions -------------------------------------------------------------------------------

def status(session: Session, records: dict[str, AttendanceRecord], now: float) -> str:
    """ended; live (someone came, or the scheduled start has passed); upcoming."""
    if session.ended:
        return "ended"
    return "live" if records or now >= parse_iso(session.scheduled_start) else "upcoming"


def _counts(session: Session, records: dict[str, AttendanceRecord]) -> dict[str, Any]:
    roster = {entry.identity for entry in session.roster}
    in_room = sorted(identity for identity, record in records.items() if record.is_present)
    return {"expected": len(roster), "present": sum(1 for i in in_room if i in roster),
            "joined": sum(1 for i in roster if i in records), "in_room": len(in_room),
            "in_room_identities": in_room}


def _type_mark(event_type: EventType) -> bytes:
    """How the type reads inside an event's JSON (Event.to_json: no spaces): entries of other
    types are skipped without parsing them, which is most of a session's stream."""
    return json.dumps({"type": event_type.value}, separators=(",", ":"))[1:-1].encode()


SNAPSHOT_MARK = _type_mark(EventType.ENGAGEMENT_SNAPSHOT)
FINAL_MARK = _type_mark(EventType.TRANSCRIPT_FINAL)


def _engagement(latest: dict[str, dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The class's live engagement: the mean score of scored (student) participants."""
    if not latest:
        return None
    scores = [s["score"] for s in latest.values() if s.get("score") is not None]
    return {"average_score": round(sum(scores) / len(scores), 1) if scores else None,
            "scored": len(scores), "updated_at": max(s["ts"] for s in latest.values())}


async def sessions_overview(request: web.Request, grant: OpsGrant) -> web.Response:
    context = request.app[CONTEXT]
    now = time.time()
    open_flags: dict[str, int] = {}
    for flag in await request.app[DASHBOARD].board.flags(STATE_FILTERS["open"]):
        if flag["session_id"]:
            open_flags[flag["session_id"]] = open_flags.get(flag["session_id"], 0) + 1
    sessions = [(session, await AttendanceStore(context.redis, session.id).all())
                for session in await context.sessions.list()]
    states = {session.id: status(session, records, now) for session, records in sessions}
    snapshots = await request.app[DASHBOARD].index.engagement.latest(
        [i for i, state in states.items() if state == "live"], context.settings.snapshot_interval_s)
    rows = [{"id": session.id, "title": session.title, "status": states[session.id],
             "scheduled_start": session.scheduled_start, "scheduled_end": session.scheduled_end,
             "instructors": session.instructors, **_counts(session, records),
             "engagement": _engagement(snapshots[session.id]) if session.id in snapshots else None,
             "open_flags": open_flags.get(session.id, 0)}
            for session, records in sessions]
    return web.json_response({"sessions": rows, "now": now})


async def _session_events(redis: aioredis.Redis, session_id: str,
                          marks: tuple[bytes, ...]) -> AsyncIterator[dict[str, Any]]:
    """The session's events whose JSON holds one of `marks`, oldest first."""
    start = "-"
    while True:
        entries = await redis.xrange(session_stream(session_id), min=start, count=READ_CHUNK)
        for _, fields in entries:
            if any(mark in fields[b"event"] for mark in marks):
                yield json.loads(fields[b"event"])
        if len(entries) < READ_CHUNK:
            return
        start = "(" + entries[-1][0].decode()


async def session_view(request: web.Request, grant: OpsGrant) -> web.Response:
    """One session: attendance table (with who is in the room now), each participant's
    engagement timeline (their engagement.snapshot events), the transcript's finals."""
    context = request.app[CONTEXT]
    session = await path_session(request)
    now = time.time()
    store = AttendanceStore(context.redis, session.id)
    records = await store.all()
    attendance = summarise(records, [(entry.identity, entry.name) for entry in session.roster],
                           attendance_policy(session), session.ended_at or now, frozenset(await store.excused()))
    timelines: dict[str, list[dict[str, Any]]] = {}
    transcript: list[dict[str, Any]] = []
    async for event in _session_events(context.redis, session.id, (SNAPSHOT_MARK, FINAL_MARK)):
        if event["type"] == "engagement.snapshot":
            data = event["data"]
            timelines.setdefault(event["participant"], []).append({
                "ts": event["ts"], "score": data.get("score"), "talk_time_s": data.get("talk_time_s"),
                "camera_on_s": data.get("camera_on_s"), "present_s": data.get("present_s")})
        elif event["type"] == "transcript.final" and event["data"].get("text"):
            data = event["data"]
            transcript.append({"id": event["id"], "ts": event["ts"], "participant": event["participant"],
                               "name": data.get("name"), "start": data.get("start"), "text": data["text"]})
    for row in attendance["records"]:
        record = records.get(row["identity"])
        row["in_room"] = bool(record and record.is_present)
        row["engagement"] = timelines.get(row["identity"], [])[-TIMELINE_POINTS:]
    return web.json_response({
        "session": {**session.to_dict(), "status": status(session, records, now), **_counts(session, records)},
        "attendance": attendance, "transcript": transcript[-TRANSCRIPT_LINES:],
        "flags": await request.app[DASHBOARD].board.flags(STATE_FILTERS["all"], session_id=session.id)})


async def student_view(request: web.Request, grant: OpsGrant) -> web.StreamResponse:
    """The student's record exactly as `GET /api/students/{identity}` gives it (risk included)."""
    return await student_record(request)


# -- flags ----------------------------------------------------------------------------------

async def list_flags(request: web.Request, grant: OpsGrant) -> web.Response:
    state = request.query.get("state", "open")
    if state not in STATE_FILTERS:
        return error(400, "invalid_request", "state must be open, resolved or all")
    flags = await request.app[DASHBOARD].board.flags(
        STATE_FILTERS[state], request.query.get("session") or None, request.query.get("participant") or None)
    return web.json_response({"flags": flags})


async def change_flag(request: web.Request, grant: OpsGrant) -> web.Response:
    """`{"action": "acknowledge" | "resolve" | "reopen", "note"?: "..."}`."""
    body = await json_object(request)
    action = body.get("action")
    if action not in STATE_ACTIONS:
        return error(400, "invalid_request", 'action must be "acknowledge", "resolve" or "reopen"')
    note = body.get("note", "")
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
        return error(400, "invalid_request", f"note must be a string of at most {MAX_NOTE_CHARS} characters")
    changed = await request.app[DASHBOARD].board.set_state(request.match_info["flag_id"],
                                                           STATE_ACTIONS[action], grant, note.strip())
    if changed is None:
        return error(404, "flag_not_found", "no such flag")
    return web.json_response(changed)


# -- the live feed --------------------------------------------------------------------------

async def event_feed(request: web.Request, grant: OpsGrant) -> web.StreamResponse:
    """SSE: every event (`?session=<id>`: that session's; `?types=a,b`: only those types)."""
    try:
        last_id = parse_last_id(request.headers.get("Last-Event-ID") or request.query.get("last_event_id"))
    except ValueError as exc:
        return error(400, "invalid_request", str(exc))
    types = None
    if request.query.get("types"):
        types = frozenset(request.query["types"].split(","))
        if not types <= EVENT_TYPES:
            return error(400, "invalid_request", f"unknown event types: {', '.join(sorted(types - EVENT_TYPES))}")
    stream = GLOBAL_STREAM
    if request.query.get("session"):
        session = await request.app[CONTEXT].sessions.get(request.query["session"])
        if session is None:
            return error(404, "session_not_found", "no such session")
        stream = session_stream(session.id)
    return await request.app[DASHBOARD].feed.respond(request, stream, types, last_id)


# -- wiring ---------------------------------------------------------------------------------

async def _dashboard_context(app: web.Application) -> AsyncIterator[None]:
    redis = app[CONTEXT].redis
    index = DashboardIndex(redis, f"{socket.gethostname()}-{os.getpid()}")
    index.start()
    app[DASHBOARD] = Dashboard(FlagBoard(redis), EventFeed(app[CONTEXT].feed_redis), index)
    try:
        yield
    finally:
        await index.close()


async def _close_feeds(app: web.Application) -> None:
    """Before aiohttp waits for open handlers: every SSE response ends."""
    if DASHBOARD in app:
        app[DASHBOARD].feed.close()


def add_dashboard_routes(app: web.Application) -> None:
    """After the app's own context (it needs Redis and the token issuer)."""
    app.cleanup_ctx.append(_dashboard_context)
    app.on_shutdown.append(_close_feeds)
    app.router.add_get("/dashboard", dashboard_page)
    app.router.add_get("/api/dashboard/sessions", ops_only(sessions_overview))
    app.router.add_get("/api/dashboard/sessions/{session_id}", ops_only(session_view))
    app.router.add_get("/api/dashboard/students/{identity}", ops_only(student_view))
    app.router.add_get("/api/dashboard/flags", ops_only(list_flags))
    app.router.add_post("/api/dashboard/flags/{flag_id}", ops_only(change_flag))
    app.router.add_get("/api/dashboard/events", ops_only(event_feed))
