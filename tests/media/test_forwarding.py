"""Real aiortc peers in one room through the SFU on loopback."""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict

import numpy as np
import pytest
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtp import RtpPacket, is_rtcp

from media import Source
from media.aiortc.dtls_send import link_of
from client import ClientOptions, RemoteTrack, RtcClient
from tests.synthetic import AUDIO_RATE, ColourTrack, ToneTrack, dominant_frequency

RED, BLUE = (220, 30, 30), (30, 30, 220)


def is_subsequence(items: list[bytes], sequence: list[bytes]) -> bool:
    remaining = iter(sequence)
    return all(any(item == candidate for candidate in remaining) for item in items)


async def join(server, session_id: str, identity: str, publish=None, role: str = "student",
               options: ClientOptions | None = None) -> RtcClient:
    token = await server.token(session_id, identity, role=role)
    client = RtcClient(server.base_url, token["token"], publish, options)
    await client.connect()
    return client


async def test_each_participant_receives_the_others_video_and_audio(aula_server):
    session = await aula_server.create_session()
    alice = await join(aula_server, session["id"], "alice", role="instructor",
                       publish={"microphone": ToneTrack(440), "camera": ColourTrack(RED)})
    bob = await join(aula_server, session["id"], "bob",
                     publish={"microphone": ToneTrack(880), "camera": ColourTrack(BLUE)})
    try:
        await alice.wait_for_tracks(2)
        await bob.wait_for_tracks(2)
        for receiver, sender, colour, tone in ((alice, "bob", BLUE, 880), (bob, "alice", RED, 440)):
            video = receiver.track_from(sender, "camera")
            audio = receiver.track_from(sender, "microphone")
            assert video is not None and audio is not None
            frame = await asyncio.wait_for(video.track.recv(), 10)
            for _ in range(5):  # let the decoder settle past the first frame
                frame = await asyncio.wait_for(video.track.recv(), 5)
            mean = frame.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0)
            assert np.allclose(mean, colour, atol=20), (sender, mean)
            pcm = []
            while sum(len(p) for p in pcm) < AUDIO_RATE // 2:
                audio_frame = await asyncio.wait_for(audio.track.recv(), 5)
                pcm.append(audio_frame.to_ndarray().reshape(-1, audio_frame.layout.nb_channels
                                                            if len(audio_frame.layout.channels) else 1)[:, 0])
            samples = np.concatenate(pcm)[-AUDIO_RATE // 4:].astype(float)
            assert abs(dominant_frequency(samples, audio_frame.sample_rate) - tone) < 20
    finally:
        await alice.close()
        await bob.close()


async def test_subscribers_receive_the_publishers_payload_bytes_unchanged(aula_server, monkeypatch):
    sent: dict[int, list[bytes]] = defaultdict(list)
    original_send_rtp = RTCDtlsTransport._send_rtp

    async def recording_send_rtp(self, data: bytes) -> None:
        if not is_rtcp(data):
            packet = RtpPacket.parse(data)
            sent[packet.ssrc].append(packet.payload)
        await original_send_rtp(self, data)

    monkeypatch.setattr(RTCDtlsTransport, "_send_rtp", recording_send_rtp)
    received: dict[str, list[bytes]] = defaultdict(list)

    def on_packet(track: RemoteTrack, packet: RtpPacket) -> None:
        received[track.source].append(packet.payload)

    session = await aula_server.create_session()
    publisher = await join(aula_server, session["id"], "teacher", role="instructor",
                           publish={"microphone": ToneTrack(440), "camera": ColourTrack(RED)})
    subscriber = await join(aula_server, session["id"], "student",
                            options=ClientOptions(decode=False, on_packet=on_packet))
    try:
        await subscriber.wait_for_tracks(2)
        await asyncio.sleep(2)
        ssrc_of = {t.sender.track.kind: t.sender._ssrc
                   for t in publisher.publisher_pc.getTransceivers()}
        for source, kind in (("camera", "video"), ("microphone", "audio")):
            published = sent[ssrc_of[kind]]
            forwarded = received[source]
            assert len(forwarded) > 40, (source, len(forwarded))
            # Every payload the subscriber got is byte-for-byte one the publisher sent, in order.
            assert is_subsequence(forwarded, published), source
        # The server decoded no video: its publisher-side receiver has no decoder thread.
        room = aula_server.sfu.rooms[session["id"]]
        camera = room.participants["teacher"].publication_for(Source.CAMERA)
        assert camera.receiver._RTCRtpReceiver__decoder_thread is None
        stats = aula_server.sfu.stats()
        assert stats["packets_forwarded"] >= len(received["camera"]) + len(received["microphone"])
        assert 0 <= stats["send_queue_backlog"] < stats["packets_forwarded"]
        # It sleeps between the bursts of a track or two, so the loop has woken it.
        assert stats["send_thread_wakeups"] > 0
    finally:
        await publisher.close()
        await subscriber.close()


def descriptors_of(inode: int) -> list[int]:
    """This process's open descriptors of one socket."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.fstat(int(name)).st_ino == inode:
                found.append(int(name))
        except OSError:
            pass  # the listing's own descriptor, closed by now
    return found


async def test_a_departed_subscribers_socket_is_let_go_with_its_connection(aula_server):
    """The packet sender holds a duplicate of each subscriber connection's socket: it is closed
    when the connection closes (and its queued packets are out), not when the GC gets to it."""
    session = await aula_server.create_session()
    publisher = await join(aula_server, session["id"], "teacher", role="instructor",
                           publish={"camera": ColourTrack(RED)})
    subscriber = await join(aula_server, session["id"], "student", options=ClientOptions(decode=False))
    try:
        await subscriber.wait_for_tracks(1)
        room = aula_server.sfu.rooms[session["id"]]
        dtls = room.participants["student"].subscriber_pc.getTransceivers()[0].sender.transport
        socket_inode = os.fstat(link_of(dtls).destination.fd).st_ino
        assert len(descriptors_of(socket_inode)) == 2  # the connection's and the sender's
        await subscriber.close()
        for _ in range(100):  # no one else is sent anything: nothing but the close lets it go
            if "student" not in room.participants and not descriptors_of(socket_inode):
                break
            await asyncio.sleep(0.05)
        assert link_of(dtls).destination is None
        assert descriptors_of(socket_inode) == []
    finally:
        await publisher.close()
        await subscriber.close()


async def test_tracks_negotiated_while_the_first_handshake_runs_still_flow(aula_server):
    """aiortc starts a sender only if DTLS is already up when it looks; the SFU starts the rest."""
    session = await aula_server.create_session()
    watcher = await join(aula_server, session["id"], "watcher", options=ClientOptions(decode=False))
    tokens = [await aula_server.token(session["id"], name) for name in ("first", "second")]
    publishers = [RtcClient(aula_server.base_url, token["token"],
                            {"microphone": ToneTrack(440), "camera": ColourTrack(RED)},
                            ClientOptions(decode=False)) for token in tokens]
    try:
        # Both publish at once: the watcher's second offer lands during its first handshake.
        await asyncio.gather(*(publisher.connect() for publisher in publishers))
        flowing = await watcher.wait_for_tracks(4)
        assert {(t.identity, t.source) for t in flowing} == {
            ("first", "microphone"), ("first", "camera"), ("second", "microphone"), ("second", "camera")}
    finally:
        for client in (watcher, *publishers):
            await client.close()


async def test_a_freed_m_line_is_reused_for_the_next_publication(aula_server):
    session = await aula_server.create_session()
    watcher = await join(aula_server, session["id"], "watcher", options=ClientOptions(decode=False))
    first = await join(aula_server, session["id"], "first", publish={"camera": ColourTrack(RED)},
                       options=ClientOptions(decode=False))
    try:
        (before,) = await watcher.wait_for_tracks(1)
        await first.close()
        second = await join(aula_server, session["id"], "second", publish={"camera": ColourTrack(BLUE)},
                            options=ClientOptions(decode=False))
        deadline = asyncio.get_running_loop().time() + 10
        while (watcher.track_from("second", "camera") is None
               or watcher.track_from("second", "camera").packets == 0):
            assert asyncio.get_running_loop().time() < deadline, watcher.remote_tracks
            await asyncio.sleep(0.05)
        reused = watcher.track_from("second", "camera")
        assert reused.mid == before.mid  # same m-line, no new one
        assert len(watcher.subscriber_pc.getTransceivers()) == 1
        await second.close()
    finally:
        await watcher.close()


async def test_h264_from_a_publisher_reaches_subscribers_as_h264(aula_server, monkeypatch):
    received: list[tuple[int, bytes]] = []

    def on_packet(track: RemoteTrack, packet: RtpPacket) -> None:
        received.append((packet.payload_type, packet.payload))

    session = await aula_server.create_session()
    publisher = await join(aula_server, session["id"], "teacher", role="instructor",
                           publish={"camera": ColourTrack(RED)},
                           options=ClientOptions(decode=False, video_codec="video/H264"))
    subscriber = await join(aula_server, session["id"], "student",
                            options=ClientOptions(decode=False, on_packet=on_packet))
    try:
        await subscriber.wait_for_tracks(1)
        await asyncio.sleep(0.5)
        room = aula_server.sfu.rooms[session["id"]]
        camera = room.participants["teacher"].publication_for(Source.CAMERA)
        assert camera.codec.mimeType.lower() == "video/h264"
        (transceiver,) = subscriber.subscriber_pc.getTransceivers()
        negotiated = {c.payloadType: c.mimeType.lower() for c in transceiver._codecs}
        assert {negotiated[payload_type] for payload_type, _ in received} == {"video/h264"}
        from media.keyframes import starts_h264_keyframe
        assert starts_h264_keyframe(received[0][1])
    finally:
        await publisher.close()
        await subscriber.close()


async def test_a_participant_with_a_dead_connection_does_not_block_later_joins(aula_server):
    session = await aula_server.create_session()
    watcher = await join(aula_server, session["id"], "watcher", options=ClientOptions(decode=False))
    broken = await join(aula_server, session["id"], "broken", options=ClientOptions(decode=False))
    room = aula_server.sfu.rooms[session["id"]]
    # Its connection dies under the server (as when ICE fails under overload).
    await room.participants["broken"].subscriber_pc.close()
    publisher = await join(aula_server, session["id"], "teacher", role="instructor",
                           publish={"camera": ColourTrack(RED)}, options=ClientOptions(decode=False))
    try:
        await watcher.wait_for_tracks(1)
        left = await watcher.wait_for(lambda m: m["type"] == "participant_left")
        assert left["identity"] == "broken" and left["reason"] == "disconnected"
    finally:
        for client in (watcher, broken, publisher):
            await client.close()


async def test_a_newcomer_is_offered_the_instructor_first_and_the_class_right_after(aula_server):
    """Its first negotiation does not grow with the class: the instructor's picture comes first."""
    session = await aula_server.create_session()
    media = {"microphone": ToneTrack(440), "camera": ColourTrack(RED)}
    teacher = await join(aula_server, session["id"], "rivera", media, role="instructor",
                         options=ClientOptions(decode=False))
    students = [await join(aula_server, session["id"], name, {"camera": ColourTrack(BLUE)},
                           options=ClientOptions(decode=False)) for name in ("kim", "lee")]
    await students[1].wait_for_tracks(3)  # everyone's tracks are published
    newcomer = await join(aula_server, session["id"], "sam", options=ClientOptions(decode=False))
    try:
        flowing = await newcomer.wait_for_tracks(4)
        assert {(t.identity, t.source) for t in flowing} == {
            ("rivera", "microphone"), ("rivera", "camera"), ("kim", "camera"), ("lee", "camera")}
        offers = [m for m in newcomer.messages if m["type"] == "offer" and m["target"] == "subscriber"]
        assert [{t["identity"] for t in offer["tracks"]} for offer in offers[:2]] == [
            {"rivera"}, {"rivera", "kim", "lee"}]
    finally:
        for client in (newcomer, teacher, *students):
            await client.close()
