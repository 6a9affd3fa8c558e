"""The `aula` command: `aula serve` (also `python -m server`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Optional, Sequence

from aiohttp import web

from .app import create_app
from .config import Settings, add_serve_arguments, settings_from_args


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
    args = parser.parse_args(args_list)
    if args.command == "serve":
        logging.basicConfig(level=args.log_level.upper(),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        serve_forever(settings_from_args(args))


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
    web.run_app(create_app(settings), host=settings.host, port=settings.port,
                print=lambda message: print(message, flush=True))
