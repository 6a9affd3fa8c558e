"""The `aula` command: `aula serve` (also `python -m server`), `aula worker`, `aula asr-worker`,
`aula transcribe`, `aula export`, `aula settings`. Each command's flags (and their `AULA_*`
variables) come from the settings tree in server/config.py."""

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
from events.plugin import UnknownPlugin
from workflows.config import ConfigInvalid, load_config
from summaries.worker import load_summariser
from workflows.worker import run_worker
from transcription.engine import SttSettings
from transcription.offline import NothingToTranscribe, transcribe_session
from transcription.registry import create_engine
from transcription.remote import AsrWorker

from .app import create_app
from .context import CONTEXT
from .config import Settings, SettingsInvalid, add_command_arguments, settings_from_args
from . import garbage, settings as settings_command


def main(argv: Optional[Sequence[str]] = None) -> None:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # Serving is the default command: `aula --port 9000` is `aula serve --port 9000`.
    if not args_list or args_list[0].startswith("-") and args_list[0] not in ("-h", "--help"):
        args_list.insert(0, "serve")
    parser = argparse.ArgumentParser(prog="aula", description="Aula live-classroom media server")
    commands = parser.add_subparsers(dest="command", required=True)
    subparsers: dict[str, argparse.ArgumentParser] = {}

    def command(name: str, help_text: str, log_level: str = "INFO") -> argparse.ArgumentParser:
        subparser = commands.add_parser(name, help=help_text, description=help_text)
        subparser.add_argument("--log-level", default=log_level)
        subparsers[name] = subparser
        return subparser

    add_command_arguments(command("serve", "run the server"), "serve")
    add_command_arguments(command(
        "asr-worker", "serve speech recognition to `aula serve --asr-remote` nodes through Redis"), "asr-worker")
    transcribe = command("transcribe", "transcribe a session again from its recordings (e.g. with a bigger model)",
                         "WARNING")
    transcribe.add_argument("session_id")
    add_command_arguments(transcribe, "transcribe")
    export = command("export", "one playable file of a recorded class (audio mixed, cameras in a grid)", "WARNING")
    export.add_argument("session_id")
    add_command_arguments(export, "export")
    export.add_argument("--output", type=Path, help="default: <data-dir>/sessions/<id>/export.mp4")
    add_command_arguments(command(
        "worker", "run the workflows (no-show notices, flags, student records) and the class summaries"), "worker")
    settings_command.add_arguments(commands.add_parser(
        "settings", help="list every setting: flag, environment variable, default (--markdown: the docs' tables)"))
    args = parser.parse_args(args_list)
    if args.command == "settings":
        settings_command.run(args)
        return
    subparser = subparsers[args.command]
    try:
        settings = settings_from_args(args, args.command)
    except SettingsInvalid as exc:
        subparser.error(str(exc))
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        serve_forever(settings)
    elif args.command == "asr-worker":
        whisper = _required_whisper(subparser, settings)
        run_asr_worker(whisper, _required_redis(subparser, settings), settings.claim_idle_s,
                       settings.worker_name or _process_name())
    elif args.command == "transcribe":
        session_dir = settings.data_dir / "sessions" / args.session_id
        try:
            segments = transcribe_session(session_dir, _required_whisper(subparser, settings))
        except NothingToTranscribe as exc:
            sys.exit(f"aula transcribe: {exc}")
        print(f"{len(segments)} utterances → {session_dir / 'transcript.json'} (.vtt, .srt)")
    elif args.command == "worker":
        run_workflow_worker(subparser, settings)
    elif args.command == "export":
        session_dir = settings.data_dir / "sessions" / args.session_id
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


def run_workflow_worker(parser: argparse.ArgumentParser, settings: Settings) -> None:
    """`aula worker`: until SIGTERM or Ctrl-C."""
    redis_url = _required_redis(parser, settings)
    try:
        config = load_config(settings.workflow_config)
    except ConfigInvalid as exc:
        sys.exit(f"aula worker: {exc}")
    stop = asyncio.Event()
    make_summariser = (partial(load_summariser, settings.summary_model, settings.summariser)
                       if settings.workflows.summaries else None)

    async def work() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(redis_url, config, settings.worker_name or _process_name(), settings.data_dir,
                         make_summariser, stop, int(settings.claim_idle_s * 1000), settings.notifiers)

    try:
        asyncio.run(work())
    except UnknownPlugin as exc:  # a notifier named but not installed
        sys.exit(f"aula worker: {exc}")


def _required_redis(parser: argparse.ArgumentParser, settings: Settings) -> str:
    redis_url: Optional[str] = settings.state.redis_url
    if redis_url is None:
        parser.error("the following arguments are required: --redis-url (or AULA_REDIS_URL)")
    return redis_url


def _required_whisper(parser: argparse.ArgumentParser, settings: Settings) -> SttSettings:
    whisper = settings.transcription.whisper
    if whisper is None:
        parser.error(f"{parser.prog} needs --whisper-model (or AULA_WHISPER_MODEL)")
    return whisper


def _process_name() -> str:
    """This process's name among its peers (consumer names in Redis groups)."""
    return f"{socket.gethostname()}-{os.getpid()}"


def run_asr_worker(whisper: SttSettings, redis_url: str, claim_idle_s: float,
                   name: Optional[str] = None) -> None:
    """One engine (`whisper.engine`), `whisper.workers` recognition loops on it, until SIGTERM or
    Ctrl-C."""
    engine = create_engine(whisper)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    name = name or _process_name()
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
    close = getattr(engine, "close", None)
    if callable(close):
        close()


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
    # A drained node exits 0, as on Ctrl-C: its classes have ended or moved.
    app = create_app(settings, on_drained=lambda: signal.raise_signal(signal.SIGINT))

    async def started(started_app: web.Application) -> None:
        garbage.freeze_startup_objects()
        if settings.drain_grace_s > 0:
            # In place of aiohttp's stop-at-once: drain (the classes move after the grace), then exit.
            hosting = started_app[CONTEXT].hosting
            asyncio.get_running_loop().add_signal_handler(
                signal.SIGTERM, lambda: asyncio.ensure_future(hosting.drain(settings.drain_grace_s)))

    app.on_startup.append(started)  # after the app's own start-up
    web.run_app(app, host=settings.host, port=settings.port,
                print=lambda message: print(message, flush=True))
