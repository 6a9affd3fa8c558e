"""The browser in a fleet of two nodes: a join link from one node opens the class on the node
that hosts its room; when that node goes away, the page rejoins through the other node, which
takes the room over."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from client import ClientOptions, RtcClient
from tests.conftest import RedisServer, free_port, loopback_settings, running_aula
from tests.synthetic import ColourTrack
from tests.web_client.test_join_page import autojoin_url

pytestmark = pytest.mark.browser


async def test_the_page_joins_on_the_rooms_node_and_follows_the_class_when_that_node_goes(
        redis_server: RedisServer, tmp_path: Path, open_page: Any) -> None:
    fleet = f"browser-{free_port()}"
    async with running_aula(loopback_settings(redis_server.url, tmp_path / "a", fleet_name=fleet,
                                              node_name="node-a")) as a:
        async with running_aula(loopback_settings(redis_server.url, tmp_path / "b", fleet_name=fleet,
                                                  node_name="node-b")) as b:
            session = await a.create_session(title="Geography")
            teacher_token = await a.token(session["id"], "rivera", "Ms Rivera", "instructor")
            teacher = RtcClient(b.base_url, teacher_token["token"], {"camera": ColourTrack((40, 90, 200))},
                                ClientOptions(decode=False))
            await teacher.connect()  # the room is placed on b
            page = await open_page("sam", await autojoin_url(a, session["id"], "sam", "Sam", "student"))
            await page.wait_for_phase("joined")
            assert page.page.url.startswith(b.base_url)  # a's join link answered 307 to b
            assert set(b.sfu.rooms[session["id"]].participants) == {"rivera", "sam"}
            seen = await page.wait_playing("rivera")
            assert seen["width"] > 0
            await teacher.close()
            # b stops: it leaves the fleet first, then closes its rooms.
        await page.wait_for_phase("reconnecting")
        # The page's next tries reach a (the `joined` message named it), which places the room on itself.
        await page.wait_for_phase("joined", timeout=30)
        assert (await page.state())["reconnects"] >= 1
        assert "sam" in a.sfu.rooms[session["id"]].participants
