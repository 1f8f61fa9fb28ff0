"""Throughput and latency measurements, run by `make bench` (`python -m benchmarks`).

Each module here exposes `run() -> list[Figure]`; `python -m benchmarks` runs them all and prints
the figures. They run against loopback fakes, never a real platform.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured number, as printed: "telegram ours: updates/s 412.3"."""

    name: str
    value: float
    unit: str
    note: str = ""
