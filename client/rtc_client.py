"""A Python participant: joins a room over the signaling socket with aiortc.

Used by tests, the load generator and bots (kiosk recorders, synthetic students). It speaks
exactly the protocol in docs/signaling.md, as the browser client does.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Optional

import aiohttp
from aiortc import (
    RTCBundlePolicy,
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from media.aiortc import size_receive_buffers, tap_receiver
from media.aiortc.datagrams import drain_receive_sockets
from media.participant import RECEIVE_BUFFER_BYTES, close_peer_connections

logger = logging.getLogger(__name__)

PacketObserver = Callable[["RemoteTrack", RtpPacket], None]


@dataclass
class RemoteTrack:
    """A track this client receives: whose, which source, and (when decoding) the track."""

    identity: str
    source: str
    kind: str
    sid: str
    mid: str
    track: Optional[MediaStreamTrack] = None
    packets: int = 0
    payload_bytes: int = 0


# A packet counted from its header only: its size less the RTP header, the SFU's header
# extensions and the SRTP tag (AES-GCM), roughly.
SRTP_OVERHEAD_BYTES = 12 + 12 + 16


@dataclass
class ClientOptions:
    # False: count received packets without decoding them (load clients).
    decode: bool = True
    # False: aiortc never processes received packets (no jitter buffer, receiver reports, NACKs
    # or REMB), they are only counted: the cheapest receiver, for load generation.
    process_rtp: bool = True
    # With process_rtp=False: authenticate, parse and observe only every n-th packet of a track,
    # count the others from their RTP header (SRTP leaves it in clear): load clients at scale.
    authenticate_every: int = 1
    on_packet: Optional[PacketObserver] = None
    # Publish video in this codec only (e.g. "video/H264"), as a browser that lacks VP8 would.
    video_codec: Optional[str] = None
    connect_timeout_s: float = 20.0
    # One of many clients sharing this process's event loop (a load generator): see
    # `prepare_load_receiver`.
    load_client: bool = False


def prepare_load_receiver(pc: RTCPeerConnection) -> None:
    """Make a subscriber connection of a load client keep up as a browser would, with fifty
    more in its process: its sockets get the server's receive buffers (the default ~200 KB
    holds ~50 video packets on loopback, a busy 100 ms for the loop) and are drained at each
    datagram (`media.aiortc.datagrams.drain_receive_sockets`)."""
    size_receive_buffers(pc, RECEIVE_BUFFER_BYTES)
    drain_receive_sockets(pc)


class SignalingError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


# A join follows at most this many `redirect`s (one is the rule: the node placing the room).
MAX_REDIRECTS = 3


def _redirect(frame: aiohttp.WSMessage) -> Optional[dict[str, Any]]:
    if frame.type != aiohttp.WSMsgType.TEXT:
        return None
    message = json.loads(frame.data)
    return message if isinstance(message, dict) and message.get("type") == "redirect" else None


async def _frames(first: aiohttp.WSMessage, ws: aiohttp.ClientWebSocketResponse) -> AsyncIterator[aiohttp.WSMessage]:
    """The frame already read while connecting, then the rest of the socket's."""
    if first.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
        return
    yield first
    async for frame in ws:
        yield frame


class RtcClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        publish: Optional[dict[str, MediaStreamTrack]] = None,
        options: Optional[ClientOptions] = None,
    ) -> None:
        self._url = base_url.replace("http", "ws", 1).rstrip("/") + "/api/rtc"
        self._token = token
        self._publish = publish or {}
        self.options = options or ClientOptions()
        self.identity: Optional[str] = None
        self.participants: dict[str, dict[str, Any]] = {}
        self.remote_tracks: dict[str, RemoteTrack] = {}  # by subscriber mid
        self.subscriber_offers = 0  # how many offers changed remote_tracks
        self.messages: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        configuration = RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        self.publisher_pc = RTCPeerConnection(configuration)
        self.subscriber_pc = RTCPeerConnection(configuration)
        self.published_sids: dict[str, str] = {}
        self._session: Optional[aiohttp.ClientSession] = None
        self._ws: Optional[aiohttp.ClientWebSocketResponse] = None
        self._reader: Optional[asyncio.Task[None]] = None
        self._joined: asyncio.Future[dict[str, Any]] = asyncio.get_event_loop().create_future()
        self._published: asyncio.Future[None] = asyncio.get_event_loop().create_future()
        self._waiters: list[tuple[Callable[[dict[str, Any]], bool], asyncio.Future[dict[str, Any]]]] = []
        self._tapped: set[int] = set()
        self.closed: asyncio.Future[Optional[int]] = asyncio.get_event_loop().create_future()
        self.redirects: list[dict[str, Any]] = []  # `redirect` messages followed while connecting

    # -- connecting ---------------------------------------------------------------------

    async def connect(self) -> dict[str, Any]:
        """Join, publish, and return the `joined` message; raises SignalingError if refused."""
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(f"{self._url}?token={self._token}")
        for _ in range(MAX_REDIRECTS):
            first = await self._ws.receive(timeout=self.options.connect_timeout_s)
            redirect = _redirect(first)
            if redirect is None:
                break
            # The room lives on another node of the fleet: the same token joins there.
            self.redirects.append(redirect)
            await self._ws.close()
            self._url = redirect["url"]
            self._ws = await self._session.ws_connect(f"{self._url}?token={self._token}")
        else:
            raise SignalingError("redirect_loop", f"redirected {MAX_REDIRECTS} times: {self.redirects}")
        self._reader = asyncio.ensure_future(self._read(first))
        joined = await asyncio.wait_for(asyncio.shield(self._joined),
                                        self.options.connect_timeout_s)
        self.identity = joined["participant"]["identity"]
        if self._publish:
            await self._send_publisher_offer()
            await asyncio.wait_for(asyncio.shield(self._published), self.options.connect_timeout_s)
        return joined

    async def _send_publisher_offer(self) -> None:
        transceivers: list[tuple[str, RTCRtpTransceiver]] = []
        for source, track in self._publish.items():
            transceiver = self.publisher_pc.addTransceiver(track, direction="sendonly")
            if track.kind == "video" and self.options.video_codec:
                wanted = self.options.video_codec.lower()
                transceiver.setCodecPreferences([
                    c for c in RTCRtpSender.getCapabilities("video").codecs
                    if c.mimeType.lower() in (wanted, "video/rtx")])
            transceivers.append((source, transceiver))
        await self.publisher_pc.setLocalDescription(await self.publisher_pc.createOffer())
        await self.send({
            "type": "offer", "target": "publisher", "sdp": self.publisher_pc.localDescription.sdp,
            "tracks": [{"mid": t.mid, "source": source} for source, t in transceivers],
        })

    async def send(self, message: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send_str(json.dumps(message))

    async def send_raw(self, data: str) -> None:
        assert self._ws is not None
        await self._ws.send_str(data)

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        """The first message (already received or yet to come) that matches."""
        for message in self.messages:
            if predicate(message):
                return message
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, future))
        return await asyncio.wait_for(future, timeout)

    async def wait_for_tracks(self, count: int, timeout: float = 15.0) -> list[RemoteTrack]:
        """Wait until `count` remote tracks have each delivered at least one packet."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            flowing = [t for t in self.remote_tracks.values() if t.packets > 0]
            if len(flowing) >= count:
                return flowing
            if asyncio.get_running_loop().time() > deadline:
                raise asyncio.TimeoutError(
                    f"{len(flowing)} of {count} remote tracks flowing: "
                    f"{[(t.identity, t.source, t.packets) for t in self.remote_tracks.values()]}")
            await asyncio.sleep(0.05)

    # -- messages -------------------------------------------------------------------------

    async def _read(self, first: aiohttp.WSMessage) -> None:
        assert self._ws is not None
        close_code: Optional[int] = None
        try:
            async for frame in _frames(first, self._ws):
                if frame.type != aiohttp.WSMsgType.TEXT:
                    continue
                message = json.loads(frame.data)
                self.messages.append(message)
                for predicate, future in list(self._waiters):
                    if not future.done() and predicate(message):
                        future.set_result(message)
                        self._waiters.remove((predicate, future))
                try:
                    await self._on_message(message)
                except Exception:
                    logger.exception("client failed on %s", message.get("type"))
        finally:
            close_code = self._ws.close_code
            pending = [self._joined] + ([self._published] if self._publish else [])
            for future in pending:
                if not future.done():
                    error = self.errors[-1] if self.errors else {"code": "closed", "message": "socket closed"}
                    future.set_exception(SignalingError(error["code"], error["message"]))
            if not self.closed.done():
                self.closed.set_result(close_code)

    async def _on_message(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "joined":
            for participant in message["participants"]:
                self.participants[participant["identity"]] = participant
            self._joined.set_result(message)
        elif kind == "answer" and message["target"] == "publisher":
            await self.publisher_pc.setRemoteDescription(
                RTCSessionDescription(message["sdp"], "answer"))
            self.published_sids = {t["source"]: t["sid"] for t in message["tracks"]}
            if not self._published.done():
                self._published.set_result(None)
        elif kind == "offer" and message["target"] == "subscriber":
            await self._answer_subscriber(message)
        elif kind == "participant_joined":
            self.participants[message["participant"]["identity"]] = message["participant"]
        elif kind == "participant_left":
            self.participants.pop(message["identity"], None)
        elif kind == "error":
            self.errors.append(message)
            if message.get("ref_type") == "offer" and not self._published.done():
                self._published.set_exception(SignalingError(message["code"], message["message"]))

    async def _answer_subscriber(self, message: dict[str, Any]) -> None:
        offered = {track["mid"] for track in message["tracks"]}
        for mid in set(self.remote_tracks) - offered:
            del self.remote_tracks[mid]
        for track in message["tracks"]:
            existing = self.remote_tracks.get(track["mid"])
            if existing is None or existing.sid != track["sid"]:
                self.remote_tracks[track["mid"]] = RemoteTrack(
                    identity=track["identity"], source=track["source"], kind=track["kind"],
                    sid=track["sid"], mid=track["mid"])
        self.subscriber_offers += 1
        await self.subscriber_pc.setRemoteDescription(RTCSessionDescription(message["sdp"], "offer"))
        for transceiver in self.subscriber_pc.getTransceivers():
            receiver = transceiver.receiver
            if id(receiver) not in self._tapped and transceiver.mid in self.remote_tracks:
                self._tapped.add(id(receiver))
                self._tap(transceiver)
        await self.subscriber_pc.setLocalDescription(await self.subscriber_pc.createAnswer())
        if self.options.load_client:
            prepare_load_receiver(self.subscriber_pc)
        await self.send({"type": "answer", "target": "subscriber",
                         "sdp": self.subscriber_pc.localDescription.sdp})

    def _tap(self, transceiver: RTCRtpTransceiver) -> None:
        mid = transceiver.mid
        assert mid is not None
        remote = self.remote_tracks[mid]
        remote.track = transceiver.receiver.track if self.options.decode else None

        def on_packet(packet: RtpPacket, codec: RTCRtpCodecParameters) -> None:
            current = self.remote_tracks.get(mid)
            if current is None:
                return
            current.packets += 1
            current.payload_bytes += len(packet.payload)
            if self.options.on_packet is not None:
                self.options.on_packet(current, packet)

        def on_unauthenticated(size: int) -> None:
            current = self.remote_tracks.get(mid)
            if current is not None:
                current.packets += 1
                current.payload_bytes += size - SRTP_OVERHEAD_BYTES

        tap_receiver(transceiver.receiver, on_packet, decode=self.options.decode,
                     process=self.options.process_rtp,
                     authenticate_every=self.options.authenticate_every,
                     on_unauthenticated=on_unauthenticated)

    def track_from(self, identity: str, source: str) -> Optional[RemoteTrack]:
        for track in self.remote_tracks.values():
            if track.identity == identity and track.source == source:
                return track
        return None

    # -- leaving --------------------------------------------------------------------------

    async def close(self, leave: bool = True) -> None:
        if self._ws is not None and not self._ws.closed:
            if leave:
                try:
                    await self.send({"type": "leave"})
                except ConnectionError:
                    pass
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        await close_peer_connections(self.publisher_pc, self.subscriber_pc)
        if self._session is not None:
            await self._session.close()

