"""CPU and memory of processes and of the machine, read from /proc (Linux only)."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Optional

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class ProcSample:
    user_s: float
    sys_s: float
    rss_bytes: int
    threads: int
    # utime + stime of the main thread alone (a server's event loop).
    main_thread_s: float = 0.0

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s


def read_process(pid: int, main_thread: bool = False) -> Optional[ProcSample]:
    """utime + stime of all the process's threads (not its children), RSS and thread count;
    with `main_thread`, the main thread's utime + stime too (a server's event loop)."""
    fields = _stat_fields(f"/proc/{pid}/stat")
    if fields is None:
        return None
    # fields[0] is field 3 (state): utime is field 14, stime 15, num_threads 20, rss 24.
    utime, stime = int(fields[11]), int(fields[12])
    threads, rss_pages = int(fields[17]), int(fields[21])
    main_thread_s = 0.0
    if main_thread:
        task = _stat_fields(f"/proc/{pid}/task/{pid}/stat")
        if task is not None:
            main_thread_s = (int(task[11]) + int(task[12])) / CLOCK_TICKS
    return ProcSample(utime / CLOCK_TICKS, stime / CLOCK_TICKS, rss_pages * PAGE_SIZE, threads,
                      main_thread_s)


def _stat_fields(path: str) -> Optional[list[str]]:
    """A /proc stat file's fields from the third (state) on; None if the process is gone."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read().decode()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2:].split()


def udp_drops(pid: int) -> int:
    """Datagrams the kernel dropped so far because one of the process's UDP sockets was full
    (its receive buffer), summed over the sockets it holds now; read in the process's own
    network namespace."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue  # closed meanwhile
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except (FileNotFoundError, ProcessLookupError):
        return 0
    drops = 0
    for table in ("udp", "udp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as handle:
                lines = handle.readlines()[1:]
        except (FileNotFoundError, ProcessLookupError):
            continue
        for line in lines:
            fields = line.split()
            # sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
            if fields[9] in inodes:
                drops += int(fields[12])
    return drops


def open_fds(pid: int) -> Optional[int]:
    """How many file descriptors the process holds (sockets, pipes, files)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return None


def fd_kinds(pid: int) -> dict[str, int]:
    """The process's file descriptors by kind: socket, pipe, anon_inode:[eventfd], file..."""
    kinds: Counter[str] = Counter()
    directory = f"/proc/{pid}/fd"
    for entry in os.listdir(directory):
        try:
            target = os.readlink(f"{directory}/{entry}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("anon_inode:"):  # [eventfd], [eventpoll], [timerfd]
            kinds[target] += 1
        elif ":[" in target:  # socket:[inode], pipe:[inode]
            kinds[target.split(":[", 1)[0]] += 1
        else:
            kinds["file"] += 1
    return dict(sorted(kinds.items()))


def thread_names(pid: int) -> dict[str, int]:
    """The process's threads by name (/proc/<pid>/task/*/comm): which kind of thread grows."""
    names: Counter[str] = Counter()
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/comm") as handle:
                names[handle.read().strip()] += 1
        except OSError:  # ended meanwhile
            continue
    return dict(sorted(names.items()))


def resident_by_kind(pid: int) -> dict[str, int]:
    """The process's resident bytes by kind of mapping (/proc/<pid>/smaps): `heap` (the main
    malloc arena: CPython's large objects, C extensions' buffers), `anonymous` (other threads'
    malloc arenas, large mmap'd blocks, CPython's object arenas), `files` (code and data of the
    libraries and files mapped), `stack`. Where a growth of RSS lives says what grows."""
    kinds: Counter[str] = Counter()
    kind = "anonymous"
    with open(f"/proc/{pid}/smaps") as handle:
        for line in handle:
            first, _, rest = line.partition(" ")
            if first == "Rss:":
                kinds[kind] += int(rest.split()[0]) * 1024
            elif "-" in first and not first.endswith(":"):  # a mapping's header line
                fields = line.split(None, 5)
                path = fields[5].strip() if len(fields) > 5 else ""
                kind = ("heap" if path == "[heap]" else "stack" if path.startswith("[stack")
                        else "anonymous" if not path or path.startswith("[anon")
                        else "other" if path.startswith("[") else "files")
    return dict(kinds)


@dataclass(frozen=True)
class MachineSample:
    busy_s: float
    total_s: float
    steal_s: float


def read_machine() -> MachineSample:
    """Aggregate CPU time of all cores: busy (not idle/iowait), total, and steal."""
    with open("/proc/stat") as handle:
        parts = handle.readline().split()
    values = [int(v) / CLOCK_TICKS for v in parts[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (values + [0.0] * 8)[:8]
    total = user + nice + system + idle + iowait + irq + softirq + steal
    return MachineSample(busy_s=total - idle - iowait, total_s=total, steal_s=steal)


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))


def read_all_processes() -> dict[int, float]:
    """CPU seconds (user+sys) of every process visible in /proc, by pid.

    Used to see what else runs on the machine: in some sandboxes /proc/stat is not the
    machine's, while per-process counters are.
    """
    out: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            sample = read_process(int(entry))
            if sample is not None:
                out[int(entry)] = sample.cpu_s
    return out


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two `read_all_processes` (new processes count in full)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
