"""Every microphone is decoded once, off the event loop (voice activity, transcription); its
level comes from RFC 6464 where packets carry it, else from that decode."""

from __future__ import annotations

import asyncio
import fractions
import threading
import time

import av
import numpy as np

from client import ClientOptions
from media import Source
from media.audio_tap import AudioTap
from tests.media.test_forwarding import join
from tests.synthetic import AUDIO_RATE, EncodedToneTrack, ToneTrack


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
        assert all(0.1 <= b[1] - a[1] <= 0.4 for a, b in zip(heard, heard[1:]))
        marked_heard: list = []
        marked_mic.listen(lambda speech, media_time: marked_heard.append(speech))
        await asyncio.sleep(0.5)
        assert all(chunk.any() for chunk in marked_heard[1:])
    finally:
        for client in (plain, marked, quiet, listener):
            await client.close()


def opus_tone(frames: int) -> list[bytes]:
    """`frames` 20 ms Opus packets of a 440 Hz tone."""
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.layout, encoder.format = AUDIO_RATE, "mono", "s16"
    encoder.time_base = fractions.Fraction(1, AUDIO_RATE)
    samples = AUDIO_RATE // 50
    packets: list[bytes] = []
    for index in range(frames + 5):
        t = (np.arange(samples) + index * samples) / AUDIO_RATE
        frame = av.AudioFrame.from_ndarray(
            (np.sin(2 * np.pi * 440 * t) * 10000).astype(np.int16).reshape(1, -1), format="s16",
            layout="mono")
        frame.sample_rate, frame.pts = AUDIO_RATE, index * samples
        packets.extend(bytes(packet) for packet in encoder.encode(frame))
    return packets[:frames]


def test_silence_wakes_no_tap_thread_and_is_heard_after_the_audio_before_it():
    heard: dict[str, list[tuple[str, float, bool]]] = {}

    def listener(name: str):
        calls = heard.setdefault(name, [])

        def on_speech(speech: np.ndarray, media_time: float) -> None:
            calls.append((threading.current_thread().name, media_time, bool(speech.any())))
            time.sleep(0.015)  # slow: the audio is still queued at the first silence report

        return on_speech

    taps = {name: AudioTap(name) for name in ("speaker", "quiet")}
    try:
        for name, tap in taps.items():
            tap.add_speech_observer(listener(name))
        # One microphone speaks for 0.4 s, then is silent; the other is silent throughout.
        for index, payload in enumerate(opus_tone(20)):
            taps["speaker"].feed(payload, index * 0.02)
        for step in range(30):
            for tap in taps.values():
                tap.feed_silence(0.4 + step * 0.02)
        last = 0.4 + 29 * 0.02
        time.sleep(1.0)
        speaker = heard["speaker"]
        audio = [call for call in speaker if call[2]]
        assert len(audio) >= 15 and {thread for thread, _, _ in audio} == {"audio-tap-speaker"}
        assert [t for _, t, _ in speaker] == sorted(t for _, t, _ in speaker)
        # The silence up to the last packet, once, from the one silence thread.
        assert speaker[-1] == ("audio-silence", last, False)
        assert heard["quiet"] == [("audio-silence", last, False)]
    finally:
        for tap in taps.values():
            tap.close()
