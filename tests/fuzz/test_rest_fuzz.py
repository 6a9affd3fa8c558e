"""The REST API fuzzed by schemathesis from the OpenAPI document it serves, while a class is live:
no 5xx, every answer in the document (status, content type, schema), schema-violating requests
refused with a 4xx, the API key enforced; the class's media keeps flowing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (content_type_conformance, ignored_auth, negative_data_rejection,
                                 not_a_server_error, response_headers_conformance,
                                 response_schema_conformance, status_code_conformance,
                                 unsupported_method)
from schemathesis.config import SchemathesisConfig

from tests.fuzz.conftest import FUZZ_SETTINGS, LiveClass

# Per operation and generation mode (about 25 operations): the whole API in ~20 s.
EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance, negative_data_rejection,
          unsupported_method, ignored_auth]
# The signaling socket is no REST operation: test_signaling_fuzz.py fuzzes it.
NOT_FUZZED = {"/api/rtc"}
# The fuzzer runs operations on the live class too, but not those that would end it for everyone.
UNSAFE_ON_THE_LIVE_CLASS = {"POST /api/sessions/{session_id}/end"}

pytestmark = pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")


def has_constraints(operation: Any) -> bool:
    """Whether negative (schema-violating) requests can be made: a body, or a parameter with an
    enum. Free-text path parameters have no invalid value."""
    return bool(list(operation.body)) or any(
        "enum" in parameter.definition.get("schema", {}) for parameter in operation.iter_parameters())


def fuzz_api(base_url: str, api_key: str, ops_token: str, session_ids: dict[str, str]) -> dict[str, str]:
    """Every documented operation, positive and negative; `session_ids`: which real sessions
    the fuzzer may name (besides random ids). Returns what failed, by operation."""
    config = SchemathesisConfig.from_dict({"generation": {
        # The API key is the caller's (below): don't let the generator drop or mangle it, nor
        # add query parameters nobody reads (unknown parameters are ignored, as HTTP APIs do).
        "with-security-parameters": False, "allow-extra-parameters": False}})
    schema = schemathesis.openapi.from_url(f"{base_url}/api/openapi.json", config=config)
    headers = {"Authorization": f"Bearer {api_key}"}
    failures: dict[str, str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in NOT_FUZZED:
            continue
        label = f"{operation.method.upper()} {operation.path}"
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if has_constraints(operation) else [])
        for mode in modes:
            strategies = [operation.as_strategy(mode)]
            if "{session_id}" in operation.path:
                strategies += [operation.as_strategy(mode, path_parameters={"session_id": session_id})
                               for name, session_id in session_ids.items()
                               if name != "live" or label not in UNSAFE_ON_THE_LIVE_CLASS]
            # A page's token is a query parameter: a real one for the positive cases.
            params = {"token": ops_token} if operation.path.startswith("/playback") \
                and mode is GenerationMode.POSITIVE else None

            @settings(FUZZ_SETTINGS, max_examples=EXAMPLES)
            @given(case=st.one_of(strategies))
            def run(case: Any) -> None:
                case.call_and_validate(base_url=base_url, headers=headers, params=params,
                                       checks=CHECKS, timeout=30)

            try:
                run()
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup is the latter
                failures[f"{label} ({mode.value})"] = str(exc)[:3000]  # all reported at the end
    return failures


async def created_ops_token(live: LiveClass) -> str:
    async with live.server.http.post(f"{live.server.base_url}/api/tokens", headers=live.server.headers,
                                     json={"identity": "ops-fuzz", "role": "ops"}) as response:
        return (await response.json())["token"]


async def test_the_rest_api_keeps_to_its_document_under_fuzzing_while_a_class_is_live(
        live_class: LiveClass):
    server = live_class.server
    scheduled = await server.create_session(
        roster=[{"identity": "s1", "name": "Sam", "guardian": {"name": "Pat", "email": "p@example.org"}}])
    failures = await asyncio.to_thread(
        fuzz_api, server.base_url, server.api_key, await created_ops_token(live_class),
        {"scheduled": scheduled["id"], "live": live_class.session_id})
    assert not failures, "\n\n".join(f"== {name}\n{text}" for name, text in failures.items())
    await live_class.media.assert_still_flowing()
    await live_class.assert_a_newcomer_gets_the_media("after-the-rest-fuzz")
