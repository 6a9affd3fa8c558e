"""Kill -9 a real `aula worker` in the middle of a burst of no-shows, start another: every guardian
still gets their notice, every absence is recorded, and nothing is sent twice (at most the one
notice in flight at the kill, with the same Message-ID, so a mail system drops the copy)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from aiosmtpd.controller import Controller

from tests.conftest import Mailbox, free_port, fresh_group, iso
from workflows.worker import GROUP

STUDENTS = [f"s{n:02d}" for n in range(12)]


class SlowMailbox(Mailbox):
    """Takes 0.3 s per message, so a burst is still being sent when the worker is killed."""

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        await asyncio.sleep(0.3)
        return await super().handle_DATA(server, session, envelope)


def start_worker(name: str, redis_url: str, config: Path, data_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "server", "worker", "--redis-url", redis_url, "--config", str(config),
         "--data-dir", str(data_dir), "--name", name, "--claim-idle", "1", "--no-summaries"],
        cwd=Path(__file__).resolve().parents[2], env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def test_a_worker_killed_mid_burst_loses_nothing_and_sends_nothing_twice(aula_server, redis_server, tmp_path):
    box = SlowMailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    config = tmp_path / "rules.toml"
    config.write_text(f'[smtp]\nhost = "127.0.0.1"\nport = {controller.port}\nfrom = "School <office@school.example>"\n'
                      "[retry]\nmax_attempts = 2\nbase_s = 0.1\ntimeout_s = 2\n")
    await fresh_group(aula_server, GROUP)
    workers = [start_worker("w1", redis_server.url, config, tmp_path / "w1")]
    try:
        roster = [{"identity": who, "name": who.upper(), "guardian": {"name": "Parent", "email": f"{who}@home.example"}}
                  for who in STUDENTS]
        session = await aula_server.create_session(roster=roster, scheduled_start=iso(), settings={"no_show_after_s": 1})
        deadline = time.monotonic() + 30
        while len(box.messages) < 3:
            assert time.monotonic() < deadline, "the first worker sent nothing"
            await asyncio.sleep(0.05)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait()
        killed_after = len(box.messages)
        workers.append(start_worker("w2", redis_server.url, config, tmp_path / "w2"))
        deadline = time.monotonic() + 40
        while {m["To"] for m in box.messages} != {f"{who}@home.example" for who in STUDENTS}:
            assert time.monotonic() < deadline, f"{len(box.messages)} notices arrived"
            await asyncio.sleep(0.1)
        await asyncio.sleep(2.0)  # anything sent twice would arrive by now
        events = await aula_server.session_events(session["id"])
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(timeout=10)
        controller.stop()
    assert 3 <= killed_after < len(STUDENTS)
    copies = Counter(m["Message-ID"] for m in box.messages)
    assert len(copies) == len(STUDENTS)
    assert sum(n - 1 for n in copies.values()) <= 1, copies
    flags = Counter(e["participant"] for e in events if e["type"] == "flag.raised")
    assert set(flags) == set(STUDENTS) and sum(flags.values()) <= len(STUDENTS) + 1
    for who in STUDENTS:
        async with aula_server.http.get(f"{aula_server.base_url}/api/students/{who}", headers=aula_server.headers) as r:
            record = await r.json()
        assert [s["category"] for s in record["sessions"]] == ["unexcused_absence"]
