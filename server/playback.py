"""After class: the exported video of a session, made on request, and the playback page.

`POST /api/sessions/{id}/export` starts `aula export`'s work on a thread (one at a time per
session); `GET` says how far it is, then serves the file. `/playback/{id}?token=…` is the page
(the video with the transcript beside it; a click on a line seeks), for that session's
moderators (an instructor's join token) and operations (an ops token); the page fetches its video
and transcript with the same token.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from aiohttp import web

from recording.export import EXPORT_FILE, NothingToExport, export_session
from recording.storage import RecordingStorage
from transcription.transcript_files import TranscriptFiles

from .api import error, path_session
from .context import CONTEXT, AppContext
from .page_access import moderator_or_ops

logger = logging.getLogger(__name__)


@dataclass
class ExportJob:
    done_s: float = 0.0
    total_s: float = 0.0
    error: Optional[str] = None
    task: Optional[asyncio.Future[float]] = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def describe(self) -> dict[str, object]:
        status = "running" if self.running else "failed" if self.error else "done"
        progress = round(self.done_s / self.total_s, 3) if self.total_s else 0.0
        return {"status": status, "progress": progress, "error": self.error}


class Exports:
    def __init__(self, sessions_dir: Path, storage: RecordingStorage) -> None:
        self._sessions_dir = sessions_dir
        self._storage = storage
        self._jobs: dict[str, ExportJob] = {}

    def path(self, session_id: str) -> Path:
        return self._sessions_dir / session_id / EXPORT_FILE

    def job(self, session_id: str) -> Optional[ExportJob]:
        return self._jobs.get(session_id)

    def start(self, session_id: str) -> ExportJob:
        job = self._jobs.get(session_id)
        if job is not None and job.running:
            return job
        job = self._jobs[session_id] = ExportJob()

        def progress(done: float, total: float) -> None:  # on the export's thread
            job.done_s, job.total_s = done, total

        async def run() -> float:
            try:
                duration = await asyncio.to_thread(export_session, self._sessions_dir / session_id,
                                                   self.path(session_id), progress)
                await asyncio.to_thread(self._storage.store, session_id, self.path(session_id))
                return duration
            except NothingToExport as exc:
                job.error = str(exc)
                raise
            except Exception as exc:
                logger.exception("export of %s failed", session_id)
                job.error = f"the export failed: {exc}"
                raise

        job.task = asyncio.ensure_future(run())
        job.task.add_done_callback(lambda task: task.exception())  # retrieved: logged above
        return job

    def forget(self, session_id: str) -> None:
        """The export is out of date (a student's media was deleted)."""
        self._jobs.pop(session_id, None)
        self.path(session_id).unlink(missing_ok=True)
        self._storage.delete(session_id, EXPORT_FILE)


async def start_export(request: web.Request) -> web.Response:
    context: AppContext = request.app[CONTEXT]
    session = await path_session(request)
    job = context.exports.start(session.id)
    await asyncio.sleep(0)  # a session with nothing recorded fails at once
    if job.error:
        return error(409, "nothing_to_export", job.error)
    return web.json_response(job.describe(), status=202)


async def get_export(request: web.Request) -> web.StreamResponse:
    context: AppContext = request.app[CONTEXT]
    session = await path_session(request)
    return _export_response(context, session.id)


def _export_response(context: AppContext, session_id: str) -> web.StreamResponse:
    job = context.exports.job(session_id)
    if job is not None and (job.running or job.error):
        return web.json_response(job.describe(), status=202 if job.running else 409)
    path = context.exports.path(session_id)
    if not path.exists():
        return error(404, "no_export", "no export yet: POST to this address to make one")
    return web.FileResponse(path, headers={"Content-Type": "video/mp4"})


async def playback_page(request: web.Request) -> web.StreamResponse:
    access = moderator_or_ops(request, "playback")
    if isinstance(access, web.Response):
        return access
    context: AppContext = request.app[CONTEXT]
    return web.FileResponse(context.settings.web_client_dir / "playback.html",
                            headers={"Cache-Control": "no-store"})


async def playback_video(request: web.Request) -> web.StreamResponse:
    access = moderator_or_ops(request, "playback")
    if isinstance(access, web.Response):
        return access
    session = await path_session(request)
    return _export_response(request.app[CONTEXT], session.id)


async def playback_transcript(request: web.Request) -> web.Response:
    access = moderator_or_ops(request, "playback")
    if isinstance(access, web.Response):
        return access
    context: AppContext = request.app[CONTEXT]
    # The session's own id, never the path's text, names the folder read.
    session = await path_session(request)
    files = await asyncio.to_thread(TranscriptFiles, context.settings.data_dir / "sessions" / session.id,
                                    session.id)
    return web.json_response({"session_id": session.id, "title": session.title,
                              "segments": [asdict(s) for s in files.segments]})


def add_playback_routes(app: web.Application) -> None:
    app.router.add_post("/api/sessions/{session_id}/export", start_export)
    app.router.add_get("/api/sessions/{session_id}/export", get_export)
    app.router.add_get("/playback/{session_id}", playback_page)
    app.router.add_get("/playback/{session_id}/video", playback_video)
    app.router.add_get("/playback/{session_id}/transcript", playback_transcript)
