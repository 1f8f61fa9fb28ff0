"""Writing export workbooks in a worker process, so the event loop keeps serving the web chat.

openpyxl is pure Python: 10,000 rows are about a second of CPU, and in a thread it holds the
GIL in long stretches (the loop stalled ~0.2 s per export, measured by benchmarks/console.py).
In a separate process it costs the loop only pickling the rows there (slice by slice: 10,000 rows
pickled as one object held the GIL ~0.1 s) and the bytes back.

One pool of one process per web worker, started on the first export ("spawn": forking a process
that runs aiosqlite's threads is unsafe) and shut down with the app. The child imports only
`conversations.xlsx` (openpyxl), not the bot. If the child dies, the pool is rebuilt and that
export is written in a thread instead: slower for the loop, but the download still arrives.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import pickle
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from aiohttp import web

from conversations.xlsx import xlsx_from_slices

log = logging.getLogger(__name__)
SLICE = 500  # rows pickled at a time, the event loop serving others between slices
TASKS_PER_CHILD = 200  # a fresh child now and then returns the memory a huge export took

_pool: ProcessPoolExecutor | None = None


def _executor() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            max_tasks_per_child=TASKS_PER_CHILD,
        )
    return _pool


async def workbook(title: str, headers: list[str], rows: Sequence[Sequence[Any]], widths: list[int]) -> bytes:
    """The XLSX bytes of one sheet (`conversations.xlsx.xlsx_bytes`), written in the worker process."""
    global _pool
    loop = asyncio.get_running_loop()
    slices = []
    for start in range(0, len(rows), SLICE):
        slices.append(
            pickle.dumps([list(row) for row in rows[start : start + SLICE]], pickle.HIGHEST_PROTOCOL)
        )
        await asyncio.sleep(0)
    try:
        return await loop.run_in_executor(_executor(), xlsx_from_slices, title, headers, slices, widths)
    except BrokenProcessPool:
        log.warning("export worker process died; writing this workbook in a thread")
        _pool = None
        return await asyncio.to_thread(xlsx_from_slices, title, headers, slices, widths)


async def close(_: web.Application | None = None) -> None:
    """Stop the worker process (the app's cleanup)."""
    global _pool
    pool, _pool = _pool, None
    if pool is not None:
        await asyncio.to_thread(pool.shutdown, True, cancel_futures=True)
