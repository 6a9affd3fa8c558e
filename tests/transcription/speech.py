"""Known sentences at known times, synthesised with espeak-ng, at 16 kHz float."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tests.synthetic import espeak

RATE = 16000


@dataclass(frozen=True)
class Spoken:
    text: str
    start: float
    end: float


def script(sentences: list[str], lead_s: float = 1.0, gap_s: float = 1.5,
           tail_s: float = 1.5) -> tuple[np.ndarray, list[Spoken]]:
    """`sentences` spoken one after another with `gap_s` of silence between them."""
    parts = [np.zeros(int(lead_s * RATE), np.float32)]
    spoken = []
    at = lead_s
    for sentence in sentences:
        voice = espeak(sentence, RATE).astype(np.float32) / 32768
        spoken.append(Spoken(sentence, at, at + len(voice) / RATE))
        parts += [voice, np.zeros(int(gap_s * RATE), np.float32)]
        at += len(voice) / RATE + gap_s
    parts.append(np.zeros(int(tail_s * RATE), np.float32))
    return np.concatenate(parts), spoken
