"""A load client for Janus's VideoRoom plugin over the Janus HTTP API (janus.transport.http).

Each client is one Janus session with up to two handles: a publisher (aiortc offers, Janus
answers) and a multistream subscriber (Janus offers the streams asked for, aiortc answers).
Asynchronous plugin events come back through the session's long poll (GET /janus/<session>),
matched to requests by transaction. Received packets are counted with the same receiver tap as
client.rtc_client.RtcClient, without aiortc processing them (the cheapest receiver).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass
from typing import Any, Optional

import aiohttp
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from client.rtc_client import SRTP_OVERHEAD_BYTES, PacketObserver, RemoteTrack, prepare_load_receiver
from media.aiortc import tap_receiver
from media.participant import close_peer_connections

logger = logging.getLogger(__name__)

VIDEOROOM = "janus.plugin.videoroom"
SOURCE_OF_KIND = {"video": "camera", "audio": "microphone"}


class JanusError(RuntimeError):
    pass


@dataclass(frozen=True)
class Stream:
    """One published stream: the publisher's feed id and the stream's mid in its offer."""

    feed: int
    mid: str
    identity: str
    kind: str


class JanusSession:
    """A Janus API session: requests by POST, events by long poll."""

    _transactions = itertools.count(1)

    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.id: Optional[int] = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._poller: Optional[asyncio.Task[None]] = None
        self.events: list[dict[str, Any]] = []  # events no request waited for (webrtcup, media…)

    async def create(self) -> None:
        reply = await self._post(self.base_url, {"janus": "create"})
        self.id = int(reply["data"]["id"])
        self._poller = asyncio.ensure_future(self._poll())

    @property
    def url(self) -> str:
        assert self.id is not None
        return f"{self.base_url}/{self.id}"

    async def _post(self, url: str, body: dict[str, Any],
                    timeout: Optional[aiohttp.ClientTimeout] = None) -> dict[str, Any]:
        body = {**body, "transaction": body.get("transaction") or self._transaction()}
        extra = {"timeout": timeout} if timeout is not None else {}
        async with self.http.post(url, json=body, **extra) as response:
            reply: dict[str, Any] = await response.json(content_type=None)
        if reply.get("janus") == "error":
            raise JanusError(f"{body['janus']}: {reply.get('error')}")
        return reply

    @staticmethod
    def _transaction() -> str:
        return f"t{next(JanusSession._transactions)}"

    async def attach(self, plugin: str = VIDEOROOM) -> int:
        reply = await self._post(self.url, {"janus": "attach", "plugin": plugin})
        return int(reply["data"]["id"])

    async def keepalive(self, timeout_s: float = 5.0) -> None:
        """A round trip through Janus's core (answered `ack` at once); asyncio.TimeoutError
        after `timeout_s`."""
        await self._post(self.url, {"janus": "keepalive"}, aiohttp.ClientTimeout(total=timeout_s))

    async def message(self, handle: int, body: dict[str, Any],
                      jsep: Optional[dict[str, str]] = None,
                      timeout: float = 30.0) -> dict[str, Any]:
        """A plugin request; returns its reply (synchronous) or its event (asynchronous)."""
        transaction = self._transaction()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[transaction] = future
        request: dict[str, Any] = {"janus": "message", "body": body, "transaction": transaction}
        if jsep is not None:
            request["jsep"] = jsep
        try:
            reply = await self._post(f"{self.url}/{handle}", request)
            if reply.get("janus") != "ack":
                event = reply
            else:
                event = await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(transaction, None)
        data = event.get("plugindata", {}).get("data", {})
        if "error" in data:
            raise JanusError(f"{body.get('request')}: {data['error']} ({data.get('error_code')})")
        return event

    async def _poll(self) -> None:
        while True:
            try:
                async with self.http.get(self.url, params={"maxev": "10"},
                                         timeout=aiohttp.ClientTimeout(total=70)) as response:
                    reply = await response.json(content_type=None)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                logger.warning("janus long poll failed: %s", exc)
                await asyncio.sleep(0.5)
                continue
            for event in reply if isinstance(reply, list) else [reply]:
                future = self._pending.get(event.get("transaction", ""))
                if future is not None and not future.done() and event.get("janus") == "event":
                    future.set_result(event)
                elif event.get("janus") not in ("keepalive", "ack"):
                    self.events.append(event)

    async def destroy(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        if self.id is not None:
            try:
                await self._post(self.url, {"janus": "destroy"})
            except (aiohttp.ClientError, JanusError):
                pass


class JanusClient:
    """One participant: publishes `tracks` as feed `feed`, subscribes later to chosen streams.

    Shaped like RtcClient for the benchmark (identity, publisher_pc, subscriber_pc,
    remote_tracks with per-track packet counts).
    """

    def __init__(self, session: JanusSession, room: int, identity: str, feed: int,
                 on_packet: Optional[PacketObserver] = None, process_rtp: bool = False,
                 authenticate_every: int = 1) -> None:
        self.session = session
        self.room = room
        self.identity: Optional[str] = identity
        self.feed = feed
        self.on_packet = on_packet
        # False: received packets are only counted; True: aiortc processes them too.
        self.process_rtp = process_rtp
        # Only every n-th received packet authenticated and observed (see ClientOptions).
        self.authenticate_every = authenticate_every
        configuration = RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        self.publisher_pc = RTCPeerConnection(configuration)
        self.subscriber_pc = RTCPeerConnection(configuration)
        self.remote_tracks: dict[str, RemoteTrack] = {}
        self.published: list[Stream] = []

    async def publish(self, tracks: dict[str, MediaStreamTrack],
                      connect_timeout_s: float = 30.0) -> list[Stream]:
        """Join the room as a publisher and send `tracks` (source → track); returns once the
        connection is up (Janus offers a feed to subscribers only then)."""
        if not tracks:
            return []
        handle = await self.session.attach()
        await self.session.message(handle, {"request": "join", "ptype": "publisher",
                                            "room": self.room, "id": self.feed,
                                            "display": self.identity})
        transceivers: list[RTCRtpTransceiver] = [
            self.publisher_pc.addTransceiver(track, direction="sendonly")
            for track in tracks.values()]
        await self.publisher_pc.setLocalDescription(await self.publisher_pc.createOffer())
        offer = self.publisher_pc.localDescription
        event = await self.session.message(handle, {"request": "publish"},
                                           {"type": offer.type, "sdp": offer.sdp})
        jsep = event["jsep"]
        await self.publisher_pc.setRemoteDescription(RTCSessionDescription(jsep["sdp"], jsep["type"]))
        deadline = asyncio.get_running_loop().time() + connect_timeout_s
        while self.publisher_pc.connectionState != "connected":
            if asyncio.get_running_loop().time() > deadline:
                raise JanusError(f"{self.identity}: publisher connection "
                                 f"{self.publisher_pc.connectionState} after {connect_timeout_s} s")
            await asyncio.sleep(0.05)
        assert self.identity is not None
        self.published = [Stream(self.feed, str(t.mid), self.identity, t.kind) for t in transceivers]
        return self.published

    async def subscribe(self, streams: list[Stream]) -> None:
        """One subscriber handle (one peer connection) receiving all `streams`."""
        if not streams:
            return
        handle = await self.session.attach()
        event = await self.session.message(handle, {
            "request": "join", "ptype": "subscriber", "room": self.room,
            "streams": [{"feed": s.feed, "mid": s.mid} for s in streams]})
        by_feed_mid = {(s.feed, s.mid): s for s in streams}
        for offered in event["plugindata"]["data"]["streams"]:
            stream = by_feed_mid.get((offered.get("feed_id"), offered.get("feed_mid")))
            if stream is None or not offered.get("active", True):
                continue
            mid = str(offered["mid"])
            self.remote_tracks[mid] = RemoteTrack(
                identity=stream.identity, source=SOURCE_OF_KIND[stream.kind], kind=stream.kind,
                sid=f"{stream.feed}/{stream.mid}", mid=mid)
        jsep = event["jsep"]
        await self.subscriber_pc.setRemoteDescription(RTCSessionDescription(jsep["sdp"], jsep["type"]))
        for transceiver in self.subscriber_pc.getTransceivers():
            if transceiver.mid in self.remote_tracks:
                self._tap(transceiver)
        await self.subscriber_pc.setLocalDescription(await self.subscriber_pc.createAnswer())
        prepare_load_receiver(self.subscriber_pc)
        answer = self.subscriber_pc.localDescription
        await self.session.message(handle, {"request": "start"},
                                   {"type": answer.type, "sdp": answer.sdp})

    def _tap(self, transceiver: RTCRtpTransceiver) -> None:
        remote = self.remote_tracks[str(transceiver.mid)]
        on_packet = self.on_packet

        def count(packet: RtpPacket, codec: RTCRtpCodecParameters) -> None:
            remote.packets += 1
            remote.payload_bytes += len(packet.payload)
            if on_packet is not None:
                on_packet(remote, packet)

        def count_unauthenticated(size: int) -> None:
            remote.packets += 1
            remote.payload_bytes += size - SRTP_OVERHEAD_BYTES

        tap_receiver(transceiver.receiver, count, decode=False,
                     process=self.process_rtp,
                     authenticate_every=self.authenticate_every,
                     on_unauthenticated=count_unauthenticated)

    async def close(self) -> None:
        await close_peer_connections(self.publisher_pc, self.subscriber_pc)
        await self.session.destroy()
