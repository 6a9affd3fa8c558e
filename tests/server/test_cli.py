"""`aula serve` as an operator runs it: one command, its own redis-server, clean shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tests.conftest import free_port


def wait_for_health(port: int, process: subprocess.Popen, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                return json.loads(response.read())
        except OSError:
            assert time.monotonic() < deadline, "the server never became healthy"
            time.sleep(0.2)


def test_serve_starts_its_own_redis_prints_a_key_and_stops_it_again(tmp_path: Path):
    port = free_port()
    data_dir = tmp_path / "data"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("AULA_API_KEY", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(data_dir), "--ice-addresses", "127.0.0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        cwd=Path(__file__).resolve().parents[2])
    try:
        health = wait_for_health(port, process)
        assert health["redis"] == {"reachable": True, "embedded": True}
        assert health["transcription"] == "off"
        assert processes_under("redis-server", data_dir), "no embedded redis-server is running"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    assert "API key (generated" in output
    assert not processes_under("redis-server", data_dir), "the embedded redis-server outlived the server"


def processes_under(name: str, directory: Path) -> list[str]:
    result = subprocess.run(["pgrep", "-af", name], capture_output=True, text=True)
    return [line for line in result.stdout.splitlines() if str(directory) in line]


def api(port: int, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST" if body else "GET",
                                     data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": "Bearer k", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_serve_runs_the_workflows_too_and_stops_them_with_it(tmp_path: Path):
    """The run command is the whole product: a no-show is written to the student's record by the
    `aula worker` that `aula serve` runs as its child."""
    port = free_port()
    data_dir = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(port), "--api-key", "k",
         "--data-dir", str(data_dir), "--ice-addresses", "127.0.0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=Path(__file__).resolve().parents[2])
    try:
        wait_for_health(port, process)
        start = datetime.now(timezone.utc)
        session = api(port, "/api/sessions", {
            "title": "Algebra 1", "scheduled_start": start.isoformat(),
            "scheduled_end": (start + timedelta(hours=1)).isoformat(),
            "roster": [{"identity": "cy", "name": "Cy", "guardian": None}], "settings": {"no_show_after_s": 1}})
        deadline = time.monotonic() + 30
        while not (record := api(port, "/api/students/cy"))["sessions"]:
            assert time.monotonic() < deadline, "the embedded worker never recorded the no-show"
            time.sleep(0.3)
        assert record["sessions"][0]["session_id"] == session["id"]
        assert record["sessions"][0]["category"] == "unexcused_absence"
        assert processes_under("embedded-worker", data_dir)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    assert not processes_under("embedded-worker", data_dir), "the worker outlived the server"


def test_a_server_killed_with_9_leaves_no_orphan_worker_or_redis(tmp_path: Path):
    port = free_port()
    data_dir = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(port), "--api-key", "k",
         "--data-dir", str(data_dir), "--ice-addresses", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[2])
    wait_for_health(port, process)
    deadline = time.monotonic() + 20
    while not processes_under("embedded-worker", data_dir):
        assert time.monotonic() < deadline, "no embedded worker started"
        time.sleep(0.2)
    process.kill()
    process.wait()
    deadline = time.monotonic() + 10
    while processes_under("embedded-worker", data_dir) or processes_under("redis-server", data_dir):
        assert time.monotonic() < deadline, "a child outlived the killed server"
        time.sleep(0.2)


def test_flags_fall_back_to_environment_variables(monkeypatch):
    from server.config import parse_serve_args

    monkeypatch.setenv("AULA_PORT", "9123")
    monkeypatch.setenv("AULA_REDIS_URL", "redis://127.0.0.1:6390/0")
    monkeypatch.setenv("AULA_ICE_ADDRESSES", "127.0.0.1, 10.0.0.5")
    settings = parse_serve_args([])
    assert settings.port == 9123 and settings.redis_url == "redis://127.0.0.1:6390/0"
    assert settings.ice_addresses == ("127.0.0.1", "10.0.0.5")
    assert parse_serve_args(["--port", "9000"]).port == 9000
