"""Throughput and latency measurements, run by `make bench` (`python -m benchmarks`).

Each module here exposes `run() -> list[Figure]`; `python -m benchmarks` runs them all and prints
the figures. They run against loopback fakes, never a real platform.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Figure:
    """One measured number, as printed: "telegram ours: updates/s 412.3"."""

    name: str
    value: float
    unit: str
    note: str = ""


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far (user + system, fields 14 and 15 of proc(5)), read from
    /proc: what the benchmarks compare per update, which the machine's load blurs far less than a
    rate. 0.0 for a process that has ended."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS
