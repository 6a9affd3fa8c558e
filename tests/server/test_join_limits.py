"""Signaling joins are rate limited per client address and per identity; a class fits."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from server.context import CONTEXT
from server.rate_limit import RateLimit
from tests.conftest import loopback_settings, running_aula
from tests.server.test_signaling import next_message, raw_socket


async def refused_join(server, token: str) -> tuple[dict, int | None]:
    ws = await raw_socket(server, token)
    error = await next_message(ws, "error")
    await ws.receive()
    return error, ws.close_code


async def test_a_class_of_fifty_joins_at_once_from_one_address(aula_server):
    session = await aula_server.create_session()
    tokens = [(await aula_server.token(session["id"], f"student-{i:02d}"))["token"] for i in range(50)]
    sockets = await asyncio.gather(*(raw_socket(aula_server, token) for token in tokens))
    try:
        joined = await asyncio.gather(*(next_message(ws, "joined", timeout=30) for ws in sockets))
        assert len(joined) == 50
        assert len(aula_server.sfu.rooms[session["id"]].participants) == 50
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))


async def test_one_identity_rejoining_in_a_loop_is_refused_with_a_reason(aula_server):
    session = await aula_server.create_session()
    token = (await aula_server.token(session["id"], "looper"))["token"]
    for _ in range(int(aula_server.app[CONTEXT].settings.join_limit_identity.burst)):  # reloads: each join replaces the last
        ws = await raw_socket(aula_server, token)
        await next_message(ws, "joined")
    error, close_code = await refused_join(aula_server, token)
    assert close_code == 4029
    assert error["code"] == "join_rate_limited"
    assert "as this identity" in error["message"] and error["retry_after_s"] > 0
    # Somebody else in the same class still gets in.
    other = await raw_socket(aula_server, (await aula_server.token(session["id"], "other"))["token"])
    await next_message(other, "joined")
    await other.close()
    await ws.close()


async def test_an_address_over_its_join_limit_is_refused_even_with_bad_tokens(redis_server, tmp_path: Path):
    settings = loopback_settings(redis_server.url, tmp_path / "data",
                                 join_limit_address=RateLimit(per_s=0.1, burst=3))
    async with running_aula(settings) as server:
        session = await server.create_session()
        for _ in range(3):  # guessing tokens counts against the address too
            error, close_code = await refused_join(server, "not-a-token")
            assert (error["code"], close_code) == ("token_invalid", 4001)
        good = (await server.token(session["id"], "sam"))["token"]
        error, close_code = await refused_join(server, good)
        assert (error["code"], close_code) == ("join_rate_limited", 4029)
        assert re.fullmatch(r"too many joins from this address: try again in \d+ s", error["message"])
