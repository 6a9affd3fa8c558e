"""Participant: one connection of a person, with a publisher and a subscriber PeerConnection."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any, Callable, Optional

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
)
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from aiortc.sdp import candidate_from_sdp

from events.event import iso

from .aiortc import datagrams_heard as datagrams_heard_on
from .aiortc import dtls_transports, set_remote_description, size_receive_buffers
from .connectivity import Connectivity
from .lifecycle import cancel_and_wait
from .exceptions import MediaError, NegotiationError, NotFound, PermissionDenied
from .ice_policy import IcePolicy
from .permissions import Permissions, Role, Source
from .publication import Publication
from .sdp import APPLY_ERRORS, PARSE_ERRORS, check_session_description
from .sdp_turns import ROUTINE, URGENT, SdpTurns
from .sender_slot import SenderSlot
from .subscription import Subscription

logger = logging.getLogger(__name__)

Signal = Callable[[dict[str, Any]], None]

# Batch subscriptions that arrive together (a class joining at once) into one offer.
NEGOTIATION_DEBOUNCE_S = 0.05
ANSWER_TIMEOUT_S = 15.0
# ~2 s of a 720p publisher at 1.5 Mbps; the kernel caps it at net.core.rmem_max.
RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024


class Participant:
    def __init__(
        self,
        identity: str,
        name: str,
        role: Role,
        permissions: Permissions,
        signal: Signal,
        ice_policy: IcePolicy,
        sdp_turns: SdpTurns,
        on_publication: Callable[["Participant", Publication], None],
        on_unpublication: Callable[["Participant", Publication], None],
        on_close: Callable[["Participant"], None],
    ) -> None:
        self.sid = "PA_" + secrets.token_hex(6)
        self.identity = identity
        self.name = name
        self.role = role
        self.permissions = permissions
        self.joined_at = time.time()
        self.signal = signal
        self.closed = False
        self._closed_event = asyncio.Event()
        self.connectivity = Connectivity()
        self.publications: dict[str, Publication] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self._ice_policy = ice_policy
        self._sdp_turns = sdp_turns
        self._on_publication = on_publication
        self._on_unpublication = on_unpublication
        self._on_close = on_close
        self._closing: Optional[asyncio.Task[None]] = None
        # max-bundle: aiortc's "balanced" policy can leave an m-line added before the first
        # answer on a transport that is never connected (it shares a not-yet-bundled one).
        configuration = RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        self.publisher_pc = RTCPeerConnection(configuration)
        self.subscriber_pc = RTCPeerConnection(configuration)
        self._publisher_lock = asyncio.Lock()
        self._slots: list[SenderSlot] = []
        self._negotiation_needed = False
        self._negotiation_task: Optional[asyncio.Task[None]] = None
        self._answer_received: Optional[asyncio.Future[None]] = None
        self._subscriber_offered = False
        self._subscriber_negotiated = asyncio.Event()

    def describe(self) -> dict[str, Any]:
        return {
            "identity": self.identity, "name": self.name, "role": self.role.value,
            "sid": self.sid, "joined_at": iso(self.joined_at),
            "connection": "lost" if self.connectivity.lost else "ok",
            "tracks": [p.describe() for p in self.publications.values()],
        }

    @property
    def connection_failed(self) -> bool:
        """aiortc gave up on one of its peer connections (ICE consent unanswered for 30 s, DTLS
        failed): nothing flows on it again, so the client has to join anew."""
        return not self.closed and any(pc.connectionState in ("failed", "closed")
                                       for pc in (self.publisher_pc, self.subscriber_pc))

    def connection_states(self) -> str:
        """Its peer connections' states, ICE's and DTLS's (a log line's detail)."""
        return "; ".join(
            f"{name} {pc.connectionState} (ICE {pc.iceConnectionState}, DTLS "
            f"{','.join(sorted({t.state for t in dtls_transports(pc)})) or '-'})"
            for name, pc in (("publisher", self.publisher_pc), ("subscriber", self.subscriber_pc)))

    def datagrams_heard(self) -> int:
        return datagrams_heard_on(self.publisher_pc) + datagrams_heard_on(self.subscriber_pc)

    def publication_for(self, source: Source) -> Optional[Publication]:
        for publication in self.publications.values():
            if publication.source is source:
                return publication
        return None

    # -- publishing (the client offers) -------------------------------------------------

    async def handle_publisher_offer(
        self, sdp: str, tracks: list[dict[str, str]]
    ) -> tuple[str, list[dict[str, str]]]:
        sources = self._check_track_sources(tracks)
        sdp = self._ice_policy.filter_sdp(sdp)
        description = check_session_description(sdp)
        mids = {media.rtp.muxId for media in description.media}
        missing = set(sources) - mids
        if missing:
            raise NegotiationError(f"tracks name mids not in the offer: {', '.join(sorted(missing))}")
        async with self._publisher_lock, self._sdp_turns.turn(URGENT):
            try:
                await set_remote_description(self.publisher_pc, sdp, "offer", description)
                answer = await self.publisher_pc.createAnswer()
                await self.publisher_pc.setLocalDescription(answer)
                size_receive_buffers(self.publisher_pc, RECEIVE_BUFFER_BYTES)
            except APPLY_ERRORS as exc:
                raise NegotiationError(f"could not apply the offer: {exc}") from exc
            self._update_publications(sources)
        described = [{"mid": p.mid, "sid": p.sid, "source": p.source.value}
                     for p in self.publications.values()]
        return self.publisher_pc.localDescription.sdp, described

    def _check_track_sources(self, tracks: list[dict[str, str]]) -> dict[str, Source]:
        sources: dict[str, Source] = {}
        for track in tracks:
            try:
                mid, source = str(track["mid"]), Source(track["source"])
            except (KeyError, ValueError, TypeError) as exc:
                raise MediaError("each track needs a mid and a source "
                                 "(microphone, camera or screen)") from exc
            if not self.permissions.may_publish(source):
                raise PermissionDenied(f"this token may not publish {source.value}")
            sources[mid] = source
        if len(set(sources.values())) != len(sources):
            raise MediaError("each source may be published once")
        return sources

    def _update_publications(self, sources: dict[str, Source]) -> None:
        by_mid = {p.mid: p for p in self.publications.values()}
        for transceiver in self.publisher_pc.getTransceivers():
            mid = transceiver.mid
            if mid is None:
                continue
            source = sources.get(mid)
            current = by_mid.get(mid)
            active = (source is not None and transceiver.direction in ("recvonly", "sendrecv")
                      and transceiver._codecs)
            if current is not None and (not active or current.source is not source):
                current.close()
                current = None
            if active and current is None and source is not None:
                if source.kind != transceiver.kind:
                    raise MediaError(f"mid {mid} is {transceiver.kind}, not {source.value}")
                publication = Publication(self.identity, source, mid, transceiver.receiver,
                                          transceiver._codecs[0], self._publication_closed)
                self.publications[publication.sid] = publication
                self._on_publication(self, publication)

    def _publication_closed(self, publication: Publication) -> None:
        self.publications.pop(publication.sid, None)
        self._on_unpublication(self, publication)

    def set_muted(self, source: Source, muted: bool) -> Publication:
        publication = self.publication_for(source)
        if publication is None:
            raise MediaError(f"nothing published from {source.value}")
        publication.set_muted(by_self=muted)
        if not muted:
            publication.set_muted(by_moderator=False)
        return publication

    # -- subscribing (the server offers) ------------------------------------------------

    def subscribe(self, publication: Publication) -> None:
        if self.closed or publication.sid in self.subscriptions:
            return
        mime_type = publication.codec.mimeType
        slot = next((s for s in self._slots if s.fits(publication.kind, mime_type)), None)
        if slot is None:
            transceiver = self.subscriber_pc.addTransceiver(publication.kind, direction="sendonly")
            transceiver.setCodecPreferences(_codec_preferences(publication))
            slot = SenderSlot(transceiver, publication.kind, mime_type)
            self._slots.append(slot)
        subscription = Subscription(publication, self.identity, slot, self._subscription_closed)
        publication.add_subscription(subscription)
        self.subscriptions[publication.sid] = subscription
        self._request_negotiation()

    def set_subscriptions_enabled(self, sids: list[str], enabled: bool) -> None:
        unknown = [sid for sid in sids if sid not in self.subscriptions]
        if unknown:
            raise NotFound(f"not subscribed to {', '.join(unknown[:5])}")
        for sid in sids:
            self.subscriptions[sid].set_enabled(enabled)

    def _subscription_closed(self, subscription: Subscription) -> None:
        """Its m-line goes inactive, ready for the next publication of its kind and codec."""
        self.subscriptions.pop(subscription.publication.sid, None)
        if not self.closed:
            self._request_negotiation()

    def _request_negotiation(self) -> None:
        self._negotiation_needed = True
        if self._negotiation_task is None or self._negotiation_task.done():
            self._negotiation_task = asyncio.ensure_future(self._negotiate())

    async def _negotiate(self) -> None:
        try:
            while self._negotiation_needed and not self.closed:
                # A join makes all its subscriptions at once: its first offer need not wait.
                first = not self._subscriber_offered
                await asyncio.sleep(0 if first else NEGOTIATION_DEBOUNCE_S)
                self._negotiation_needed = False
                if not self._slots or self.connection_failed:
                    continue
                async with self._sdp_turns.turn(URGENT if first else ROUTINE):
                    await self.subscriber_pc.setLocalDescription(await self.subscriber_pc.createOffer())
                    # aiortc writes the SDP text anew on each read of localDescription (~5 ms at 60 m-lines).
                    sdp = self.subscriber_pc.localDescription.sdp
                self._subscriber_offered = True
                self._answer_received = asyncio.get_running_loop().create_future()
                self.signal({
                    "type": "offer", "target": "subscriber", "sdp": sdp,
                    "tracks": [s.describe() for s in self.subscriptions.values()],
                })
                try:
                    await asyncio.wait_for(self._answer_received, ANSWER_TIMEOUT_S)
                except asyncio.TimeoutError:
                    logger.warning("%s did not answer the subscriber offer", self.identity)
                    self._negotiation_needed = True
        except Exception:
            if not self.closed:
                logger.exception("subscriber negotiation failed for %s", self.identity)
        finally:
            self._answer_received = None

    async def handle_subscriber_answer(self, sdp: str) -> None:
        if self._answer_received is None or self.subscriber_pc.signalingState != "have-local-offer":
            raise NegotiationError("no subscriber offer is waiting for an answer")
        try:
            async with self._sdp_turns.turn(URGENT):
                sdp = self._ice_policy.filter_sdp(sdp)
                await set_remote_description(
                    self.subscriber_pc, sdp, "answer", check_session_description(sdp))
        except NegotiationError:
            self._negotiation_needed = True  # offer again rather than hang on a bad answer
            raise
        except APPLY_ERRORS as exc:
            self._negotiation_needed = True
            raise NegotiationError(f"could not apply the answer: {exc}") from exc
        else:
            self._subscriber_negotiated.set()
        finally:
            if self._answer_received is not None and not self._answer_received.done():
                self._answer_received.set_result(None)


    # -- ICE ------------------------------------------------------------------------------

    async def add_ice_candidate(self, target: str, candidate: Optional[dict[str, Any]]) -> None:
        pc = self.publisher_pc if target == "publisher" else self.subscriber_pc
        if candidate is None or not candidate.get("candidate"):
            return
        line = str(candidate["candidate"])
        try:
            parsed = candidate_from_sdp(line.split(":", 1)[1] if line.startswith("candidate:") else line)
        except PARSE_ERRORS as exc:
            raise MediaError(f"malformed ICE candidate: {line[:100]!r}") from exc
        if not self._ice_policy.allows(parsed.ip):
            return
        parsed.sdpMid = candidate.get("sdpMid")
        parsed.sdpMLineIndex = candidate.get("sdpMLineIndex")
        if parsed.sdpMid is None and parsed.sdpMLineIndex is None:
            raise MediaError("an ICE candidate needs sdpMid or sdpMLineIndex")
        await pc.addIceCandidate(parsed)

    async def wait_closed(self) -> None:
        await self._closed_event.wait()

    async def wait_subscriber_negotiated(self, timeout: float) -> None:
        """Until an answer to a subscriber offer has been applied, it closes, or `timeout` passes."""
        waits = [asyncio.ensure_future(self._subscriber_negotiated.wait()),
                 asyncio.ensure_future(self._closed_event.wait())]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(*waits)

    async def close(self) -> None:
        """End its negotiation, close its publications, subscriptions and peer connections,
        then tell its room. Idempotent: every call waits for the one close (a caller cancelled
        meanwhile stops waiting, the close goes on); `closed` is set at once."""
        if self._closing is None:
            self.closed = True
            self._closed_event.set()
            self._closing = asyncio.ensure_future(self._close())
        if asyncio.current_task() in (self._negotiation_task, self._closing):
            return  # the close ends (or is) this task: it cannot wait for the close
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        try:
            await cancel_and_wait(self._negotiation_task)
            for publication in list(self.publications.values()):
                publication.close()
            for subscription in list(self.subscriptions.values()):
                subscription.close()
            await close_peer_connections(self.publisher_pc, self.subscriber_pc)
        finally:
            self._on_close(self)


def _codec_preferences(publication: Publication) -> list[RTCRtpCodecCapability]:
    """Offer the subscriber exactly the publisher's codec (and its RTX), so bytes pass as-is."""
    codec = publication.codec
    capabilities = RTCRtpSender.getCapabilities(publication.kind).codecs
    chosen = [c for c in capabilities if c.mimeType.lower() == codec.mimeType.lower()]
    if codec.mimeType.lower() == "video/h264":
        wanted = (codec.parameters.get("packetization-mode"),
                  str(codec.parameters.get("profile-level-id", ""))[:2])
        chosen = [c for c in chosen if (c.parameters.get("packetization-mode"),
                                         str(c.parameters.get("profile-level-id", ""))[:2]) == wanted] or chosen[:1]
    chosen = chosen[:1]
    rtx = [c for c in capabilities if c.mimeType.lower().endswith("/rtx")]
    return chosen + rtx if publication.kind == "video" else chosen


# aiortc's RTCRtpSender.stop() waits for its RTP task to have started; a task cancelled before
# its first step (a shutdown cancelling everything at once) never does. Closing is bounded, but
# never cancelled halfway: aiortc stops transceivers one at a time (~66 on a subscriber connection
# at 1 + 30), and a close cut short leaves the rest's RTP/RTCP tasks and the ICE socket running
# for good (the soak benchmark's task leak). Past the bound it finishes in the background.
PC_CLOSE_TIMEOUT_S = 5.0
_closing_in_background: set["asyncio.Task[None]"] = set()


async def close_peer_connections(*connections: RTCPeerConnection) -> None:
    closing = asyncio.ensure_future(_close_each(connections))
    try:
        await asyncio.wait_for(asyncio.shield(closing), PC_CLOSE_TIMEOUT_S)
    except asyncio.TimeoutError:
        logger.warning("peer connections did not close within %s s; still closing", PC_CLOSE_TIMEOUT_S)
        _closing_in_background.add(closing)
        closing.add_done_callback(_closing_in_background.discard)


async def _close_each(connections: tuple[RTCPeerConnection, ...]) -> None:
    results = await asyncio.gather(*(pc.close() for pc in connections), return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            logger.warning("a peer connection failed to close: %r", result)
