"""One typed settings object, read from CLI flags with `AULA_<NAME>` environment fallbacks."""

from __future__ import annotations

import argparse
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from transcription.faster_whisper_engine import WhisperSettings

from .rate_limit import RateLimit

WEB_CLIENT_DIR = Path(__file__).resolve().parent.parent / "web_client"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    # None: start an embedded redis-server of our own.
    redis_url: Optional[str] = None
    data_dir: Path = Path("data")
    # None: generated at start-up and printed.
    api_key: Optional[str] = None
    # Signs join tokens; None: generated at start-up (tokens then die with the process).
    secret: Optional[str] = None
    # Absolute base URL put into join links; None: taken from each API request's Host.
    public_url: Optional[str] = None
    # Host addresses offered as ICE candidates; empty: every non-loopback interface.
    ice_addresses: tuple[str, ...] = ()
    # Remote ICE candidates outside these networks are ignored; empty: all allowed.
    ice_allowed_networks: tuple[str, ...] = ()
    # The local Whisper engine (model, device, workers...); None: none on this node.
    whisper: Optional[WhisperSettings] = None
    # Recognition by `aula asr-worker` processes through Redis Streams, not on this node.
    asr_remote: bool = False
    # The classes' language: for the engine, and stated in transcript events.
    whisper_language: str = "en"
    # Finished recordings also go to an object store (s3://BUCKET/PREFIX?endpoint=..); None: data dir only.
    recording_storage: Optional[str] = None
    token_ttl_s: int = 4 * 3600
    reconnect_grace_s: float = 15.0
    # A session nobody ended is ended this long after its scheduled end.
    end_grace_s: float = 900.0
    # engagement.snapshot events per participant, and the instructor's live panel.
    snapshot_interval_s: float = 30.0
    panel_interval_s: float = 5.0
    # One decoded camera keyframe per participant this often (black, frozen, face in frame).
    video_sample_interval_s: float = 10.0
    # Signaling joins per client address: generous, a whole class may come through one school NAT
    # (or one reverse proxy: then every join has the proxy's address).
    join_limit_address: RateLimit = RateLimit(per_s=20.0, burst=300)
    # Joins per identity in a session: page reloads and reconnects fit; a client in a loop does not.
    join_limit_identity: RateLimit = RateLimit(per_s=0.2, burst=10)
    # Messages per signaling connection.
    message_limit: RateLimit = RateLimit(per_s=50.0, burst=100)
    # Run `aula worker` (workflows, summaries) as a child process; `aula serve` does unless --no-worker.
    embedded_worker: bool = False
    web_client_dir: Path = field(default=WEB_CLIENT_DIR)

    @property
    def transcribing(self) -> bool:
        return self.whisper is not None or self.asr_remote

    def with_generated_secrets(self) -> "Settings":
        """Fill in the API key and token secret when the operator gave none."""
        from dataclasses import replace

        return replace(
            self,
            api_key=self.api_key or secrets.token_urlsafe(24),
            secret=self.secret or secrets.token_urlsafe(32),
        )


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _rate_limit(value: str) -> RateLimit:
    """`PER_S/BURST`, e.g. `20/300`."""
    try:
        per_s, burst = value.split("/")
        return RateLimit(float(per_s), float(burst))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not PER_S/BURST (e.g. 20/300): {exc}") from exc


def _rate_limit_text(limit: RateLimit) -> str:
    return f"{limit.per_s:g}/{limit.burst:g}"


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    env = os.environ.get
    parser.add_argument("--host", default=env("AULA_HOST", Settings.host))
    parser.add_argument("--port", type=int, default=int(env("AULA_PORT", Settings.port)))
    parser.add_argument("--redis-url", default=env("AULA_REDIS_URL"))
    parser.add_argument("--data-dir", type=Path, default=Path(env("AULA_DATA_DIR", "data")))
    parser.add_argument("--api-key", default=env("AULA_API_KEY"))
    parser.add_argument("--secret", default=env("AULA_SECRET"))
    parser.add_argument("--public-url", default=env("AULA_PUBLIC_URL"))
    parser.add_argument(
        "--ice-addresses",
        type=_csv,
        default=_csv(env("AULA_ICE_ADDRESSES", "")),
        help="comma-separated host addresses to offer as ICE candidates",
    )
    parser.add_argument(
        "--ice-allowed-networks",
        type=_csv,
        default=_csv(env("AULA_ICE_ALLOWED_NETWORKS", "")),
        help="comma-separated CIDRs; remote candidates outside them are ignored",
    )
    add_whisper_arguments(parser)
    parser.add_argument("--asr-remote", action="store_true",
                        default=env("AULA_ASR_REMOTE", "") in ("1", "true", "yes"),
                        help="send recognitions to `aula asr-worker` processes through Redis")
    parser.add_argument("--recording-storage", default=env("AULA_RECORDING_STORAGE"),
                        help="also keep finished recordings in s3://BUCKET/PREFIX?endpoint=URL&region=R")
    parser.add_argument(
        "--token-ttl", dest="token_ttl_s", type=int,
        default=int(env("AULA_TOKEN_TTL", Settings.token_ttl_s)),
    )
    parser.add_argument(
        "--end-grace", dest="end_grace_s", type=float,
        default=float(env("AULA_END_GRACE", Settings.end_grace_s)),
        help="end a session nobody ended this many seconds after its scheduled end",
    )
    for flag, name, what in (("--join-limit-address", "join_limit_address", "joins per client address"),
                             ("--join-limit-identity", "join_limit_identity", "joins per identity in a session"),
                             ("--message-limit", "message_limit", "messages per signaling connection")):
        parser.add_argument(flag, dest=name, type=_rate_limit,
                            default=env(f"AULA_{name.upper()}", _rate_limit_text(getattr(Settings, name))),
                            help=f"{what}: PER_S/BURST (a second's worth, and how many at once)")
    parser.add_argument("--no-worker", dest="embedded_worker", action="store_false",
                        default=env("AULA_NO_WORKER", "") not in ("1", "true", "yes"),
                        help="do not run `aula worker` (workflows, summaries) as a child process: "
                             "run it separately (scaling out)")
    parser.add_argument(
        "--snapshot-interval", dest="snapshot_interval_s", type=float,
        default=float(env("AULA_SNAPSHOT_INTERVAL", Settings.snapshot_interval_s)),
        help="seconds between engagement.snapshot events per participant",
    )


def add_whisper_arguments(parser: argparse.ArgumentParser) -> None:
    """The speech-recognition flags, shared by `aula serve` and `aula asr-worker`."""
    env = os.environ.get
    parser.add_argument("--whisper-model", default=env("AULA_WHISPER_MODEL"),
                        help="local CTranslate2 Whisper model directory (transcription off without)")
    parser.add_argument("--whisper-device", default=env("AULA_WHISPER_DEVICE", WhisperSettings.device),
                        choices=("cpu", "cuda", "auto"))
    parser.add_argument("--whisper-compute-type",
                        default=env("AULA_WHISPER_COMPUTE_TYPE", WhisperSettings.compute_type),
                        help="int8 (CPU default), float16 (CUDA), int8_float16, float32")
    parser.add_argument("--whisper-language", default=env("AULA_WHISPER_LANGUAGE", WhisperSettings.language))
    parser.add_argument("--asr-workers", type=int,
                        default=int(env("AULA_ASR_WORKERS", WhisperSettings.workers)),
                        help="speech recognitions run at once in this process")
    parser.add_argument("--asr-threads", type=int,
                        default=int(env("AULA_ASR_THREADS", WhisperSettings.cpu_threads)),
                        help="CPU threads per recognition")
    parser.add_argument("--whisper-max-tokens", type=int,
                        default=int(env("AULA_WHISPER_MAX_TOKENS", WhisperSettings.max_tokens)))


def whisper_from_args(args: argparse.Namespace) -> Optional[WhisperSettings]:
    if not args.whisper_model:
        return None
    return WhisperSettings(model=args.whisper_model, device=args.whisper_device,
                           compute_type=args.whisper_compute_type, cpu_threads=args.asr_threads,
                           workers=args.asr_workers, language=args.whisper_language,
                           max_tokens=args.whisper_max_tokens)


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings(
        host=args.host,
        port=args.port,
        redis_url=args.redis_url,
        data_dir=args.data_dir,
        api_key=args.api_key,
        secret=args.secret,
        public_url=args.public_url,
        ice_addresses=tuple(args.ice_addresses),
        ice_allowed_networks=tuple(args.ice_allowed_networks),
        # With remote recognition, this node loads no model of its own.
        whisper=None if args.asr_remote else whisper_from_args(args),
        asr_remote=args.asr_remote,
        whisper_language=args.whisper_language,
        recording_storage=args.recording_storage,
        token_ttl_s=args.token_ttl_s,
        end_grace_s=args.end_grace_s,
        snapshot_interval_s=args.snapshot_interval_s,
        join_limit_address=args.join_limit_address,
        join_limit_identity=args.join_limit_identity,
        message_limit=args.message_limit,
        embedded_worker=args.embedded_worker,
    )


def parse_serve_args(argv: Sequence[str]) -> Settings:
    parser = argparse.ArgumentParser(prog="aula serve")
    add_serve_arguments(parser)
    return settings_from_args(parser.parse_args(argv))
