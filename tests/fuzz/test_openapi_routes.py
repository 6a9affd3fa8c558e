"""server/openapi.json documents exactly the routes the app registers, and is served."""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web
from openapi_spec_validator import validate

from server.api import OPENAPI_FILE
from server.app import create_app
from server.config import Settings

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def registered_routes(app: web.Application) -> set[str]:
    """`METHOD /path` of every handler route (HEAD twins of GETs and static files left out)."""
    return {f"{route.method} {route.resource.canonical}" for route in app.router.routes()
            if route.method != "HEAD" and route.resource is not None
            and not isinstance(route.resource, web.StaticResource)}


def documented_routes(document: dict) -> set[str]:
    return {f"{method.upper()} {path}" for path, item in document["paths"].items()
            for method in item if method in HTTP_METHODS}


def test_the_document_is_valid_openapi():
    validate(json.loads(OPENAPI_FILE.read_text()))


def test_every_registered_route_is_documented_and_every_documented_route_exists(tmp_path: Path):
    app = create_app(Settings(data_dir=tmp_path))
    registered, documented = registered_routes(app), documented_routes(json.loads(OPENAPI_FILE.read_text()))
    undocumented, stale = sorted(registered - documented), sorted(documented - registered)
    problems = []
    if undocumented:
        problems.append("the app registers these routes but server/openapi.json does not document "
                        "them; add each under `paths` (parameters, request body, responses with "
                        "their error codes):\n  " + "\n  ".join(undocumented))
    if stale:
        problems.append("server/openapi.json documents these routes but the app does not register "
                        "them; remove them (or register them):\n  " + "\n  ".join(stale))
    assert not problems, "\n".join(problems)


async def test_the_document_is_served_without_the_api_key(aula_server):
    async with aula_server.http.get(f"{aula_server.base_url}/api/openapi.json") as response:
        assert response.status == 200
        served = await response.json()
    assert served == json.loads(OPENAPI_FILE.read_text())
