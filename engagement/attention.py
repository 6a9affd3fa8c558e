"""What a sampled camera frame says: black, frozen, a face in it.

Weak signals by nature (video engagement datasets top out at 65-75% accuracy): reported with
what they are, never decided on alone. Takes grayscale frames; knows nothing of WebRTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

# Mean luma (0-255) under which a frame counts as black (a covered or dead camera).
BLACK_LUMA = 16.0
# Mean absolute difference (0-255) between two samples, on a small thumbnail, under which the
# picture counts as frozen: live cameras always have sensor noise and movement.
FROZEN_DIFFERENCE = 0.5
THUMBNAIL = (64, 36)
DETECTION_WIDTH = 320


@dataclass(frozen=True)
class FrameFindings:
    black: bool
    frozen: bool
    faces: int
    mean_luma: float
    change: Optional[float]  # difference from the previous sample; None for the first


class FaceCounter:
    """OpenCV's frontal-face Haar cascade, loaded once per node (it is megabytes); use it from
    one thread at a time."""

    def __init__(self) -> None:
        self._cascade = cv2.CascadeClassifier(
            cv2.data.haarcascades + "haarcascade_frontalface_default.xml")  # type: ignore[attr-defined]  # not in cv2's stubs
        if self._cascade.empty():
            raise RuntimeError("OpenCV's frontal-face cascade is missing from the opencv wheel")

    def count(self, gray: np.ndarray) -> int:
        scale = DETECTION_WIDTH / gray.shape[1] if gray.shape[1] > DETECTION_WIDTH else 1.0
        small = cv2.resize(gray, None, fx=scale, fy=scale) if scale != 1.0 else gray
        found = self._cascade.detectMultiScale(cv2.equalizeHist(small), scaleFactor=1.1,
                                               minNeighbors=5, minSize=(24, 24))
        return len(found)


class CameraWatcher:
    """Judges one camera's samples in turn (it remembers the previous one)."""

    def __init__(self, faces: FaceCounter) -> None:
        self._previous: Optional[np.ndarray] = None
        self._faces = faces

    def examine(self, gray: np.ndarray) -> FrameFindings:
        mean_luma = float(gray.mean())
        thumbnail = cv2.resize(gray, THUMBNAIL, interpolation=cv2.INTER_AREA).astype(np.float32)
        change = None
        if self._previous is not None:
            change = float(np.abs(thumbnail - self._previous).mean())
        self._previous = thumbnail
        black = mean_luma < BLACK_LUMA
        faces = 0 if black else self._faces.count(gray)
        return FrameFindings(black=black, frozen=change is not None and change < FROZEN_DIFFERENCE,
                             faces=faces, mean_luma=round(mean_luma, 1),
                             change=None if change is None else round(change, 2))
