"""Python's cyclic garbage collector, set for a process that serves updates for days.

Measured in a worker under benchmarks/pg_workers.py's load (50 owners at once, webhook,
PostgreSQL): the collector took 0.5 ms of CPU per update, 11-15 % of the worker's, most of it in
full collections that walk every object the process holds (the programmes, the catalogs,
SQLAlchemy's mappers and compiled statements, PTB's classes: ~150,000 objects made at start-up
and never freed), and the rest in young collections every 700 net allocations, which an update
of PTB objects, ORM rows and asyncio tasks makes several times over. Almost everything an update
makes is freed by reference counting when it ends; the collector is only needed for the few
cycles (a traceback, a task's future), which can wait a little longer.

So, once the process is up: what exists is moved out of the collector's sight (`gc.freeze`, as
CPython's documentation suggests for a server after start-up: it is still freed normally if its
last reference goes), and a young collection runs every GEN0_THRESHOLD net allocations instead
of 700. Measured the same way: 0.51-0.61 -> 0.01-0.08 ms per update (two runs each). Cyclic garbage waits for the next
collection, at most GEN0_THRESHOLD objects: a few megabytes at worst, against a process of 150.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

GEN0_THRESHOLD = 10_000  # CPython's default: 700


@contextmanager
def settled_heap() -> Iterator[None]:
    """Around a process's (or a benchmark run's) serving: start-up's objects frozen, young
    collections less often; the collector as it was afterwards."""
    before = gc.get_threshold()
    gc.collect()  # start-up's garbage gone first, so none of it is frozen for good
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
