"""Publication: one track a participant sends, fanned out to its subscriptions."""

from __future__ import annotations

import logging
import secrets
import time
from typing import TYPE_CHECKING, Callable, Optional

from aiortc import RTCRtpReceiver, clock
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from . import packet_sender
from engagement.speaking import SPEAKING_DBOV, TalkTimer

from ._packet_sender import Outlet
from .aiortc import request_keyframe, tap_receiver
from .audio_tap import AudioTap, SpeechObserver
from .keyframes import KeyframeRequester, keyframe_detector
from .packet_history import AudioLevel, PacketHistory
from .video_tap import FrameObserver, FrameWorker, VideoTap
from .permissions import Source

if TYPE_CHECKING:
    from recording.recorder import TrackRecorder
    from .subscription import Subscription

logger = logging.getLogger(__name__)

# RFC 6464 level (-dBov, 0 loudest .. 127 silence) reported while no packet carried one.
SILENCE_DBOV = 127
# Packets whose own level is quieter than this hold nothing a voice detector would find (muted
# microphones send 127): they are not decoded, the audio tap only notes that the silence goes
# on (most of a class's microphones, most of the time).
ANALYSE_ABOVE_DBOV = 60


class Publication:
    def __init__(
        self,
        owner: str,
        source: Source,
        mid: str,
        receiver: RTCRtpReceiver,
        codec: RTCRtpCodecParameters,
        on_close: Callable[["Publication"], None],
    ) -> None:
        self.sid = "TR_" + secrets.token_hex(6)
        self.owner = owner
        self.source = source
        self.kind = source.kind
        self.mid = mid
        self.codec = codec
        self.receiver = receiver
        self.self_muted = False
        self.moderator_muted = False
        self.closed = False
        # Audio only, set by the room's speaker selection each round: whether this microphone
        # is forwarded, and whether the round heard it speak at all.
        self.audible = True
        self.speaking = False
        self.subscriptions: dict[str, "Subscription"] = {}
        # The outlets of the enabled subscriptions, the only ones a packet is offered to;
        # rebuilt on change.
        self._receiving: tuple[Outlet, ...] = ()
        # Whether the last packet was forwarded: silence skips its subscriptions once, on the
        # way in, not on every packet.
        self._forwarding = False
        self.history = PacketHistory()
        self.packets_received = 0
        self.audio_level_dbov = SILENCE_DBOV
        self.audio_level_updated_at = 0.0
        self._media_ssrc: Optional[int] = None
        self._keyframe_wanted = False
        self._on_close = on_close
        self._is_keyframe_start = keyframe_detector(codec.mimeType)
        self.keyframes = KeyframeRequester(self._send_keyframe_request)
        # Decoded when something listens to the speech (transcription, voice activity), or
        # for the level when a packet comes without an RFC 6464 level (browsers send one).
        self.audio_tap: Optional[AudioTap] = None
        self.talk_timer = TalkTimer()
        # Cameras only, when someone watches them (engagement): an occasional decoded keyframe.
        self.video_tap: Optional[VideoTap] = None
        # While the class is recorded: this track's file writer.
        self.recorder: Optional["TrackRecorder"] = None
        self._first_timestamp: Optional[int] = None
        tap_receiver(receiver, self._on_packet, decode=False)

    @property
    def muted(self) -> bool:
        return self.self_muted or self.moderator_muted

    def describe(self) -> dict[str, object]:
        return {"sid": self.sid, "kind": self.kind, "source": self.source.value,
                "muted": self.muted}

    def is_keyframe_start(self, packet: RtpPacket) -> bool:
        return self._is_keyframe_start(packet.payload)

    def record(self, recorder: Optional["TrackRecorder"]) -> None:
        """Hand every packet to `recorder` from now on (None: stop)."""
        self.recorder = recorder

    def request_keyframe(self) -> None:
        if self.kind != "video":
            return
        if self._media_ssrc is None:
            self._keyframe_wanted = True  # asked for with the first packet, once its SSRC is known
        else:
            self.keyframes.request()

    def set_muted(self, *, by_self: Optional[bool] = None, by_moderator: Optional[bool] = None) -> None:
        was_muted = self.muted
        if by_self is not None:
            self.self_muted = by_self
        if by_moderator is not None:
            self.moderator_muted = by_moderator
        if was_muted and not self.muted:
            for subscription in self.subscriptions.values():
                subscription.restart()

    def add_subscription(self, subscription: "Subscription") -> None:
        self.subscriptions[subscription.subscriber] = subscription
        self.subscriptions_changed()

    def remove_subscription(self, subscriber: str) -> None:
        self.subscriptions.pop(subscriber, None)
        self.subscriptions_changed()

    def subscriptions_changed(self) -> None:
        self._receiving = tuple(s.slot.outlet for s in self.subscriptions.values() if s.enabled)

    def extension_value(self, level: Optional[AudioLevel], ntp_time: int) -> Optional[bytes]:
        """The per-packet header-extension value subscribers get: abs-send-time for video
        (the send time, `ntp_time`), the publisher's RFC 6464 audio level for audio."""
        if self.kind == "video":
            return ((ntp_time >> 14) & 0x00FFFFFF).to_bytes(3, "big")
        if level is None:
            return None
        return bytes([(0x80 if level[0] else 0) | level[1]])

    def _on_packet(self, packet: RtpPacket, codec: RTCRtpCodecParameters) -> None:
        self.packets_received += 1
        self._media_ssrc = packet.ssrc
        if self._keyframe_wanted:
            self._keyframe_wanted = False
            self.keyframes.request()
        level = packet.extensions.audio_level
        if self.kind == "audio":
            media_time = self._media_time(packet.timestamp)
            if level is not None:
                self.audio_level_dbov = level[1]
                self.audio_level_updated_at = time.monotonic()
                self.talk_timer.observe(level[1], media_time)
            elif self._tap().on_level is None:
                self._tap().on_level = self._set_decoded_level
            if self.audio_tap is not None:
                if level is None or level[1] <= ANALYSE_ABOVE_DBOV:
                    self.audio_tap.feed(packet.payload, media_time)
                else:
                    self.audio_tap.feed_silence(media_time)
        keyframe = self.kind == "video" and self.is_keyframe_start(packet)
        if keyframe and self.keyframes.awaiting_keyframe:
            self.keyframes.keyframe_received()
        self.history.add(packet)
        if self.video_tap is not None and not self.muted:
            self.video_tap.on_packet(packet)
        if self.recorder is not None and not self.muted:
            self.recorder.on_packet(packet)
        if self.muted or (self.kind == "audio" and not self._forwards_audio(level)):
            if self._forwarding:
                self._forwarding = False
                for outlet in self._receiving:
                    outlet.skip()
            return
        self._forwarding = True
        if not self._receiving:
            return
        ntp_time = clock.current_ntp_time()
        waiting = packet_sender.shared().fan_out(
            self._receiving, packet.marker, packet.sequence_number, packet.timestamp, packet.ssrc,
            packet.payload, self.extension_value(level, ntp_time), keyframe, ntp_time,
            time.monotonic())
        if waiting:
            # Some wait for a keyframe: ask again until it comes (a PLI can be lost); the
            # requester allows one a second.
            self.request_keyframe()

    def sample_video(self, interval_s: float, on_frame: FrameObserver, worker: FrameWorker) -> None:
        """Decode one keyframe every `interval_s` on `worker` and hand it (grayscale) to
        `on_frame`, which runs on the worker's thread."""
        if self.kind == "video" and self.video_tap is None:
            self.video_tap = VideoTap(self.codec, interval_s, self.request_keyframe,
                                      self.is_keyframe_start, on_frame, worker)

    def listen(self, on_speech: SpeechObserver) -> None:
        """Hand this microphone's audio, decoded once, as 16 kHz float mono to `on_speech`,
        which runs on the audio tap's thread, with the media time of each packet."""
        if self.kind == "audio":
            self._tap().add_speech_observer(on_speech)

    def _tap(self) -> AudioTap:
        if self.audio_tap is None:
            self.audio_tap = AudioTap(self.sid)
        return self.audio_tap

    def _media_time(self, timestamp: int) -> float:
        """Seconds on the publisher's RTP clock since its first packet (wraps after ~24 h)."""
        if self._first_timestamp is None:
            self._first_timestamp = timestamp
        return ((timestamp - self._first_timestamp) % (1 << 32)) / self.codec.clockRate

    def _set_decoded_level(self, level: int, media_time: float) -> None:
        """From the audio tap's thread: plain attribute writes, atomic under the GIL."""
        self.audio_level_dbov = level
        self.audio_level_updated_at = time.monotonic()
        self.talk_timer.observe(level, media_time)

    def _forwards_audio(self, level: Optional[tuple[bool, int]]) -> bool:
        # The onset of speech from someone the last round found silent passes at once; the next
        # round ranks it among the other speakers.
        return self.audible or (not self.speaking and level is not None
                                and level[1] <= SPEAKING_DBOV)

    def _send_keyframe_request(self) -> None:
        if self._media_ssrc is not None and not self.closed:
            request_keyframe(self.receiver, self._media_ssrc)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.keyframes.close()
        if self.audio_tap is not None:
            self.audio_tap.close()
        self.video_tap = None
        for subscription in list(self.subscriptions.values()):
            subscription.close()
        self._on_close(self)
