"""Who may open an after-class page (playback, summary review): the class's moderators with their
join token, and operations with an ops token, both given as `?token=` (pages and their fetches)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from aiohttp import web

from .api import error
from .context import CONTEXT
from .tokens import TokenError


@dataclass(frozen=True)
class PageAccess:
    identity: str
    ops: bool  # operations: may look, but a class's decisions stay with its instructors


def moderator_or_ops(request: web.Request, what: str) -> Union[PageAccess, web.Response]:
    """The caller, or the refusal (401 bad token, 403 another class's or a student's token)."""
    tokens = request.app[CONTEXT].tokens
    token = request.query.get("token", "")
    try:
        return PageAccess(tokens.verify_ops(token).identity, ops=True)
    except TokenError:
        pass
    try:
        grant = tokens.verify_join(token)
    except TokenError as exc:
        return error(401, exc.code, str(exc))
    if grant.session_id != request.match_info["session_id"] or not grant.permissions.moderate:
        return error(403, "forbidden", f"{what} is for this class's instructors and operations")
    return PageAccess(grant.identity, ops=False)
