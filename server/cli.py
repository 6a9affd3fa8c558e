"""The `aula` command: `aula serve` (also `python -m server`), `aula asr-worker`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
import threading
from functools import partial
from pathlib import Path
from typing import Optional, Sequence

from aiohttp import web

from recording.export import EXPORT_FILE, NothingToExport, export_session
from tqdm import tqdm
from workflows.config import ConfigInvalid, load_config
from summaries.worker import load_summariser
from workflows.worker import run_worker
from transcription.faster_whisper_engine import FasterWhisperEngine, WhisperSettings
from transcription.offline import NothingToTranscribe, transcribe_session
from transcription.remote import AsrWorker

from .app import create_app
from .config import Settings, add_serve_arguments, add_whisper_arguments, settings_from_args, whisper_from_args
from . import garbage


def main(argv: Optional[Sequence[str]] = None) -> None:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # Serving is the default command: `aula --port 9000` is `aula serve --port 9000`.
    if not args_list or args_list[0].startswith("-") and args_list[0] not in ("-h", "--help"):
        args_list.insert(0, "serve")
    parser = argparse.ArgumentParser(prog="aula", description="Aula live-classroom media server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    add_serve_arguments(serve)
    serve.add_argument("--log-level", default="INFO")
    worker = commands.add_parser(
        "asr-worker", help="serve speech recognition to `aula serve --asr-remote` nodes through Redis")
    _add_redis_argument(worker)
    add_whisper_arguments(worker)
    worker.add_argument("--claim-idle", dest="claim_idle_s", type=float, default=30.0,
                        help="take over a final another worker left unanswered this long")
    worker.add_argument("--log-level", default="INFO")
    transcribe = commands.add_parser(
        "transcribe", help="transcribe a session again from its recordings (e.g. with a bigger model)")
    _add_session_arguments(transcribe)
    add_whisper_arguments(transcribe)
    transcribe.add_argument("--log-level", default="WARNING")
    export = commands.add_parser("export", help="one playable file of a recorded class (audio mixed, cameras in a grid)")
    _add_session_arguments(export)
    export.add_argument("--output", type=Path, help="default: <data-dir>/sessions/<id>/export.mp4")
    export.add_argument("--log-level", default="WARNING")
    workflow = commands.add_parser(
        "worker", help="run the workflows (no-show notices, flags, student records) and the class summaries")
    _add_redis_argument(workflow)
    workflow.add_argument("--config", type=Path, default=os.environ.get("AULA_WORKFLOW_CONFIG"),
                          help="rules, templates, SMTP and webhook (TOML); defaults without")
    workflow.add_argument("--data-dir", type=Path, default=Path(os.environ.get("AULA_DATA_DIR", "data")),
                          help="summary.json files, and the events outbox while Redis is unreachable")
    workflow.add_argument("--summary-model", type=Path, default=os.environ.get("AULA_SUMMARY_MODEL"),
                          help="a local transformers model folder for abstractive overviews "
                               "(default: extractive, on the MiniLM model that ships with pip)")
    workflow.add_argument("--no-summaries", action="store_true",
                          help="leave class summaries to other workers")
    workflow.add_argument("--name", default=_process_name(),
                          help="this worker's consumer name (unique per running worker)")
    workflow.add_argument("--claim-idle", dest="claim_idle_s", type=float, default=30.0,
                          help="take over events another worker left unacknowledged this long (it died)")
    workflow.add_argument("--log-level", default="INFO")
    args = parser.parse_args(args_list)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        serve_forever(settings_from_args(args))
    elif args.command == "asr-worker":
        run_asr_worker(_required_whisper(parser, args), args.redis_url, args.claim_idle_s)
    elif args.command == "transcribe":
        session_dir = args.data_dir / "sessions" / args.session_id
        try:
            segments = transcribe_session(session_dir, _required_whisper(parser, args))
        except NothingToTranscribe as exc:
            sys.exit(f"aula transcribe: {exc}")
        print(f"{len(segments)} utterances → {session_dir / 'transcript.json'} (.vtt, .srt)")
    elif args.command == "worker":
        try:
            config = load_config(args.config)
        except ConfigInvalid as exc:
            sys.exit(f"aula worker: {exc}")
        stop = asyncio.Event()

        async def work() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            make_summariser = None if args.no_summaries else partial(load_summariser, args.summary_model)
            await run_worker(args.redis_url, config, args.name, args.data_dir, make_summariser, stop,
                             int(args.claim_idle_s * 1000))

        asyncio.run(work())
    elif args.command == "export":
        session_dir = args.data_dir / "sessions" / args.session_id
        output = args.output or session_dir / EXPORT_FILE
        with tqdm(total=0.0, unit="s", desc="exporting") as bar:
            def progress(done: float, total: float) -> None:
                bar.total = round(total, 1)
                bar.update(round(done - bar.n, 3))
            try:
                duration = export_session(session_dir, output, progress)
            except NothingToExport as exc:
                sys.exit(f"aula export: {exc}")
        print(f"{duration:.1f} s → {output}")


def _add_redis_argument(parser: argparse.ArgumentParser) -> None:
    redis_url = os.environ.get("AULA_REDIS_URL")
    parser.add_argument("--redis-url", default=redis_url, required=redis_url is None,
                        help="the nodes' Redis (AULA_REDIS_URL)")


def _add_session_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session_id")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("AULA_DATA_DIR", "data")))


def _required_whisper(parser: argparse.ArgumentParser, args: argparse.Namespace) -> WhisperSettings:
    whisper = whisper_from_args(args)
    if whisper is None:
        parser.error(f"{args.command} needs --whisper-model (or AULA_WHISPER_MODEL)")
    return whisper


def _process_name() -> str:
    """This process's name among its peers (consumer names in Redis groups)."""
    return f"{socket.gethostname()}-{os.getpid()}"


def run_asr_worker(whisper: WhisperSettings, redis_url: str, claim_idle_s: float) -> None:
    """One engine, `whisper.workers` recognition loops on it, until SIGTERM or Ctrl-C."""
    engine = FasterWhisperEngine(whisper)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    name = _process_name()
    loops = [AsrWorker(engine, redis_url, f"{name}-{i}", claim_idle_s) for i in range(whisper.workers)]
    threads = [threading.Thread(target=loop.run, args=(stop,), name=loop.name) for loop in loops]
    for thread in threads:
        thread.start()
    logging.getLogger(__name__).info("asr worker %s: %d loop(s) on %s", name, len(loops), whisper.model)
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        stop.set()
    for thread in threads:
        thread.join()


def serve_forever(settings: Settings) -> None:
    try:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    key_generated = settings.api_key is None
    settings = settings.with_generated_secrets()
    if key_generated:
        print(f"API key (generated; set --api-key or AULA_API_KEY to keep one): {settings.api_key}",
              flush=True)
    garbage.tune()
    garbage.limit_malloc_arenas()
    app = create_app(settings)

    async def started(_: web.Application) -> None:
        garbage.freeze_startup_objects()

    app.on_startup.append(started)  # after the app's own start-up
    web.run_app(app, host=settings.host, port=settings.port,
                print=lambda message: print(message, flush=True))
