"""What the fuzzing found, each kept as the behaviour a client relies on now."""

from __future__ import annotations

from yarl import URL


async def ops_token(server) -> str:
    async with server.http.post(f"{server.base_url}/api/tokens", headers=server.headers,
                                json={"identity": "ops-1", "role": "ops"}) as response:
        assert response.status == 201
        return (await response.json())["token"]


async def call(server, method: str, path: str, **kwargs) -> tuple[int, dict]:
    headers = {**server.headers, **kwargs.pop("headers", {})}
    async with server.http.request(method, URL(server.base_url + path, encoded=True),
                                   headers=headers, **kwargs) as response:
        assert response.content_type == "application/json", await response.text()
        return response.status, {**await response.json(), "_allow": response.headers.get("Allow")}


async def test_a_recording_request_that_is_not_json_gets_a_400(aula_server):
    session = await aula_server.create_session()
    status, body = await call(aula_server, "POST", f"/api/sessions/{session['id']}/recording",
                              data=b"\x00", headers={"Content-Type": "application/json"})
    assert status == 400 and body["error"]["code"] == "invalid_request"
    assert "not valid JSON" in body["error"]["message"]


async def test_playback_of_a_path_that_names_no_session_is_a_404_not_a_file_read(aula_server):
    token = await ops_token(aula_server)
    for session_id in ("%00", "..%2F..%2F", "..", "ses_missing"):
        for tail in ("/transcript", "/video"):
            status, body = await call(aula_server, "GET", f"/playback/{session_id}{tail}?token={token}")
            assert (status, body["error"]["code"]) == (404, "session_not_found"), (session_id, tail)


async def test_links_without_a_host_header_are_a_400_naming_the_fix(aula_server):
    session = await aula_server.create_session()
    status, body = await call(aula_server, "GET", f"/api/sessions/{session['id']}/xapi",
                              headers={"Host": ""})
    assert status == 400 and "--public-url" in body["error"]["message"]


async def test_an_ops_token_name_must_be_text(aula_server):
    for name in (5, ["x"], "  "):
        status, body = await call(aula_server, "POST", "/api/tokens",
                                  json={"identity": "ops-1", "role": "ops", "name": name})
        assert status == 400 and body["error"]["message"] == "name must be a non-empty string"


async def test_aiohttp_refusals_under_api_have_the_api_error_shape(aula_server):
    status, body = await call(aula_server, "GET", "/api/no-such-thing")
    assert (status, body["error"]["code"]) == (404, "not_found")
    assert body["error"]["message"] == "Not Found: GET /api/no-such-thing"
    status, body = await call(aula_server, "PUT", "/api/sessions")
    assert (status, body["error"]["code"]) == (405, "method_not_allowed")
    assert set(body["_allow"].split(",")) >= {"GET", "POST"}
    status, body = await call(aula_server, "POST", "/api/sessions", data=b"x" * 300_000)
    assert (status, body["error"]["code"]) == (413, "too_large")
    assert "262144" in body["error"]["message"]


async def test_pages_outside_the_api_keep_their_plain_refusals(aula_server):
    async with aula_server.http.get(f"{aula_server.base_url}/join/ses_missing") as response:
        assert response.status == 404 and await response.text() == "No such class."
    # The signaling socket refuses a request that is not a WebSocket upgrade, as aiohttp does.
    async with aula_server.http.get(f"{aula_server.base_url}/api/rtc") as response:
        assert response.status == 400
