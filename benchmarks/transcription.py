"""Transcription: real-time factor per call, end of utterance → final latency, and how many
people can speak at once before finals fall behind.

    python -m benchmarks.transcription --dims tiny base --speakers 1 2 4 6 \
        --json benchmarks/results/transcription.json

Models are built locally with random weights at Whisper tiny's and base's real dimensions
(transcription/random_model.py): their text is garbage, their cost is real. Random weights never
emit end-of-text, so every decode is capped at `--tokens` (about what 5 s of speech needs).

Each speaker is the product's own SpeakerStream (Silero VAD, utterances, partials, finals) fed
espeak-ng sentences in real time, 20 ms at a time, with pauses between sentences, all sharing
one RecognitionScheduler as a node does. Latency is measured from the true end of each
sentence (the wall time its last sample was fed) to the delivery of its final, so it includes
the VAD's 0.5 s of silence that ends an utterance. The RTP/Opus path is left out: it is the
media benchmark's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from typing import Any

import numpy as np

from tests.synthetic import espeak
from transcription.faster_whisper_engine import FasterWhisperEngine, WhisperSettings
from transcription.random_model import DIMS, build
from transcription.scheduler import RecognitionScheduler
from transcription.speaker_stream import SpeakerStream, Transcript
from transcription.vad import SileroModel, VadSettings


RATE = 16000
BLOCK = 320
SENTENCES = ["Today we will look at how plants turn sunlight into sugar.",
             "Can you explain the second step again please?",
             "The chloroplast is where photosynthesis happens.",
             "Water and carbon dioxide go in, oxygen comes out.",
             "I think the answer is the leaf.",
             "Write down the equation before the end of class."]
PAUSE_S = 1.2


def speech_script(seed: int, duration_s: float) -> tuple[np.ndarray, list[float]]:
    """Sentences with pauses, about `duration_s` long; returns the audio and each sentence's end."""
    rng = np.random.default_rng(seed)
    voices = [espeak(s, RATE).astype(np.float32) / 32768 for s in SENTENCES]
    parts = [np.zeros(int(rng.uniform(0.2, 2.0) * RATE), np.float32)]
    ends, at = [], len(parts[0]) / RATE
    while at < duration_s:
        voice = voices[int(rng.integers(len(voices)))]
        pause = np.zeros(int(PAUSE_S * RATE), np.float32)
        parts += [voice, pause]
        at += len(voice) / RATE
        ends.append(at)
        at += PAUSE_S
    return np.concatenate(parts), ends


def call_cost(engine: FasterWhisperEngine, seconds: float, repeats: int = 5) -> float:
    audio = espeak(" ".join(SENTENCES), RATE).astype(np.float32)[: int(seconds * RATE)] / 32768
    engine.transcribe(audio, final=True)
    began = time.perf_counter()
    for _ in range(repeats):
        engine.transcribe(audio, final=True)
    return (time.perf_counter() - began) / repeats


def run_speakers(engine: FasterWhisperEngine, workers: int, speakers: int,
                 duration_s: float) -> dict[str, Any]:
    scheduler = RecognitionScheduler(engine, workers)
    silero = SileroModel()
    lock = threading.Lock()
    finals: list[tuple[str, Transcript, float]] = []

    def collect(speaker: str):
        def on_transcript(transcript: Transcript) -> None:
            if transcript.final:
                with lock:
                    finals.append((speaker, transcript, time.monotonic()))
        return on_transcript

    scripts = [speech_script(seed, duration_s) for seed in range(speakers)]
    streams = [SpeakerStream(f"s{i}", silero, scheduler, collect(f"s{i}")) for i in range(speakers)]
    began = time.monotonic() + 0.5
    cpu_before = time.process_time()

    def feed(stream: SpeakerStream, audio: np.ndarray) -> None:
        for first in range(0, len(audio), BLOCK):
            time.sleep(max(0.0, began + first / RATE - time.monotonic()))
            stream.feed(audio[first:first + BLOCK], first / RATE)

    threads = [threading.Thread(target=feed, args=(stream, audio)) for stream, (audio, _) in zip(streams, scripts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for stream in streams:
        stream.close()
    deadline = time.monotonic() + 60
    while any(stream.finals_pending for stream in streams) and time.monotonic() < deadline:
        time.sleep(0.05)
    wall = time.monotonic() - began
    cpu = time.process_time() - cpu_before
    metrics = scheduler.metrics()
    scheduler.close()

    latencies, after_endpoint = [], []
    for index, (_, ends) in enumerate(scripts):
        mine = sorted((t for s, t, _ in finals if s == f"s{index}"), key=lambda t: t.start)
        delivered = {t.utterance: at for s, t, at in finals if s == f"s{index}"}
        for transcript in mine:
            # The sentence this utterance ended with: the true end nearest the VAD's end.
            truth = min(ends, key=lambda end: abs(end - transcript.end))
            if abs(truth - transcript.end) < 0.5:
                latencies.append(delivered[transcript.utterance] - (began + truth))
                # From the moment the VAD called the utterance over (its silence had lasted).
                endpoint = began + transcript.end + VadSettings().min_silence_s
                after_endpoint.append(delivered[transcript.utterance] - endpoint)
    latencies.sort()
    after_endpoint.sort()
    sentences = sum(len(ends) for _, ends in scripts)
    return {
        "speakers": speakers, "sentences": sentences, "finals": len(finals),
        "final_latency_p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "final_latency_p95_s": round(latencies[int(len(latencies) * 0.95)], 3) if latencies else None,
        "final_latency_max_s": round(latencies[-1], 3) if latencies else None,
        "after_endpoint_p50_s": round(statistics.median(after_endpoint), 3) if after_endpoint else None,
        "after_endpoint_p95_s": round(after_endpoint[int(len(after_endpoint) * 0.95)], 3) if after_endpoint else None,
        "partials_done": metrics["partials_done"], "partials_dropped": metrics["partials_dropped"],
        "cpu_cores": round(cpu / wall, 2),
        "real_time_factor": metrics["real_time_factor"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", nargs="+", default=["tiny", "base"], choices=sorted(DIMS))
    parser.add_argument("--speakers", nargs="+", type=int, default=[1, 2, 4, 6])
    parser.add_argument("--duration", type=float, default=40.0, help="seconds of speech per speaker")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--json")
    args = parser.parse_args()

    results: dict[str, Any] = {"args": vars(args), "dims": {}}
    with tempfile.TemporaryDirectory() as models:
        for name in args.dims:
            model = build(os.path.join(models, name), DIMS[name])
            engine = FasterWhisperEngine(WhisperSettings(
                model, device=args.device, compute_type=args.compute_type, cpu_threads=args.threads,
                workers=args.workers, max_tokens=args.tokens, fallback_temperatures=()))
            costs = {f"{s:g}s": round(call_cost(engine, s), 3) for s in (2.0, 5.0, 10.0)}
            print(f"\n{name}: one decode (cap {args.tokens} tokens), {args.threads} thread(s): "
                  + ", ".join(f"{k} of audio {v:.3f} s" for k, v in costs.items()))
            rows = []
            print("final latency: from the true end of speech, and from the VAD's endpoint (0.5 s later)")
            print(f"{'speakers':>8} {'finals':>7} {'p50 s':>7} {'p95 s':>7} {'max s':>7} "
                  f"{'ep p50':>7} {'ep p95':>7} {'partials':>9} {'dropped':>8} {'cores':>6}")
            for speakers in args.speakers:
                row = run_speakers(engine, args.workers, speakers, args.duration)
                rows.append(row)
                print(f"{speakers:>8} {row['finals']:>7} {row['final_latency_p50_s']!s:>7} "
                      f"{row['final_latency_p95_s']!s:>7} {row['final_latency_max_s']!s:>7} "
                      f"{row['after_endpoint_p50_s']!s:>7} {row['after_endpoint_p95_s']!s:>7} "
                      f"{row['partials_done']:>9} {row['partials_dropped']:>8} {row['cpu_cores']:>6}")
            results["dims"][name] = {"decode_s": costs, "speakers": rows}
    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
