"""What the fuzzing found, each kept as the behaviour a client relies on now."""

from __future__ import annotations

import json

import jwt
from yarl import URL

from tests.fuzz.signaling_strategies import OFFER_SDP, TEMPLATES
from tests.fuzz.test_tokens_fuzz import SECRET, sign
from tests.server.test_signaling import next_message, raw_socket


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


async def test_offers_aiortc_cannot_use_are_bad_sdp_and_the_next_good_offer_is_answered(aula_server):
    video = OFFER_SDP[OFFER_SDP.index("m=video"):]
    broken = {
        # aiortc's parser asserts on a malformed c= line...
        "c= line": OFFER_SDP.replace("c=IN IP4 0.0.0.0", "c=IN IP4 0.0.0.0 and more", 1),
        # ...raises StopIteration for a format parameter of a payload type with no rtpmap...
        "fmtp of no codec": OFFER_SDP.replace("a=fmtp:98 apt=97", "a=fmtp:55 apt=97"),
        # ...and OperationError for video in no codec it knows.
        "no common codec": OFFER_SDP.replace("a=rtpmap:97 VP8/90000", "a=rtpmap:97 XVID/90000"),
        # A section without a direction was taken, and then every later offer failed.
        "no direction": OFFER_SDP + video.replace("a=mid:1", "a=mid:2").replace("a=sendonly\r\n", ""),
    }
    session = await aula_server.create_session()
    ws = await raw_socket(aula_server, (await aula_server.token(session["id"], "sam"))["token"])
    await next_message(ws, "joined")
    for what, sdp in broken.items():
        await ws.send_str(json.dumps({**TEMPLATES["offer"], "sdp": sdp}))
        error = await next_message(ws, "error")
        assert error["code"] == "bad_sdp" and error["message"], (what, error)
    await ws.send_str(json.dumps(TEMPLATES["offer"]))
    answer = await next_message(ws, "answer")
    assert [t["source"] for t in answer["tracks"]] == ["microphone", "camera"]
    await ws.close()


async def test_a_signed_token_with_malformed_permissions_is_refused_not_a_crash(aula_server):
    session = await aula_server.create_session()
    claims = jwt.decode((await aula_server.token(session["id"], "sam"))["token"],
                        options={"verify_signature": False})
    for perms in ([], None, 5):
        token = sign({**claims, "perms": perms}, SECRET)
        ws = await raw_socket(aula_server, token)
        error = await next_message(ws, "error")
        await ws.receive()
        assert (error["code"], ws.close_code) == ("token_invalid", 4001), perms
