"""In a big room only the loudest speakers' microphones are forwarded."""

from __future__ import annotations

import asyncio

from client import ClientOptions
from media import room as room_module
from tests.media.test_forwarding import join
from tests.synthetic import ToneTrack


async def test_only_the_loudest_speakers_are_forwarded_and_silence_is_dropped(aula_server, monkeypatch):
    monkeypatch.setattr(room_module, "AUDIBLE_SPEAKERS", 2)
    session = await aula_server.create_session()
    # In first: active_speakers is broadcast when the speakers change, not to a late joiner.
    listener = await join(aula_server, session["id"], "listener", options=ClientOptions(decode=False))
    # Three loud speakers of different loudness and one who is silent.
    speakers = {"loud": 0.9, "medium": 0.3, "quiet": 0.05, "silent": 0.0}
    clients = [await join(aula_server, session["id"], name, publish={"microphone": ToneTrack(440, amp)})
               for name, amp in speakers.items()]
    try:
        await listener.wait_for_tracks(2)
        await asyncio.sleep(1.5)  # selection settles
        before = {name: listener.track_from(name, "microphone").packets for name in speakers}
        await asyncio.sleep(2)
        gained = {name: listener.track_from(name, "microphone").packets - before[name] for name in speakers}
        assert gained["loud"] > 80 and gained["medium"] > 80, gained
        assert gained["quiet"] == 0 and gained["silent"] == 0, gained
        speaking = await listener.wait_for(lambda m: m["type"] == "active_speakers" and
                                           {"loud", "medium"} <= {s["identity"] for s in m["speakers"]})
        assert speaking["speakers"][0]["identity"] == "loud"
    finally:
        for client in (*clients, listener):
            await client.close()
