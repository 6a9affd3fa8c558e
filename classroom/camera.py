"""Cameras in a live class: on and off (published, muted, unpublished), and what sampled frames
show — the picture going black or frozen and back, a face appearing or leaving the frame —
signalled on changes only. Frames are examined on the node's one frame worker thread."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Optional

from engagement.attention import CameraWatcher, FaceCounter, FrameFindings
from media import Publication
from media.video_tap import FrameWorker

from events.types import (CameraOff, CameraOn, FaceAbsent, FacePresent, VideoBlack, VideoFrozen,
                          VideoOk)

from .context import ClassContext


class Camera:
    def __init__(self, context: ClassContext, frames: FrameWorker, faces: FaceCounter,
                 sample_interval_s: float) -> None:
        self._context = context
        self._frames = frames
        self._faces = faces
        self._sample_interval_s = sample_interval_s
        self._findings: dict[str, FrameFindings] = {}

    def published(self, identity: str, publication: Publication) -> None:
        if not publication.muted:
            self.switched(identity, True)
        watcher = CameraWatcher(self._faces)
        loop = asyncio.get_running_loop()

        def on_frame(gray: Any) -> None:  # on the frame worker's thread
            findings = watcher.examine(gray)
            loop.call_soon_threadsafe(self._examined, identity, findings)

        publication.sample_video(self._sample_interval_s, on_frame, self._frames)

    def switched(self, identity: str, on: bool) -> None:
        if self._context.activity.activity(identity).camera.set(on, time.time()):
            self._context.signal(identity, CameraOn() if on else CameraOff())

    def face_in_frame(self, identity: str) -> Optional[bool]:
        """None while the camera is off or black: there is nothing to tell."""
        findings = self._findings.get(identity)
        if findings is None or findings.black or not self._context.activity.activity(identity).camera.on:
            return None
        return findings.faces > 0

    def _examined(self, identity: str, findings: FrameFindings) -> None:
        signal = self._context.signal
        before = self._findings.get(identity)
        self._findings[identity] = findings
        was_bad = before is not None and (before.black or before.frozen)
        if findings.black and not (before and before.black):
            signal(identity, VideoBlack(mean_luma=findings.mean_luma))
        elif findings.frozen and findings.change is not None and not findings.black \
                and not (before and before.frozen):
            signal(identity, VideoFrozen(change=findings.change))
        elif was_bad and not findings.black and not findings.frozen:
            signal(identity, VideoOk())
        if not findings.black:
            has_face = findings.faces > 0
            had_face = before is not None and not before.black and before.faces > 0
            if before is None or before.black or has_face != had_face:
                signal(identity, FacePresent(faces=findings.faces) if has_face else FaceAbsent())
