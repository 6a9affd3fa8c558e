"""One typed settings tree, read from CLI flags with `AULA_<NAME>` environment fallbacks.

Each field is written once below, in its section, with its doc, default, flag and environment
variable (server/settings_schema.py turns that into argparse flags, env reading, validation and
the table in docs/operations.md: `aula settings --markdown`). `Settings` is the root: one field
per section (`settings.transcription.whisper_model`), and every field also by its own name
(`settings.whisper_model`), which is unique across the tree, as before the sections existed;
`Settings(port=..., whisper=WhisperSettings(...))` builds one from those names.
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

from summaries.registry import SUMMARISERS
from transcription.engine import SttSettings
from transcription.registry import STT_ENGINES
from workflows.registry import DEFAULT_NOTIFIERS, NOTIFIERS

from .rate_limit import RateLimit
from .settings_schema import (SettingsInvalid, above, add_arguments, at_least, between, number, numbers, options,
                              path, read, setting, validate, whole_number, words)

WEB_CLIENT_DIR = Path(__file__).resolve().parent.parent / "web_client"

__all__ = ["Settings", "SettingsInvalid", "WEB_CLIENT_DIR", "COMMANDS", "add_serve_arguments",
           "add_whisper_arguments", "parse_serve_args", "settings_from_args", "whisper_from_args"]


def _rate_limit(text: str) -> RateLimit:
    """`PER_S/BURST`, e.g. `20/300`."""
    try:
        per_s, burst = text.split("/")
        return RateLimit(float(per_s), float(burst))
    except ValueError as exc:
        raise ValueError(f"not PER_S/BURST (e.g. 20/300): {exc}") from exc


def _rate_limit_text(limit: RateLimit) -> str:
    return f"{limit.per_s:g}/{limit.burst:g}"


def _known(registry: Any) -> Any:
    """A check that the name (or each name) is a registered plug-in, listing the known ones."""
    def check(value: Any) -> Optional[str]:
        names = (value,) if isinstance(value, str) else value or ()
        unknown = [name for name in names if name not in registry]
        if not unknown:
            return None
        return (f"unknown {registry.kind} {', '.join(unknown)}: known ones are {', '.join(registry.names())} "
                f"(a package adds one with the entry point group {registry.group!r})")
    return check


class _Section:
    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class ServerSettings(_Section):
    """Server.
    The HTTP front: where it listens, its keys, the join links it hands out."""
    host: str = setting("127.0.0.1", "HTTP bind address")
    port: int = setting(8080, "HTTP port", parse=whole_number, check=between(0, 65535))
    # None: generated at start-up and printed.
    api_key: Optional[str] = setting(None, "guards `/api/*` (`Authorization: Bearer <key>`)",
                                     default_text="generated, printed")
    # None: generated at start-up (tokens then die with the process).
    secret: Optional[str] = setting(None, "signs join tokens; set it, or tokens die with the process and nodes "
                                          "cannot share them", default_text="generated")
    public_url: Optional[str] = setting(None, "base of `join_url`s (`https://class.example.org`)",
                                        default_text="from the request")
    token_ttl_s: int = setting(4 * 3600, "join-token lifetime, seconds", parse=whole_number, check=above(0))
    # `aula serve` runs `aula worker` as its child unless --no-worker; an app built in code does not.
    embedded_worker: bool = setting(False, "do not run `aula worker` (workflows, summaries) as a child process; "
                                           "run workers apart (Scaling out)",
                                    flag="--no-worker", switch=True, invert=True, cli_default=True)
    web_client_dir: Path = setting(WEB_CLIENT_DIR, "the browser client's files (the join page, the dashboard)",
                                   parse=path, default_text="the installed `web_client/`")


@dataclass(frozen=True)
class StateSettings(_Section):
    """State.
    Where Aula keeps what lasts: Redis (events, sessions, records) and the data folder."""
    # None: start an embedded redis-server of our own.
    redis_url: Optional[str] = setting(
        None, "a Redis of yours (`redis://host:6379/0`, `unix:///path`); without it `aula serve` starts "
              "`redis-server` on a private unix socket under `<data-dir>/redis/` (AOF persistence) and stops it "
              "on exit (the workers need one)", default_text="embedded")
    data_dir: Path = setting(Path("data"), "per-session files, embedded Redis data, the events outbox",
                             parse=path)


@dataclass(frozen=True)
class FleetSettings(_Section):
    """Fleet.
    Nodes sharing one Redis and one fleet name share the school's rooms: each room is placed on
    one node, and joins that reach another node are sent there (docs/operations.md, Scaling out)."""
    fleet_name: str = setting("aula", "the fleet this node joins (several fleets can share one Redis)", flag="--fleet")
    node_name: Optional[str] = setting(None, "this node's name in the fleet, unique and stable across restarts "
                                             "(its rooms are found again by it)", default_text="HOST-PORT")
    advertise_url: Optional[str] = setting(None, "where the other nodes send this node's joins "
                                                 "(`https://node1.class.example.org`)",
                                           default_text="--public-url, else http://HOST:PORT")
    node_ttl_s: float = setting(6.0, "heartbeat TTL, seconds (a heartbeat every quarter of it): a node silent "
                                     "this long is gone and its rooms are placed elsewhere", parse=number,
                                check=between(1, 60))
    drain_grace_s: float = setting(0.0, "on SIGTERM, drain for this long (no new rooms; the classes still here "
                                        "then move to other nodes) before exiting; 0: stop at once",
                                   parse=number, check=between(0, 86400))
    node_max_participants: Optional[int] = setting(None, "participants above which this node takes no new "
                                                         "rooms (placement skips it)", parse=whole_number,
                                                   check=above(0), default_text="no limit")


@dataclass(frozen=True)
class NetworkSettings(_Section):
    """Network.
    Which ICE candidates the server offers and accepts."""
    ice_addresses: tuple[str, ...] = setting(
        (), "comma-separated host addresses offered as ICE candidates; behind 1:1 NAT, the public address",
        parse=words, metavar="ADDRESS,...", default_text="all non-loopback interfaces")
    ice_allowed_networks: tuple[str, ...] = setting(
        (), "comma-separated CIDRs; remote candidates outside are ignored", parse=words, metavar="CIDR,...",
        default_text="all")


@dataclass(frozen=True)
class LimitSettings(_Section):
    """Limits.
    Token buckets on signaling, `PER_S/BURST` (a second's worth, and how many at once)."""
    join_limit_address: RateLimit = setting(
        RateLimit(per_s=20.0, burst=300), "signaling joins per client address; generous, as a whole class may "
        "come through one school NAT, and behind a reverse proxy all joins share the proxy's address: raise it "
        "(docs/signaling.md, Limits)", parse=_rate_limit, show=_rate_limit_text, metavar="PER_S/BURST")
    join_limit_identity: RateLimit = setting(
        RateLimit(per_s=0.2, burst=10), "joins per identity in a session: page reloads and reconnects fit, a "
        "client in a loop does not", parse=_rate_limit, show=_rate_limit_text, metavar="PER_S/BURST")
    message_limit: RateLimit = setting(
        RateLimit(per_s=50.0, burst=100), "signaling messages per connection", parse=_rate_limit,
        show=_rate_limit_text, metavar="PER_S/BURST")


@dataclass(frozen=True)
class ClassSettings(_Section):
    """Classes.
    The timers of a live class, in seconds."""
    reconnect_grace_s: float = setting(15.0, "a participant whose connection dropped counts as present this "
                                             "long, so a reconnect is not a leave and a join", parse=number,
                                       check=at_least(0))
    end_grace_s: float = setting(900.0, "a session nobody ended is ended (attendance summary, `session.ended`) "
                                        "this long after its scheduled end", parse=number, check=at_least(0))
    snapshot_interval_s: float = setting(30.0, "seconds between `engagement.snapshot` events per participant",
                                         parse=number, check=above(0))
    panel_interval_s: float = setting(5.0, "seconds between updates of the instructor's live engagement panel",
                                      parse=number, check=above(0))
    video_sample_interval_s: float = setting(10.0, "one decoded camera keyframe per participant this often "
                                                   "(black, frozen, face in frame)", parse=number, check=above(0))


@dataclass(frozen=True)
class TranscriptionSettings(_Section):
    """Transcription.
    The speech engine of this node (or of `aula asr-worker`), by name, and its model."""
    stt: str = setting(SttSettings.engine, "the speech engine (transcription/registry.py; more from the "
                                           "`aula.stt` entry point group)", metavar="NAME",
                       check=_known(STT_ENGINES))
    whisper_model: Optional[str] = setting(None, "local CTranslate2 Whisper model directory (the engine's "
                                                 "model); without it transcription is off (talk time still comes "
                                                 "from the VAD)", metavar="PATH")
    whisper_device: str = setting(SttSettings.device, "`cpu`, `cuda` or `auto`", choices=("cpu", "cuda", "auto"))
    whisper_compute_type: str = setting(SttSettings.compute_type, "`int8` on CPU; `float16` or `int8_float16` "
                                                                  "on CUDA; `float32`")
    whisper_language: str = setting(SttSettings.language, "the class's language, for the engine and stated in "
                                                          "transcript events (no per-utterance language "
                                                          "detection: a wrong guess on a short utterance is worse)")
    asr_workers: int = setting(SttSettings.workers, "recognitions run at once on this node (or asr worker)",
                               parse=whole_number, check=at_least(1))
    asr_threads: int = setting(SttSettings.cpu_threads, "CPU threads per recognition (two 1-thread workers "
                                                        "outrun one 2-thread worker)", parse=whole_number,
                               check=at_least(1))
    whisper_max_tokens: int = setting(SttSettings.max_tokens, "tokens per decode: bounds a runaway decode",
                                      parse=whole_number, check=at_least(1))
    whisper_beam_size: int = setting(SttSettings.beam_size, "beam width of a decode (1: greedy)",
                                     parse=whole_number, check=at_least(1))
    whisper_fallback_temperatures: tuple[float, ...] = setting(
        SttSettings.fallback_temperatures, "comma-separated temperatures a final is decoded again at when "
        "Whisper's guards refuse it (too repetitive, too unsure); empty: no retries", parse=numbers,
        metavar="T,...")
    # Recognition by `aula asr-worker` processes through Redis Streams, not on this node.
    asr_remote: bool = setting(False, "send recognitions to `aula asr-worker` processes through Redis instead "
                                      "of loading a model here", switch=True)

    @property
    def whisper(self) -> Optional[SttSettings]:
        """The local engine's settings; None: no engine on this node (no model, or remote)."""
        if self.asr_remote or not self.whisper_model:
            return None
        return SttSettings(model=self.whisper_model, device=self.whisper_device,
                           compute_type=self.whisper_compute_type, cpu_threads=self.asr_threads,
                           workers=self.asr_workers, language=self.whisper_language,
                           beam_size=self.whisper_beam_size, max_tokens=self.whisper_max_tokens,
                           fallback_temperatures=self.whisper_fallback_temperatures, engine=self.stt)


def _from_engine(whisper: SttSettings) -> dict[str, Any]:
    """TranscriptionSettings fields from an engine's settings (`Settings(whisper=...)`)."""
    return {"stt": whisper.engine, "whisper_model": whisper.model, "whisper_device": whisper.device,
            "whisper_compute_type": whisper.compute_type, "asr_threads": whisper.cpu_threads,
            "asr_workers": whisper.workers, "whisper_language": whisper.language,
            "whisper_beam_size": whisper.beam_size, "whisper_max_tokens": whisper.max_tokens,
            "whisper_fallback_temperatures": whisper.fallback_temperatures}


@dataclass(frozen=True)
class RecordingSettings(_Section):
    """Recording.
    Where finished recordings go besides the data folder."""
    recording_storage: Optional[str] = setting(
        None, "also keep finished recordings in an object store: `s3://BUCKET/PREFIX?endpoint=URL&region=R` "
              "(see Recordings)", metavar="URL")


@dataclass(frozen=True)
class WorkflowSettings(_Section):
    """Workflows.
    `aula worker`: the rules, the notifiers that send their notices, the summariser."""
    workflow_config: Optional[Path] = setting(None, "rules, templates, SMTP and webhook (TOML); defaults without",
                                              flag="--config", env="AULA_WORKFLOW_CONFIG", parse=path,
                                              metavar="FILE")
    notifiers: tuple[str, ...] = setting(
        DEFAULT_NOTIFIERS, "comma-separated notifiers to send through, each set up by its table in the rules "
        "file (`smtp`: email, `webhook`; more from the `aula.notifiers` entry point group)", parse=words,
        metavar="NAME,...", check=_known(NOTIFIERS))
    summariser: Optional[str] = setting(
        None, "the class summariser: `extractive` (embedded) or `abstractive` (needs --summary-model); more "
              "from the `aula.summarisers` entry point group", metavar="NAME", check=_known(SUMMARISERS),
        default_text="abstractive with --summary-model, else extractive")
    summary_model: Optional[Path] = setting(
        None, "a local transformers model folder for abstractive overviews (default: extractive, on the MiniLM "
              "model that ships with pip)", parse=path, metavar="PATH")
    summaries: bool = setting(True, "leave class summaries to other workers", flag="--no-summaries",
                              switch=True, invert=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.summariser == "abstractive" and self.summary_model is None:
            raise SettingsInvalid("--summariser abstractive needs --summary-model PATH (AULA_SUMMARY_MODEL)")


@dataclass(frozen=True)
class WorkerSettings(_Section):
    """Workers.
    `aula worker` and `aula asr-worker` processes: their names in the Redis consumer groups."""
    worker_name: Optional[str] = setting(None, "this worker's consumer name (unique per running worker)",
                                         flag="--name", env="AULA_WORKER_NAME", default_text="HOST-PID")
    claim_idle_s: float = setting(30.0, "take over work another worker left unanswered this long, seconds "
                                        "(it died)", parse=number, check=above(0))


SECTIONS: dict[str, type] = {
    "server": ServerSettings, "state": StateSettings, "fleet": FleetSettings, "network": NetworkSettings,
    "limits": LimitSettings, "classes": ClassSettings, "transcription": TranscriptionSettings,
    "recording": RecordingSettings, "workflows": WorkflowSettings, "workers": WorkerSettings,
}
# Which sections each command reads.
COMMANDS: dict[str, tuple[str, ...]] = {
    "serve": ("server", "state", "fleet", "network", "limits", "classes", "transcription", "recording"),
    "worker": ("state", "workflows", "workers"),
    "asr-worker": ("state", "transcription", "workers"),
    "transcribe": ("state", "transcription"),
    "export": ("state",),
}
FIELD_SECTION: dict[str, str] = {item.name: name for name, section in SECTIONS.items()
                                 for item, _ in options(section)}


@dataclass(frozen=True, init=False)
class Settings:
    server: ServerSettings
    state: StateSettings
    fleet: FleetSettings
    network: NetworkSettings
    limits: LimitSettings
    classes: ClassSettings
    transcription: TranscriptionSettings
    recording: RecordingSettings
    workflows: WorkflowSettings
    workers: WorkerSettings

    if TYPE_CHECKING:
        # Every field by its own name (`settings.port`): the `_Flat` descriptors set below.
        def __getattr__(self, name: str) -> Any: ...

    def __init__(self, *, whisper: Optional[SttSettings] = None, **values: Any) -> None:
        """Sections by name, fields by their own names (over the sections given), and `whisper`:
        the local engine's settings, as one."""
        flat: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
        if whisper is not None:
            engine = _from_engine(whisper)
            flat["transcription"].update(engine if "whisper_language" not in values
                                         else {k: v for k, v in engine.items() if k != "whisper_language"})
        for key, value in values.items():
            if key in SECTIONS:
                continue
            if key not in FIELD_SECTION:
                raise TypeError(f"Settings() got an unexpected keyword argument {key!r}")
            flat[FIELD_SECTION[key]][key] = value
        for name, section in SECTIONS.items():
            given: Any = values.get(name)
            if given is not None and not isinstance(given, section):
                raise TypeError(f"Settings({name}=...) takes a {section.__name__}, not {given!r}")
            made: Any = dataclasses.replace(given, **flat[name]) if given is not None else section(**flat[name])
            object.__setattr__(self, name, made)

    @property
    def whisper(self) -> Optional[SttSettings]:
        return self.transcription.whisper

    @property
    def transcribing(self) -> bool:
        return self.whisper is not None or self.transcription.asr_remote

    def with_generated_secrets(self) -> "Settings":
        """Fill in the API key and token secret when the operator gave none."""
        return dataclasses.replace(self, server=dataclasses.replace(
            self.server,
            api_key=self.server.api_key or secrets.token_urlsafe(24),
            secret=self.server.secret or secrets.token_urlsafe(32),
        ))


class _Flat:
    """`settings.port` for `settings.server.port`; on the class, the field's default (as the
    flat dataclass had it: `Settings.reconnect_grace_s`)."""

    def __init__(self, section: str, name: str) -> None:
        self.section, self.name = section, name

    def __get__(self, settings: Optional[Settings], owner: type) -> Any:
        if settings is None:
            return getattr(SECTIONS[self.section], self.name)
        return getattr(getattr(settings, self.section), self.name)


for _name, _section in FIELD_SECTION.items():
    setattr(Settings, _name, _Flat(_section, _name))


def add_command_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    add_arguments(parser, [SECTIONS[name] for name in COMMANDS[command]])


def settings_from_args(args: argparse.Namespace, command: str = "serve",
                       env: Optional[dict[str, str]] = None) -> Settings:
    """The command's sections from its flags, their environment variables, the defaults (the
    others at their defaults). SettingsInvalid names the flag (and variable) at fault."""
    return Settings(**{name: read(SECTIONS[name], args, env) for name in COMMANDS[command]})


def markdown() -> str:
    """The settings tables of docs/operations.md (`aula settings --markdown`)."""
    from .settings_schema import markdown as tables

    used = {name: [command for command, names in COMMANDS.items() if name in names] for name in SECTIONS}
    return tables([(section, used[name]) for name, section in SECTIONS.items()])


# -- the names these had before the sections ------------------------------------------------

def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    add_command_arguments(parser, "serve")


def add_whisper_arguments(parser: argparse.ArgumentParser) -> None:
    """The speech-recognition flags."""
    add_arguments(parser, [TranscriptionSettings])


def whisper_from_args(args: argparse.Namespace) -> Optional[SttSettings]:
    transcription: TranscriptionSettings = read(TranscriptionSettings, args)
    return transcription.whisper


def parse_serve_args(argv: Sequence[str]) -> Settings:
    parser = argparse.ArgumentParser(prog="aula serve")
    add_serve_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return settings_from_args(args)
    except SettingsInvalid as exc:
        parser.error(str(exc))

