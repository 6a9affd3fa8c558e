"""AudioTap: the one decode of a published audio track, shared by every observer of it."""

from __future__ import annotations

import asyncio
import logging
import time

from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import compute_audio_level_dbov

from .publication import Publication

logger = logging.getLogger(__name__)

# Packets carrying an RFC 6464 level newer than this make the decoded level redundant.
EXTENSION_LEVEL_FRESH_S = 0.5


class AudioTap:
    def __init__(self, publication: Publication) -> None:
        self.publication = publication
        self.frames = 0
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        track = self.publication.receiver.track
        try:
            while True:
                frame = await track.recv()
                self.frames += 1
                if time.monotonic() - self.publication.audio_level_updated_at > EXTENSION_LEVEL_FRESH_S:
                    self.publication.audio_level_dbov = compute_audio_level_dbov(frame)
        except (MediaStreamError, asyncio.CancelledError):
            pass
        except Exception:
            logger.exception("audio tap of %s failed", self.publication.sid)

    def close(self) -> None:
        self._task.cancel()
