"""CPU time of processes and of the whole machine, from /proc (no psutil needed)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process so far (0.0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0.0
    # The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S


@dataclass(frozen=True, slots=True)
class MachineCpu:
    """Cumulative busy and total CPU seconds of every core together."""

    busy_s: float
    total_s: float

    @classmethod
    def now(cls) -> MachineCpu:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:9]]
        idle = values[3] + values[4]  # idle + iowait
        return cls((sum(values) - idle) / _TICKS_PER_S, sum(values) / _TICKS_PER_S)

    def busy_share_since(self, earlier: MachineCpu) -> float:
        """Fraction of all cores busy (0..1) between `earlier` and this sample."""
        total = self.total_s - earlier.total_s
        return (self.busy_s - earlier.busy_s) / total if total > 0 else 0.0


def rss_kib(pid: int | None) -> int:
    """A process's resident memory (KiB), 0 when it is gone."""
    if pid is None:
        return 0
    try:
        with open(f"/proc/{pid}/status") as f:
            found = re.search(r"VmRSS:\s+(\d+)", f.read())
    except OSError:
        return 0
    return int(found.group(1)) if found else 0


def load_average() -> tuple[float, float, float]:
    one, five, fifteen = os.getloadavg()
    return round(one, 2), round(five, 2), round(fifteen, 2)


def wait_until_quiet(max_wait_s: float, busy_below: float = 0.2, sample_s: float = 2.0) -> float:
    """Wait (at most `max_wait_s`) until the machine is less than `busy_below` busy over a sample;
    returns the last busy share seen, so the caller can say it measured on a busy machine."""
    deadline = time.monotonic() + max_wait_s
    while True:
        before = MachineCpu.now()
        time.sleep(sample_s)
        busy = MachineCpu.now().busy_share_since(before)
        if busy < busy_below or time.monotonic() >= deadline:
            return busy
        print(
            f"   machine {100 * busy:.0f}% busy (other processes); waiting for it to quieten ...", flush=True
        )


@dataclass(frozen=True, slots=True)
class CpuUsage:
    by_group: dict[str, float]  # CPU seconds
    elapsed_s: float
    machine_busy: float  # 0..1 of all cores


class CpuMeter:
    """CPU seconds of groups of processes over an interval, and how busy the whole machine was.

    `fixed` are the groups' processes, known at the start; `dynamic()` names processes that may
    appear during the interval (database backends), each with its group, and is asked at both ends.
    """

    def __init__(self, fixed: dict[str, list[int]], dynamic: Callable[[], dict[int, str]]) -> None:
        self.fixed = fixed
        self._dynamic = dynamic
        self._before: dict[int, float] = {}
        self._machine = MachineCpu(0.0, 0.0)
        self._started = 0.0

    def start(self) -> None:
        pids = [pid for group in self.fixed.values() for pid in group] + list(self._dynamic())
        self._before = {pid: process_cpu_s(pid) for pid in pids}
        self._machine = MachineCpu.now()
        self._started = time.monotonic()

    def stop(self) -> CpuUsage:
        members = {pid: name for name, group in self.fixed.items() for pid in group} | self._dynamic()
        used: dict[str, float] = dict.fromkeys(self.fixed, 0.0)
        for pid, name in members.items():
            used[name] = used.get(name, 0.0) + process_cpu_s(pid) - self._before.get(pid, 0.0)
        return CpuUsage(
            used, time.monotonic() - self._started, MachineCpu.now().busy_share_since(self._machine)
        )
