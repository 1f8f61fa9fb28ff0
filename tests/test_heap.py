"""The collector setting a serving process runs with (handlers/heap.py): start-up's objects out of
its way, yet a cycle made while serving is still freed without anyone asking, and the
collector is as it was once serving ends (a benchmark runs our bot and the peers in turn)."""

from __future__ import annotations

import gc
import weakref

from handlers.heap import GEN0_THRESHOLD, settled_heap


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: reference counting alone never frees it


def test_a_cycle_made_while_serving_is_freed_by_the_collector_on_its_own() -> None:
    before = gc.get_threshold()
    with settled_heap():
        assert gc.get_freeze_count() > 0  # what start-up made is out of the collector's sight
        node = _Node()
        gone = weakref.ref(node)
        del node
        assert gone() is not None  # garbage, waiting for a collection
        kept: list[list[object]] = [
            [] for _ in range(GEN0_THRESHOLD * 2)
        ]  # what an hour of updates allocates
        assert gone() is None  # collected without a gc.collect() call
        del kept
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
