"""The fleet over HTTP: `GET /api/nodes` (API key or ops token) lists the live nodes with their
load; `POST /api/nodes/{name}/drain` (API key) makes a node take no new rooms; the join page
comes from the node that hosts the class."""

from __future__ import annotations

from aiohttp import web

from fleet import NoNodeAvailable

from .api import error, has_api_key, json_object
from .context import CONTEXT, AppContext
from .tokens import TokenError


DEFAULT_DRAIN_DEADLINE_S = 3600


def _authorised(request: web.Request) -> bool:
    """The API key, or an ops token (the dashboard's), as `Authorization: Bearer ...`."""
    if has_api_key(request):
        return True
    context: AppContext = request.app[CONTEXT]
    try:
        context.tokens.verify_ops(request.headers.get("Authorization", "").removeprefix("Bearer "))
    except TokenError:
        return False
    return True


async def list_nodes(request: web.Request) -> web.Response:
    if not _authorised(request):
        return error(401, "unauthorized", "an API key or an ops token is required: Authorization: Bearer <key>")
    nodes = await request.app[CONTEXT].hosting.nodes()
    return web.json_response([node.to_dict() for node in nodes])  # a list, as DESIGN.md writes it


async def drain_node(request: web.Request) -> web.Response:
    """`{"deadline_s": N}` (default an hour): no new rooms now, the classes still here after N
    seconds move. Only the node itself drains (its own state is what it heartbeats): another
    node answers with where to send the request."""
    hosting = request.app[CONTEXT].hosting
    name = request.match_info["name"]
    if name != hosting.name:
        target = await hosting.placement.node_info(name)
        if target is None:
            return error(404, "node_not_found", f"no live node {name!r}")
        return error(409, "not_this_node", f"{name!r} drains itself: POST {target.url}/api/nodes/{name}/drain")
    body = await json_object(request) if request.can_read_body else {}
    deadline_s = body.get("deadline_s", DEFAULT_DRAIN_DEADLINE_S)
    if isinstance(deadline_s, bool) or not isinstance(deadline_s, (int, float)) or not 0 <= deadline_s <= 86400:
        return error(400, "invalid_request", "deadline_s must be a number of seconds from 0 to 86400")
    info = await hosting.drain(float(deadline_s))
    return web.json_response({**info.to_dict(), "deadline_s": deadline_s})


async def join_page(request: web.Request) -> web.StreamResponse:
    context: AppContext = request.app[CONTEXT]
    session = await context.sessions.get(request.match_info["session_id"])
    if session is None:
        return web.Response(status=404, text="No such class.", content_type="text/plain")
    try:
        host = None if session.ended else await context.hosting.host_elsewhere(session.id)
    except NoNodeAvailable:
        host = None  # the page says so when its socket is refused
    if host is not None:  # the class runs on another node: the page (and its socket) come from there
        raise web.HTTPTemporaryRedirect(host.url + request.path_qs)
    return web.FileResponse(context.settings.web_client_dir / "join.html",
                            headers={"Cache-Control": "no-store"})


def add_fleet_routes(app: web.Application) -> None:
    app.router.add_get("/api/nodes", list_nodes)
    app.router.add_post("/api/nodes/{name}/drain", drain_node)
    app.router.add_get("/join/{session_id}", join_page)
