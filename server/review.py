"""The instructor's review of a class summary: read the draft, edit it, approve or reject it.

Two doors to the same actions: `/review/{id}?token=…` (the page and its calls, for the class's
instructors; operations may look but not decide) and `/api/sessions/{id}/summary…` (the school's
systems, with the API key, naming the instructor who decided). Only an approved summary reaches
guardians: approval publishes `summary.approved`, which the workflows act on.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from aiohttp import web

from events import Event
from events.types import SummaryApproved, SummaryRejected
from summaries.store import SummaryConflict, SummaryEditInvalid, SummaryMissing, SummaryStore

from .api import error, json_object, path_session
from .context import CONTEXT, AppContext
from .page_access import moderator_or_ops
from sessions import Session

Decision = Callable[[AppContext, Session, str, dict[str, Any]], Awaitable[dict[str, Any]]]


def _store(context: AppContext) -> SummaryStore:
    return SummaryStore(context.redis, context.settings.data_dir / "sessions")


async def _edit(context: AppContext, session: Session, by: str, body: dict[str, Any]) -> dict[str, Any]:
    if "edits" not in body:
        raise SummaryEditInvalid('the body is {"edits": {"overview": ..., "items": {id: text or null}}}')
    return await _store(context).edit(session.id, body["edits"], by)


async def _approve(context: AppContext, session: Session, by: str, body: dict[str, Any]) -> dict[str, Any]:
    summary = await _store(context).approve(session.id, by)
    students = [student["identity"] for student in summary["students"]]
    await context.bus.publish(Event.of(SummaryApproved(by=by, students=students), session.id, by))
    return summary


async def _reject(context: AppContext, session: Session, by: str, body: dict[str, Any]) -> dict[str, Any]:
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise SummaryEditInvalid("reason must be text")
    summary = await _store(context).reject(session.id, by, reason)
    await context.bus.publish(Event.of(SummaryRejected(by=by, reason=reason), session.id, by))
    return summary


async def _decide(context: AppContext, session: Session, by: str, body: dict[str, Any],
                  decision: Decision) -> web.Response:
    try:
        return web.json_response(await decision(context, session, by, body))
    except SummaryMissing as exc:
        return error(404, "summary_not_ready", f"{exc}: a draft is written when the class ends (aula worker)")
    except SummaryConflict as exc:
        return error(409, "summary_conflict", str(exc))
    except SummaryEditInvalid as exc:
        return error(400, "invalid_request", str(exc))


async def _get(context: AppContext, session: Session) -> web.Response:
    summary = await _store(context).get(session.id)
    if summary is None:
        state = "the class has not ended" if not session.ended else "the draft is still being written"
        return error(404, "summary_not_ready", f"no summary yet: {state}")
    return web.json_response(summary)


# -- the school's systems (API key) -------------------------------------------------------------

async def api_get_summary(request: web.Request) -> web.Response:
    return await _get(request.app[CONTEXT], await path_session(request))


def _api_action(decision: Decision) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        context: AppContext = request.app[CONTEXT]
        session = await path_session(request)
        body = await json_object(request)
        by = body.get("by")
        if by not in session.instructors:
            return error(400, "invalid_request", '"by" names the instructor who decides: one of the class\'s '
                                                 f"instructors ({', '.join(session.instructors) or 'none'})")
        return await _decide(context, session, by, body, decision)
    return handler


# -- the review page (the class's instructor token) ---------------------------------------------

async def review_page(request: web.Request) -> web.StreamResponse:
    access = moderator_or_ops(request, "the summary review")
    if isinstance(access, web.Response):
        return access
    context: AppContext = request.app[CONTEXT]
    return web.FileResponse(context.settings.web_client_dir / "review.html", headers={"Cache-Control": "no-store"})


async def review_summary(request: web.Request) -> web.Response:
    access = moderator_or_ops(request, "the summary review")
    if isinstance(access, web.Response):
        return access
    return await _get(request.app[CONTEXT], await path_session(request))


def _review_action(decision: Decision) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        access = moderator_or_ops(request, "the summary review")
        if isinstance(access, web.Response):
            return access
        if access.ops:
            return error(403, "forbidden", "only the class's instructors edit, approve or reject its summary")
        session = await path_session(request)
        return await _decide(request.app[CONTEXT], session, access.identity, await json_object(request), decision)
    return handler


def add_review_routes(app: web.Application) -> None:
    app.router.add_get("/api/sessions/{session_id}/summary", api_get_summary)
    app.router.add_patch("/api/sessions/{session_id}/summary", _api_action(_edit))
    app.router.add_post("/api/sessions/{session_id}/summary/approve", _api_action(_approve))
    app.router.add_post("/api/sessions/{session_id}/summary/reject", _api_action(_reject))
    app.router.add_get("/review/{session_id}", review_page)
    app.router.add_get("/review/{session_id}/summary", review_summary)
    app.router.add_patch("/review/{session_id}/summary", _review_action(_edit))
    app.router.add_post("/review/{session_id}/approve", _review_action(_approve))
    app.router.add_post("/review/{session_id}/reject", _review_action(_reject))
