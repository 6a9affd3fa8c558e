"""Aula side by side with a native SFU: Janus 1.1 (VideoRoom), same load, same machine.

Janus runs in a network namespace of its own (benchmarks/netns.py: libnice skips loopback, so
Janus gets 10.x.y.2 on a veth pair; the load clients stay in the root namespace and offer only
10.x.y.1), with a config of its own (benchmarks/janus/: HTTP transport and VideoRoom only,
ICE-lite, no STUN/TURN, a room bitrate cap above every stream's). Aula runs on 127.0.0.1 as in
class_size.py. Both are driven by benchmarks/class_load.py's load generator and measured the
same way (CPU and RSS from /proc/<pid>, packets counted at the subscribers, latency from the
publisher's send to the subscriber's receive, keyed by payload tail).

1. Reference: 1 publisher (360p VP8 ~500 kbit/s + Opus) → `--reference-viewers` subscribers.
2. The class: 1 instructor (720p + Opus) + N students (360p + Opus), each student showing K
   videos (`--visible-videos`), for each N of `--students`, Aula then Janus.

    python -m benchmarks.janus_side_by_side --students 10 20 30 40 50 --visible-videos 4 \\
        --json benchmarks/results/janus_side_by_side.json \\
        --plot benchmarks/results/janus_side_by_side.png
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import string
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import aiohttp

from client.rtc_client import PacketObserver
from media.aiortc import use_host_addresses

from .class_load import (
    Member,
    Scenario,
    Seat,
    Subprocess,
    add_load_arguments,
    class_scenario,
    fanout_scenario,
    hook_audio_level,
    loadavg,
    receive_options,
    run_class,
    run_event_loop,
    wait_for_http,
)
from .class_size import environment, run_aula, run_guarded, start_redis, write_document
from .janus_client import JanusClient, JanusSession, Stream
from .media import AUDIO, INSTRUCTOR_VIDEO, STUDENT_VIDEO, EncodedTrack, clip_for
from .netns import TestHost

logger = logging.getLogger("benchmarks.janus_side_by_side")

TEMPLATES = Path(__file__).resolve().parent / "janus"
JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
# What Janus may load; everything else in its folders is disabled by config.
ENABLED = {"plugins": {"libjanus_videoroom.so"}, "transports": {"libjanus_http.so"},
           "events": set(), "loggers": set()}
HTTP_PORT = 8088
ROOM = 1234
# A class size fits when the 95th percentile of added latency is below this, with no loss.
FIT_P95_MS = 30.0
FIT_LOSS_PERCENT = 0.1  # the delivery count is approximate at the window's edges


# -- Janus -----------------------------------------------------------------------------------


def janus_library() -> Path:
    """The folder of Janus's plugins and transports (Debian's multiarch path, or `janus`'s)."""
    if JANUS_LIB.is_dir():
        return JANUS_LIB
    executable = shutil.which("janus")
    if executable is None:
        raise SystemExit("janus is not installed (apt-get install janus)")
    for candidate in Path(executable).resolve().parent.parent.glob("lib*/**/janus"):
        if (candidate / "plugins").is_dir():
            return candidate
    raise SystemExit("cannot find Janus's plugins folder")


def write_janus_config(directory: Path, host: TestHost) -> Path:
    """Fill benchmarks/janus/*.jcfg into `directory`; returns janus.jcfg's path."""
    library = janus_library()
    values = {"configs_folder": str(directory), "http_port": str(HTTP_PORT),
              "http_address": host.ns_address, "ns_address": host.ns_address, "room": str(ROOM)}
    for kind, enabled in ENABLED.items():
        folder = library / kind
        values[f"{kind}_folder"] = str(folder)
        names = sorted(p.name for p in folder.glob("*.so")) if folder.is_dir() else []
        missing = enabled - set(names)
        if missing:
            raise SystemExit(f"Janus lacks {', '.join(sorted(missing))} in {folder}")
        values[f"{kind}_disable"] = ",".join(n for n in names if n not in enabled)
    directory.mkdir(parents=True, exist_ok=True)
    for template in TEMPLATES.glob("*.jcfg"):
        text = string.Template(template.read_text()).substitute(values)
        (directory / template.name).write_text(text)
    return directory / "janus.jcfg"


class JanusServer:
    """A fresh `janus` in the test host's namespace; clients publish, then subscribe."""

    name = "janus"

    def __init__(self, process: Subprocess, base_url: str, audio: str, audio_level: bool,
                 process_rtp: bool, authenticate_every: int) -> None:
        self.process = process
        self.base_url = base_url
        self.helpers: dict[str, Subprocess] = {}
        self.audio = audio
        self.audio_level = audio_level
        self.process_rtp = process_rtp
        self.authenticate_every = authenticate_every
        self.clients: list[JanusClient] = []
        self.streams: dict[str, list[Stream]] = {}
        self._http: Optional[aiohttp.ClientSession] = None

    @classmethod
    async def start(cls, host: TestHost, directory: Path, audio: str = "talking",
                    audio_level: bool = True, process_rtp: bool = False,
                    authenticate_every: int = 1) -> "JanusServer":
        executable = shutil.which("janus")
        if executable is None:
            raise SystemExit("janus is not installed (apt-get install janus)")
        config = write_janus_config(directory / "config", host)
        argv = host.exec_argv([executable, "--config", str(config),
                               "--configs-folder", str(config.parent), "--disable-colors"])
        process = Subprocess("janus", argv, directory / "janus.log")
        base_url = f"http://{host.ns_address}:{HTTP_PORT}/janus"
        await wait_for_http(process, f"{base_url}/info")
        return cls(process, base_url, audio, audio_level, process_rtp, authenticate_every)

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            # One long poll per client is always open: no connection limit.
            self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        return self._http

    async def open_room(self, scenario: Scenario) -> None:
        """The room is static (videoroom config)."""

    async def join(self, seat: Seat, tracks: dict[str, EncodedTrack],
                   on_packet: PacketObserver) -> JanusClient:
        session = JanusSession(self.http, self.base_url)
        await session.create()
        client = JanusClient(session, ROOM, seat.identity, len(self.clients) + 1, on_packet,
                             self.process_rtp, self.authenticate_every)
        self.clients.append(client)
        if self.audio_level and "microphone" in tracks:
            hook_audio_level(client.publisher_pc, tracks["microphone"])
        self.streams[seat.identity] = await client.publish(dict(tracks))
        return client

    async def subscribe_all(self, scenario: Scenario, members: list[Member]) -> None:
        """Each seat subscribes to the cameras it shows and to microphones: the talking ones
        (what Aula's speaker selection forwards) or, with audio="all", every one."""
        talking = scenario.talking()
        for seat, client in zip(scenario.seats, self.clients):
            wanted = [s for publisher, streams in self.streams.items() if publisher != seat.identity
                      for s in streams
                      if (s.kind == "video" and seat.shows(publisher))
                      or (s.kind == "audio" and (self.audio == "all" or publisher in talking))]
            await client.subscribe(wanted)

    async def round_trip(self) -> None:
        await self.clients[0].session.keepalive()

    async def leave_all(self) -> None:
        await asyncio.gather(*(asyncio.wait_for(c.close(), 10.0) for c in self.clients),
                             return_exceptions=True)
        self.clients.clear()
        self.streams.clear()
        if self._http is not None:
            await self._http.close()
            self._http = None

    def stop(self) -> None:
        self.process.stop()


async def run_janus(scenario: Scenario, args: argparse.Namespace, host: TestHost,
                    workdir: Path) -> dict[str, Any]:
    use_host_addresses((host.host_address,))
    run_dir = workdir / f"janus-{scenario.name}-n{scenario.size}"
    server = await JanusServer.start(host, run_dir, args.janus_audio, args.audio_level,
                                     *receive_options(args.receivers))
    try:
        result = await run_class(server, scenario, args)
        result["janus_audio_subscriptions"] = args.janus_audio
        return result
    finally:
        server.stop()
        if args.log_dir:
            log_dir = Path(args.log_dir)
            log_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(server.process.log_path,
                            log_dir / f"janus-{scenario.name}-n{scenario.size}.log")


# -- comparison ------------------------------------------------------------------------------


def metrics(result: dict[str, Any]) -> dict[str, Optional[float]]:
    """The figures compared, from one run's result."""
    if "error" in result:
        return {}
    f, s, lat = result["forwarding"], result["server"], result["latency_ms"]["all"]
    cpu = s["cpu_percent_of_one_core"]
    pps = f["delivered_pps"]
    return {
        "cpu_s_per_s": round(cpu / 100, 3) if cpu is not None else None,
        "delivered_pps": pps,
        "cpu_ms_per_1000_packets": round(1000 * cpu / 100 / pps * 1000, 2)
        if cpu is not None and pps else None,
        "latency_p50_ms": lat["p50"], "latency_p95_ms": lat["p95"],
        "loss_percent": f["loss_percent"], "rss_mb": s["rss_mb"],
    }


def fits(result: dict[str, Any]) -> bool:
    m = metrics(result)
    return (bool(m) and result["valid"] and m["latency_p95_ms"] is not None
            and m["latency_p95_ms"] < FIT_P95_MS and m["loss_percent"] is not None
            and m["loss_percent"] <= FIT_LOSS_PERCENT
            and result["join"]["clients_missing_tracks"] == 0)


def compare(aula: dict[str, Any], janus: dict[str, Any]) -> dict[str, Optional[float]]:
    """Aula / Janus for each figure (None where either is missing or zero)."""
    a, j = metrics(aula), metrics(janus)
    out: dict[str, Optional[float]] = {}
    for key in a.keys() & j.keys():
        out[key] = round(a[key] / j[key], 2) if a[key] is not None and j[key] else None
    return out


def build_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (scenario, N): both systems' metrics and the ratios."""
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for r in results:
        row = rows.setdefault((r["scenario"], r["students"]),
                              {"scenario": r["scenario"], "n": r["students"]})
        row[r["system"]] = r
    out = []
    for row in rows.values():
        if "aula" in row and "janus" in row:
            row["ratio_aula_over_janus"] = compare(row["aula"], row["janus"])
        out.append(row)
    return out


def largest_fitting(results: list[dict[str, Any]], system: str) -> Optional[int]:
    sizes = sorted(r["students"] for r in results
                   if r["system"] == system and r["scenario"] == "class" and fits(r))
    return sizes[-1] if sizes else None


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value}"


def print_table(results: list[dict[str, Any]]) -> None:
    header = ("scenario", "N", "system", "CPU s/s", "fwd pps", "CPU ms/1k pkt", "lat p50",
              "lat p95", "loss %", "RSS MB", "load CPU%", "others CPU%", "loadavg", "valid", "fits")
    keys = ("cpu_s_per_s", "delivered_pps", "cpu_ms_per_1000_packets", "latency_p50_ms",
            "latency_p95_ms", "loss_percent", "rss_mb")
    lines: list[tuple[str, ...]] = []
    for row in build_rows(results):
        for system in ("aula", "janus"):
            r = row.get(system)
            if r is None:
                continue
            if "error" in r:
                lines.append((row["scenario"], str(row["n"]), system, "error: " + r["error"][:60]))
                continue
            m = metrics(r)
            lines.append((row["scenario"], str(row["n"]), system, *(_cell(m[k]) for k in keys),
                          _cell(r["load_process"]["cpu_percent_of_one_core"]),
                          _cell(r["machine"]["other_processes_cpu_percent_of_one_core"]),
                          _cell(r["loadavg"]["1min"]), "yes" if r["valid"] else "NO",
                          "yes" if fits(r) else "no"))
        ratio = row.get("ratio_aula_over_janus")
        if ratio:
            lines.append((row["scenario"], str(row["n"]), "aula/janus",
                          *(_cell(ratio.get(k)) for k in keys)))
    widths = [max([len(h)] + [len(line[i]) for line in lines if i < len(line)])
              for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for line in lines:
        print("  ".join(c.rjust(w) for c, w in zip(line, widths)))
    for system in ("aula", "janus"):
        print(f"largest class that fits ({system}): {largest_fitting(results, system)}")
    for r in results:
        for warning in r.get("warnings", []):
            print(f"{r['system']} {r['scenario']} N={r['students']}: {warning}")


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    panels = (("cpu_s_per_s", "server CPU (s per s = cores)"),
              ("cpu_ms_per_1000_packets", "server CPU ms per 1,000 forwarded packets"),
              ("latency_p95_ms", "added latency p95 (ms)"))
    for axis, (key, title) in zip(axes, panels):
        for system, style in (("aula", "o-"), ("janus", "s-")):
            points = sorted((r["students"], metrics(r)[key]) for r in results
                            if r["system"] == system and r["scenario"] == "class"
                            and "error" not in r and metrics(r)[key] is not None)
            if points:
                axis.plot(*zip(*points), style, label=system)
                invalid = [(r["students"], metrics(r)[key]) for r in results
                           if r["system"] == system and r["scenario"] == "class"
                           and "error" not in r and not r["valid"]]
                if invalid:
                    axis.plot(*zip(*invalid), "x", color="red", markersize=10)
        if key == "latency_p95_ms":
            axis.axhline(FIT_P95_MS, color="grey", linestyle="--", linewidth=1)
            axis.set_yscale("log")  # a saturated run's seconds next to a few milliseconds
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("students (N)")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle("1 instructor (720p VP8 + Opus) + N students (360p VP8 + Opus), "
                    "2 shared cores; red x: run invalid (load generator saturated)", fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_json(args: argparse.Namespace, results: list[dict[str, Any]]) -> None:
    write_document("janus_side_by_side", args, {
        "loadavg_at_start": args.loadavg_at_start,
        "janus_version": args.janus_version,
        "settings": {"warmup_s": args.warmup, "duration_s": args.duration,
                     "visible_videos": args.visible_videos or "all",
                     "reference_viewers": args.reference_viewers,
                     "janus_audio_subscriptions": args.janus_audio,
                     "receivers": args.receivers,
                     "fit": {"latency_p95_ms_below": FIT_P95_MS,
                             "loss_percent_at_most": FIT_LOSS_PERCENT, "run_valid": True}},
        "largest_fitting_class": {s: largest_fitting(results, s) for s in args.systems},
        "comparison": [{k: v for k, v in row.items() if k not in ("aula", "janus")}
                       | {s: metrics(row[s]) for s in ("aula", "janus") if s in row}
                       for row in build_rows(results)],
        "results": results,
    })


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    for profile in (INSTRUCTOR_VIDEO, STUDENT_VIDEO, AUDIO):
        clip_for(profile)
    scenarios: list[Scenario] = []
    if args.reference_viewers:
        scenarios.append(fanout_scenario(args.reference_viewers))
    scenarios += [class_scenario(n, args.visible_videos) for n in args.students]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="aula-janus-bench-") as tmp, \
            contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        host = stack.enter_context(TestHost.create("aula-janus")) if "janus" in args.systems else None
        redis = None
        if "aula" in args.systems:
            redis, redis_url = start_redis(workdir)
            stack.callback(redis.stop)
        for scenario in scenarios:
            for system in args.systems:
                print(f"{system}: {scenario.name} N={scenario.size} (loadavg "
                      f"{loadavg()['1min']})", flush=True)
                if system == "aula":
                    assert redis is not None
                    run = run_aula(scenario, args, redis, redis_url, workdir)
                else:
                    assert host is not None
                    run = run_janus(scenario, args, host, workdir)
                result = await run_guarded(run, scenario, system)
                results.append(result)
                m = metrics(result)
                print(f"  {system} N={scenario.size}: {json.dumps(m)}", flush=True)
                if args.json:
                    write_json(args, results)
                await asyncio.sleep(2.0)  # let sockets close and CPU settle between runs
    return results


def janus_version() -> Optional[str]:
    executable = shutil.which("janus")
    if executable is None:
        return None
    import subprocess
    done = subprocess.run([executable, "--version"], capture_output=True, text=True, check=False)
    return next((line.split(":", 1)[1].strip() for line in done.stdout.splitlines()
                 if line.startswith("Janus version")), None)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.janus_side_by_side",
        description="Aula and Janus (VideoRoom) under the same class-shaped load.")
    parser.add_argument("--students", type=int, nargs="*", default=[10, 20, 30, 40, 50])
    add_load_arguments(parser, visible_videos=4)
    parser.add_argument("--reference-viewers", type=int, default=20, metavar="N",
                        help="first, 1 publisher (360p + Opus) → N viewers; 0 to skip")
    parser.add_argument("--systems", nargs="+", choices=("aula", "janus"),
                        default=["aula", "janus"])
    parser.add_argument("--janus-audio", choices=("talking", "all"), default="talking",
                        help="Janus subscribers take the talking microphones only (what Aula's "
                             "speaker selection forwards: the same packets) or every microphone "
                             "(N² audio streams that Janus forwards even when silent)")
    parser.add_argument("--json", help="write results here")
    parser.add_argument("--plot", help="write a PNG plot here (needs matplotlib)")
    parser.add_argument("--profile-dir", help="profile Aula with py-spy after each window")
    parser.add_argument("--profile-duration", type=float, default=20.0)
    parser.add_argument("--log-dir", default="", help="copy each run's server log here")
    args = parser.parse_args()
    # class_size's Aula runner reads these.
    args.record, args.audio_level, args.profile_speedscope = False, True, False
    args.student_audio = "quiet"
    args.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    args.loadavg_at_start = loadavg()
    args.janus_version = janus_version()
    if any(n < 1 or n > 100 for n in args.students):
        parser.error("--students must be between 1 and 100")
    if os.geteuid() != 0 and "janus" in args.systems:
        parser.error("Janus runs in a network namespace of its own: run as root")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    env = environment()
    print(f"Aula vs Janus {args.janus_version} on {env['cpus']} CPUs ({env['cpu_model']}), "
          f"aiortc {env['aiortc']}; loadavg {args.loadavg_at_start}", flush=True)

    results = run_event_loop(lambda: main_async(args))
    print()
    print_table(results)
    if args.json:
        write_json(args, results)
        print(f"\nJSON: {args.json}")
    if args.plot:
        plot(results, Path(args.plot))
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
