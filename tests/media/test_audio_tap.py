"""Every microphone is decoded once, off the event loop (voice activity, transcription); its
level comes from RFC 6464 where packets carry it, else from that decode."""

from __future__ import annotations

import asyncio

from client import ClientOptions
from media import Source
from tests.media.test_forwarding import join
from tests.synthetic import EncodedToneTrack, ToneTrack


async def test_a_publisher_without_level_extension_is_decoded_once_and_heard(aula_server):
    session = await aula_server.create_session()
    plain = await join(aula_server, session["id"], "plain", publish={"microphone": EncodedToneTrack(440, 0.5)})
    marked = await join(aula_server, session["id"], "marked", publish={"microphone": ToneTrack(660, 0.5)})
    quiet = await join(aula_server, session["id"], "quiet", publish={"microphone": ToneTrack(660, 0.0)})
    listener = await join(aula_server, session["id"], "listener", options=ClientOptions(decode=False))
    try:
        await listener.wait_for_tracks(3)
        speaking = await listener.wait_for(lambda m: m["type"] == "active_speakers" and
                                           {"plain", "marked"} <= {s["identity"] for s in m["speakers"]})
        assert speaking
        await asyncio.sleep(1)
        room = aula_server.sfu.rooms[session["id"]]
        plain_mic = room.participants["plain"].publication_for(Source.MICROPHONE)
        marked_mic = room.participants["marked"].publication_for(Source.MICROPHONE)
        assert plain_mic.audio_tap is not None and plain_mic.audio_tap.frames_decoded > 20
        assert 0 < plain_mic.audio_level_dbov < 20  # a 0.5 sine: about -9 dBov
        # The browser-style level is taken from the packets, not measured again.
        assert marked_mic.audio_tap is not None and marked_mic.audio_tap.frames_decoded > 20
        assert plain_mic.audio_tap.on_level is not None and marked_mic.audio_tap.on_level is None
        # A microphone whose packets say "silence" (a muted one sends level 127) is not decoded:
        # the voice detector hears five times a second that the silence goes on.
        quiet_mic = room.participants["quiet"].publication_for(Source.MICROPHONE)
        assert quiet_mic.packets_received > 20 and quiet_mic.audio_tap.frames_decoded == 0
        heard: list = []
        quiet_mic.listen(lambda speech, media_time: heard.append((speech, media_time)))
        await asyncio.sleep(1.0)
        assert 3 <= len(heard) <= 7 and not any(chunk.any() for chunk, _ in heard)
        assert all(0.18 <= b[1] - a[1] <= 0.25 for a, b in zip(heard, heard[1:]))
        marked_heard: list = []
        marked_mic.listen(lambda speech, media_time: marked_heard.append(speech))
        await asyncio.sleep(0.5)
        assert all(chunk.any() for chunk in marked_heard[1:])
    finally:
        for client in (plain, marked, quiet, listener):
            await client.close()
