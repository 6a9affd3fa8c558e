"""Forged, tampered, expired and replayed tokens, on the signaling socket and on every HTTP door
that takes one (API key, ops and join tokens): each refused with a reason, never a crash, while a
class is live; the real tokens keep working."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any, Optional

import aiohttp
import jwt
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import FUZZ_SETTINGS, LiveClass, LoopBridge
from tests.fuzz.signaling_strategies import json_values
from tests.fuzz.test_signaling_fuzz import documented_error_codes
from tests.server.test_signaling import next_message

SECRET = "test-secret-that-is-long-enough-for-hs256"  # tests/conftest.py's loopback_settings
EXAMPLES = 300
CLAIMS = ("iss", "sub", "name", "sid", "role", "perms", "iat", "exp")
# Close codes of a refused join (docs/signaling.md).
REFUSAL_CLOSE_CODES = {4001, 4003, 4004, 4029}

pytestmark = pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(claims: Any, secret: str, algorithm: str = "HS256") -> str:
    """A JWT of any claims at all (PyJWT's encoder refuses the malformed ones a forger sends)."""
    signing_input = f"{b64(json.dumps({'alg': algorithm, 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}"
    digest = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}[algorithm]
    return f"{signing_input}.{b64(hmac.new(secret.encode(), signing_input.encode(), digest).digest())}"


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


@st.composite
def forged_tokens(draw: st.DrawFn, genuine: str) -> str:
    """What an attacker (or a broken issuer) could present instead of `genuine`."""
    claims = claims_of(genuine)
    changed = dict(claims)
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from([*CLAIMS, "extra"]))
        if draw(st.booleans()):
            changed.pop(name, None)
        else:
            changed[name] = draw(st.one_of(json_values, st.sampled_from(
                [int(time.time()) - 60, 2**62, "ops", "instructor", "ses_nope", {"moderate": True}])))
    kind = draw(st.sampled_from(["text", "tampered", "truncated", "wrong_secret", "right_secret",
                                 "alg_none", "hs512", "expired"]))
    header, payload, signature = genuine.split(".")
    if kind == "text":
        return draw(st.text(st.characters(codec="ascii"), max_size=300))
    if kind == "tampered":  # one character of the genuine token changed
        index = draw(st.integers(0, len(genuine) - 1))
        return genuine[:index] + draw(st.sampled_from("AZaz09-_.")) + genuine[index + 1:]
    if kind == "truncated":
        return genuine[:draw(st.integers(0, len(genuine) - 1))]
    if kind == "alg_none":
        return f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{b64(json.dumps(changed).encode())}."
    if kind == "hs512":  # the right secret, an algorithm the server does not take
        return sign(changed, SECRET, "HS512")
    if kind == "expired":
        return sign({**claims, "exp": int(time.time()) - draw(st.integers(1, 10**6))}, SECRET)
    secret = SECRET if kind == "right_secret" else draw(st.text(min_size=1, max_size=40)) + "-not-it"
    return sign(changed, secret)


def signed_by_the_server(token: str) -> bool:
    try:
        jwt.decode(token, SECRET, algorithms=["HS256"], issuer="aula")
        return True
    except jwt.PyJWTError:
        return False


async def first_answer(live: LiveClass, token: str) -> tuple[Optional[dict[str, Any]], Optional[int]]:
    """The socket's first message and, if it closed, its close code."""
    url = f"{live.server.base_url.replace('http', 'ws')}/api/rtc"
    async with live.server.http.ws_connect(url, params={"token": token}) as ws:
        received = await ws.receive(timeout=15)
        if received.type != aiohttp.WSMsgType.TEXT:
            return None, ws.close_code
        message = json.loads(received.data)
        if message["type"] == "joined":
            await ws.send_str(json.dumps({"type": "leave"}))
            return message, None
        await ws.receive(timeout=15)
        return message, ws.close_code


async def test_forged_tokens_on_the_socket_are_refused_with_a_reason(live_class: LiveClass,
                                                                     bridge: LoopBridge):
    codes = documented_error_codes()
    genuine = await live_class.token("guest")

    claims = claims_of(genuine)

    @settings(FUZZ_SETTINGS, max_examples=EXAMPLES)
    @given(token=forged_tokens(genuine))
    # Signed with the secret but not shaped as the issuer writes them (an issuer's bug, a leak).
    @example(token=sign({**claims, "perms": []}, SECRET))
    @example(token=sign({**claims, "perms": None}, SECRET))
    @example(token=sign({**claims, "sub": {"a": 1}, "name": [1], "sid": None}, SECRET))
    def fuzz(token: str) -> None:
        message, close_code = bridge.run(lambda: first_answer(live_class, token))
        assert message is not None, f"closed ({close_code}) without a reason for {token!r}"
        if message["type"] == "joined":  # re-signed with the secret and still a good join token
            assert signed_by_the_server(token), token
            return
        assert message["type"] == "error" and message["code"] in codes, (token, message)
        assert close_code in REFUSAL_CLOSE_CODES, (token, message, close_code)

    await asyncio.to_thread(fuzz)
    await live_class.media.assert_still_flowing()
    message, _ = await first_answer(live_class, genuine)
    assert message is not None and message["type"] == "joined"


async def test_replayed_tokens_are_refused_once_their_reason_to_join_is_gone(live_class: LiveClass):
    server, session_id = live_class.server, live_class.session_id
    socket_url = f"{server.base_url.replace('http', 'ws')}/api/rtc"
    instructor_token = await live_class.token("teacher-2", role="instructor")
    student_token = await live_class.token("pupil")
    short = await live_class.token("brief", ttl_s=1)
    async with server.http.ws_connect(socket_url, params={"token": student_token}) as first:
        await next_message(first, "joined")
        # The same token again: it replaces the first connection (a reload), it is no error.
        async with server.http.ws_connect(socket_url, params={"token": student_token}) as second:
            await next_message(second, "joined")
            left = await next_message(first, "participant_left")
            assert (left["identity"], left["reason"]) == ("pupil", "replaced")
            async with server.http.ws_connect(socket_url, params={"token": instructor_token}) as moderator:
                await next_message(moderator, "joined")
                await moderator.send_str(json.dumps({"type": "moderate", "action": "remove",
                                                     "identity": "pupil"}))
                await next_message(second, "removed")
    # Removed by the instructor: the same token no longer gets in.
    assert await first_answer(live_class, student_token) == (
        {"type": "error", "code": "removed", "message": "you were removed from this class"}, 4003)
    await asyncio.sleep(1.5)
    message, close_code = await first_answer(live_class, short)
    assert (message and message["code"], close_code) == ("token_expired", 4001)
    # A token for one class does not open another's playback; a join token is no API key.
    other = await server.create_session()
    async with server.http.get(f"{server.base_url}/playback/{other['id']}",
                               params={"token": instructor_token}) as response:
        assert response.status == 403 and (await response.json())["error"]["code"] == "forbidden"
    async with server.http.get(f"{server.base_url}/api/sessions/{session_id}",
                               headers={"Authorization": f"Bearer {instructor_token}"}) as response:
        assert response.status == 401
    await live_class.media.assert_still_flowing()


async def test_forged_credentials_at_every_http_door_get_401_or_403(live_class: LiveClass,
                                                                   bridge: LoopBridge):
    server, session_id = live_class.server, live_class.session_id
    async with server.http.post(f"{server.base_url}/api/tokens", headers=server.headers,
                                json={"identity": "ops-1", "role": "ops"}) as response:
        ops = (await response.json())["token"]
    instructor = await live_class.token("teacher-3", role="instructor")
    # (path, how the credential goes, the genuine one)
    doors = [(f"/api/sessions/{session_id}", "bearer", f"{server.api_key}"),
             (f"/playback/{session_id}/transcript", "query", instructor),
             (f"/review/{session_id}/summary", "query", instructor),
             ("/api/dashboard/sessions", "bearer", ops),
             ("/api/dashboard/flags", "query", ops)]

    async def knock(path: str, how: str, credential: str) -> tuple[int, str]:
        kwargs: dict[str, Any] = ({"headers": {"Authorization": f"Bearer {credential}"}} if how == "bearer"
                                  else {"params": {"token": credential}})
        async with server.http.get(f"{server.base_url}{path}", **kwargs) as response:
            body = await response.read()
            code = json.loads(body)["error"]["code"] if response.content_type == "application/json" \
                and response.status >= 400 else ""
            return response.status, code

    @settings(FUZZ_SETTINGS, max_examples=EXAMPLES // len(doors))
    @given(door=st.sampled_from(doors), data=st.data())
    def fuzz(door: tuple[str, str, str], data: st.DataObject) -> None:
        path, how, genuine = door
        credential = data.draw(forged_tokens(genuine) if genuine.count(".") == 2 else st.one_of(
            st.text(st.characters(codec="ascii", exclude_characters="\r\n"), max_size=80),
            st.sampled_from([genuine + "x", genuine.upper(), genuine[:-1], f"bearer {genuine}", ops])))
        assume(how == "query" or credential.isprintable())  # a header cannot carry control characters
        status, code = bridge.run(lambda: knock(path, how, credential))
        if status not in (401, 403):  # let in: the genuine credential, or a token signed with the secret
            assert credential == genuine or signed_by_the_server(credential), (path, credential, status)
            return
        assert code, (path, credential, status)  # a JSON error naming the refusal

    await asyncio.to_thread(fuzz)
    for path, how, genuine in doors:  # the genuine credentials still open every door
        assert (await knock(path, how, genuine))[0] in (200, 404), path
    await live_class.media.assert_still_flowing()
