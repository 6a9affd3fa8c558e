"""Active-speaker detection from audio levels (RFC 6464 -dBov values, 0 loud .. 127 silent)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# -dBov at or below which a sample counts as voice (quiet speech sits around 40-50).
SPEAKING_DBOV = 50
# A speaker stays "speaking" this long after its last loud sample, so pauses between
# words do not make the indicator flicker.
HOLD_S = 0.6
# Exponential smoothing of the reported level per sample.
SMOOTHING = 0.5


def level_dbov(pcm: np.ndarray) -> int:
    """RFC 6465's level of 16-bit PCM as RFC 6464 carries it: -dBov, 0 (loudest) .. 127."""
    if pcm.size == 0:
        return 127
    rms = float(np.sqrt(np.mean(np.square(pcm.astype(np.float64))))) / 32767.0
    if rms <= 0.0:
        return 127
    return int(round(min(max(-20.0 * np.log10(rms), 0.0), 127.0)))


@dataclass
class _Speaker:
    level: float = 0.0
    last_loud_at: float = float("-inf")


class ActiveSpeakerDetector:
    def __init__(self, speaking_dbov: int = SPEAKING_DBOV, hold_s: float = HOLD_S) -> None:
        self._speaking_dbov = speaking_dbov
        self._hold_s = hold_s
        self._speakers: dict[str, _Speaker] = {}

    def observe(self, identity: str, dbov: int, now: float) -> None:
        speaker = self._speakers.setdefault(identity, _Speaker())
        amplitude = 10 ** (-min(max(dbov, 0), 127) / 20)
        speaker.level = SMOOTHING * speaker.level + (1 - SMOOTHING) * amplitude
        if dbov <= self._speaking_dbov:
            speaker.last_loud_at = now

    def forget(self, identity: str) -> None:
        self._speakers.pop(identity, None)

    def speakers(self, now: float) -> list[tuple[str, float]]:
        """Who is speaking now, loudest first, with a 0..1 level."""
        active = [(identity, round(s.level, 3)) for identity, s in self._speakers.items()
                  if now - s.last_loud_at <= self._hold_s]
        return sorted(active, key=lambda item: item[1], reverse=True)


# Quiet stretches shorter than this are pauses between words, not the end of a turn.
TURN_GAP_S = 0.4


class TalkTimer:
    """Talk time and turns of one microphone, on the media clock.

    Fed either per-packet levels (`observe`) or, better, a voice activity detector (`voice`):
    once `use_voice_activity` is called, levels are ignored. From levels, a turn runs from its
    first voiced packet to its last, and gaps shorter than TURN_GAP_S stay inside the turn; from
    the detector, a turn is one utterance. Calls may come from the event loop or a tap's thread.
    """

    def __init__(self, speaking_dbov: int = SPEAKING_DBOV, gap_s: float = TURN_GAP_S) -> None:
        self._speaking_dbov = speaking_dbov
        self._gap_s = gap_s
        self._closed_s = 0.0
        self._turn_start: float | None = None
        self._last_voiced = 0.0
        self._frame_s = 0.02
        self._voice_driven = False
        self.turns = 0

    def use_voice_activity(self) -> None:
        self._voice_driven = True

    def observe(self, dbov: int, media_time: float, frame_s: float = 0.02) -> None:
        if self._voice_driven or dbov > self._speaking_dbov:
            return
        self._frame_s = frame_s
        if self._turn_start is None or media_time - self._last_voiced > self._gap_s:
            self._close_turn()
            self._begin_turn(media_time)
        self._last_voiced = media_time

    def voice(self, speaking: bool, media_time: float) -> None:
        """The detector's view: speech at `media_time` (repeated while it lasts), or the
        speech that ran until `media_time` ended."""
        self._frame_s = 0.0
        if speaking:
            if self._turn_start is None:
                self._begin_turn(media_time)
            self._last_voiced = media_time
        elif self._turn_start is not None:
            self._last_voiced = media_time
            self._close_turn()

    def _begin_turn(self, media_time: float) -> None:
        self._turn_start = media_time
        self.turns += 1

    def _close_turn(self) -> None:
        if self._turn_start is not None:
            self._closed_s += self._last_voiced - self._turn_start + self._frame_s
            self._turn_start = None

    @property
    def talk_time_s(self) -> float:
        current = 0.0
        if self._turn_start is not None:
            current = self._last_voiced - self._turn_start + self._frame_s
        return self._closed_s + current
