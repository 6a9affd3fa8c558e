"""`aula serve` as an operator runs it: one command, its own redis-server, clean shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
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


def redis_processes_under(directory: Path) -> list[str]:
    result = subprocess.run(["pgrep", "-af", "redis-server"], capture_output=True, text=True)
    return [line for line in result.stdout.splitlines() if str(directory) in line]


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
        assert redis_processes_under(data_dir), "no embedded redis-server is running"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    assert "API key (generated" in output
    assert not redis_processes_under(data_dir), "the embedded redis-server outlived the server"


def test_flags_fall_back_to_environment_variables(monkeypatch):
    from server.config import parse_serve_args

    monkeypatch.setenv("AULA_PORT", "9123")
    monkeypatch.setenv("AULA_REDIS_URL", "redis://127.0.0.1:6390/0")
    monkeypatch.setenv("AULA_ICE_ADDRESSES", "127.0.0.1, 10.0.0.5")
    settings = parse_serve_args([])
    assert settings.port == 9123 and settings.redis_url == "redis://127.0.0.1:6390/0"
    assert settings.ice_addresses == ("127.0.0.1", "10.0.0.5")
    assert parse_serve_args(["--port", "9000"]).port == 9000
