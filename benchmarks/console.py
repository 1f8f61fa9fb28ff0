"""The staff console on SQLite: the queue page over 10,000 dossiers with filters (goal: p95 server
time ≤ 150 ms), the statistics page over 100,000 applications (goal ≤ 1 s), and the XLSX export of
10,000 rows (time; peak Python memory of the web process by tracemalloc, and the peak resident
memory of the worker process that writes the workbook).

"Server time" is measured by a middleware around the handler (session check, queries, template),
on a console served in-process on loopback, as `python -m bot run` serves it: wall-clock time, and
the process's CPU time over all its threads, database thread included (about what the wall time
would be on an idle machine; the benchmark machine is shared). During the export a ticker measures the longest stall of the event loop, i.e.
how long the web chat would wait behind it.

The statistics are measured cold (their short-lived memory emptied before each request, as after
any change staff would see) and kept. A 20,000-row certificate import through the console's
streamed import: time, and the loop's longest stall.

The import also reports how long SQLite's write lock was held, seen from outside: a second
connection tries `BEGIN IMMEDIATE` without waiting every millisecond, and the longest stretch it
was refused is how long an owner's message would have waited to be saved.

Run: `python -m benchmarks console` (or `python -m benchmarks.console import` for the import alone).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from benchmarks import Figure

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
COMMUNES = [
    f"Xã {name}" for name in ("Phú Vinh", "Tân Hưng", "Kim Sơn", "Phương Trung", "Chuông", "Bát Tràng")
] + [f"Xã Số {n}" for n in range(1, 25)]
PRODUCTS = ("Nón lá", "Giỏ mây", "Chiếu cói", "Gốm", "Mật ong", "Bánh đa", "Dao rèn", "Tương bần")
STATUSES = (
    ("submitted", 30),
    ("resubmitted", 5),
    ("under_review", 15),
    ("returned", 10),
    ("approved", 30),
    ("rejected", 10),
)
QUEUE_QUERIES = [
    "",
    "?status=open",
    "?q=non+la+12",  # accent-free name search over every facility
    "?q=KC-2611-0042",
    "?q=0100109",
    "?commune=X%C3%A3+Kim+S%C6%A1n&status=approved",
    "?sort=facility&dir=desc",
    "?page=120",
    "?held=free&programme=selection&level=province",
    "?from=2026-09-01&to=2026-10-31&sort=updated&dir=desc",
]


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _fill(path: Path, applications: int, drafts: float) -> None:
    rng = random.Random(12)
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    stamp = _ts(NOW)
    db.executemany(
        "insert into accounts (id, locale, announcements_opt_in, created_at) values (?, 'vi', 1, ?)",
        ((i, stamp) for i in range(1, applications + 1)),
    )
    facilities = []
    apps = []
    weights = [w for _, w in STATUSES]
    for i in range(1, applications + 1):
        product = PRODUCTS[i % len(PRODUCTS)]
        facilities.append(
            (
                i,
                i,
                f"Cơ sở {product} {i}",
                rng.choice(COMMUNES),
                f"{100_000_000 + i:010d}",
                f"09{i:08d}",
                product,
                stamp,
                stamp,
            )
        )
        submitted = NOW - timedelta(days=rng.uniform(0, 180))
        if rng.random() < drafts:
            status, when = "draft", None
            answers = {"programme": "selection", "level": "province", "product_group": "handicraft"}
            if rng.random() < 0.5:
                answers["made_in_house"] = "yes"
        else:
            status = rng.choices([s for s, _ in STATUSES], weights)[0]
            when = _ts(submitted)
            answers = {
                "programme": "selection",
                "product_name": f"{product} {i}",
                "level": rng.choice(["commune", "province", "region"]),
            }
        reviewer = "telegram:r1" if status == "under_review" and rng.random() < 0.7 else None
        apps.append(
            (
                i,
                i,
                status,
                json.dumps(answers, ensure_ascii=False),
                f"KC-2611-{i:05d}" if when else None,
                when or stamp,
                _ts(submitted + timedelta(days=rng.uniform(0, 5))),
                stamp,
                when,
                reviewer,
            )
        )
    db.executemany(
        "insert into facilities (id, account_id, name, kind, province, commune, commune_kind, craft_village, "
        "tax_code, contact_name, phone, products, created_at, updated_at) values "
        "(?, ?, ?, 'household', 'Hưng Yên', ?, 'commune', 0, ?, 'Chị Lan', ?, ?, ?, ?)",
        facilities,
    )
    db.executemany(
        "insert into applications (id, facility_id, programme, status, answers, receipt_code, created_at, "
        "updated_at, last_activity_at, submitted_at, reviewer) values (?, ?, 'selection', ?, ?, ?, ?, ?, ?, ?, ?)",
        apps,
    )
    db.commit()
    db.close()


async def _console(
    path: Path, timings: list[float], cpu_timings: list[float]
) -> tuple[TestClient, Callable[[], Awaitable[None]]]:
    from conversations.dialogue import Dialogue
    from conversations.programmes import load_programmes
    from handlers.console import setup_console
    from storage import staff
    from storage.db import create_engine, session_factory
    from storage.files import FileStore

    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    sessions = session_factory(engine)
    async with sessions() as s, s.begin():
        await staff.add_staff(s, channel="telegram", external_id="r1", role="reviewer", province="Hưng Yên")

    @web.middleware
    async def timed(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        started, cpu = time.perf_counter(), time.process_time()
        try:
            return await handler(request)
        finally:
            timings.append(time.perf_counter() - started)
            cpu_timings.append(time.process_time() - cpu)

    dialogue = Dialogue(
        programmes=load_programmes(), files=FileStore(path.parent / "files"), clock=lambda: _CLOCK[0]
    )
    app = web.Application(middlewares=[timed], client_max_size=20 * 1024 * 1024)  # as bot.assembly allows
    setup_console(app, sessions=sessions, dialogue=dialogue, public_base_url="http://127.0.0.1")
    client = TestClient(TestServer(app, host="127.0.0.1"), cookie_jar=aiohttp.CookieJar(unsafe=True))
    await client.start_server()
    from conversations.staff.web_login import login_link

    async with sessions() as s, s.begin():
        link = await login_link(s, "telegram", "r1", "", NOW)
    assert link is not None
    resp = await client.post(link)
    assert resp.status == 200
    timings.clear()
    cpu_timings.clear()

    async def close() -> None:
        await client.close()
        await engine.dispose()

    return client, close


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) >= 2 else values[0]


async def _migrated(path: Path) -> None:
    from storage.db import create_engine
    from storage.migrate import migrate

    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await migrate(engine)
    await engine.dispose()


async def _stall_during(work: Awaitable[object]) -> tuple[object, float, float]:
    """Run `work` while a ticker measures the event loop's longest stall: in wall time, and in
    the process's CPU time spent between two ticks (the work the loop waited behind, its own or a
    thread's holding the GIL). On a shared machine the wall figure also counts the time the
    whole process waited for a core; the CPU figure does not, nor work done in another process."""
    import asyncio

    worst = worst_cpu = 0.0
    done = False

    async def tick() -> None:
        nonlocal worst, worst_cpu
        while not done:
            before, cpu = time.perf_counter(), time.process_time()
            await asyncio.sleep(0.005)
            worst = max(worst, time.perf_counter() - before - 0.005)
            worst_cpu = max(worst_cpu, time.process_time() - cpu)

    ticker = asyncio.create_task(tick())
    try:
        result = await work
    finally:
        done = True
        await ticker
    return result, worst, worst_cpu


IMPORT_ROWS = 20_000
_CLOCK = [NOW]  # the console's clock; the import comes a while after signing in, as at a desk


def _certificate_list(rows: int) -> bytes:
    lines = ["Tên cơ sở,Mã số thuế,Sản phẩm,Cấp,Số giấy chứng nhận,Ngày cấp,Cơ quan cấp,Tỉnh"]
    lines += [
        f"Cơ sở số {n},,{PRODUCTS[n % len(PRODUCTS)]},tỉnh,{n}/GCN-HY,15/09/2025,UBND tỉnh Hưng Yên,Hưng Yên"
        for n in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


async def _import_figures(
    client: TestClient, timings: list[float], cpu: list[float], path: Path
) -> list[Figure]:
    """A 20,000-row certificate list through the console's streamed import: time, CPU, the loop's
    longest stall, how many progress lines the page received, and how long the write lock was
    held (seen by `_LockProbe`)."""
    import re

    page = await (await client.get("/staff/certificates")).text()
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found
    form = aiohttp.FormData()
    form.add_field("csrf", found.group(1))
    form.add_field("file", _certificate_list(IMPORT_ROWS), filename="ds.csv", content_type="text/csv")

    async def send() -> list[str]:
        resp = await client.post(
            "/staff/certificates/import", data=form, headers={"Accept": "application/x-ndjson"}
        )
        return (await resp.text()).splitlines()

    timings.clear()
    cpu.clear()
    _CLOCK[0] = NOW + timedelta(minutes=10)  # the request restarts the session's idle clock: a write
    try:
        with _LockProbe(path) as lock:
            lines, stall, stall_cpu = await _stall_during(send())
    finally:
        _CLOCK[0] = NOW
    assert isinstance(lines, list)
    assert '"ok": true' in lines[-1], lines[-1][:200]
    note = f"{len(lines) - 1} progress lines"
    return [
        Figure("certificate import, 20,000 rows: time", timings[-1] * 1000, "ms", note),
        Figure("certificate import, 20,000 rows: CPU", cpu[-1] * 1000, "ms", "all threads"),
        Figure(
            "certificate import, 20,000 rows: longest loop stall (CPU)",
            stall_cpu * 1000,
            "ms",
            f"wall stall {stall * 1000:.0f} ms",
        ),
        Figure(
            "certificate import, 20,000 rows: write lock held",
            lock.longest * 1000,
            "ms",
            f"longest stretch others could not write; {lock.total * 1000:.0f} ms in all",
        ),
        Figure(
            "certificate import, 20,000 rows: write lock held (CPU)",
            lock.longest_cpu * 1000,
            "ms",
            "the process's CPU time during that stretch, which load on a shared machine does not inflate",
        ),
    ]


async def import_only() -> list[Figure]:
    """The import's figures alone, on an empty registry (`python -m benchmarks.console import`)."""
    timings: list[float] = []
    cpu: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "import.db"
        await _migrated(path)
        client, close = await _console(path, timings, cpu)
        try:
            figures = await _import_figures(client, timings, cpu, path)
        finally:
            await close()
    figures.append(Figure("load average during the run", os.getloadavg()[0], "", "1 min, 2 cores shared"))
    return figures


class _LockProbe:
    """Measures from another connection how long the database's write lock stays taken: every
    millisecond a `BEGIN IMMEDIATE` that does not wait (refused while anyone holds the lock)."""

    def __init__(self, path: Path) -> None:
        import threading

        self._db = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
        self._stop = threading.Event()
        self.longest = 0.0
        self.total = 0.0
        self.longest_cpu = 0.0  # the process's CPU time (all threads) during the longest stretch
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        since: float | None = None
        since_cpu = 0.0
        while not self._stop.is_set():
            now, cpu = time.perf_counter(), time.process_time()
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("ROLLBACK")
                if since is not None:
                    if now - since > self.longest:
                        self.longest, self.longest_cpu = now - since, cpu - since_cpu
                    self.total += now - since
                    since = None
            except sqlite3.OperationalError:
                if since is None:
                    since, since_cpu = now, cpu
            time.sleep(0.001)

    def __enter__(self) -> _LockProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._db.close()


@contextlib.contextmanager
def _writer(mode: str) -> Iterator[None]:
    """Write export workbooks in the worker process (as the console does) or, to compare, in a
    thread as it did before."""
    from conversations.xlsx import xlsx_bytes
    from handlers.console import workbooks

    real = workbooks.workbook

    async def in_thread(
        title: str, headers: list[str], rows: Sequence[Sequence[Any]], widths: list[int]
    ) -> bytes:
        import asyncio

        return await asyncio.to_thread(xlsx_bytes, title, headers, [list(r) for r in rows], widths)

    if mode == "thread":
        workbooks.workbook = in_thread  # the benchmark's comparison only
    try:
        yield
    finally:
        workbooks.workbook = real


def _peak_rss() -> int:
    """In the export worker: its peak resident memory (KiB). VmHWM, not getrusage's ru_maxrss,
    which on Linux keeps the parent's size from before the spawn's exec."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def _worker_peak() -> int:
    import asyncio

    from handlers.console import workbooks

    return await asyncio.get_running_loop().run_in_executor(workbooks._executor(), _peak_rss)


async def run() -> list[Figure]:
    figures: list[Figure] = []
    timings: list[float] = []
    cpu: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "queue.db"
        await _migrated(path)
        _fill(path, 10_000, drafts=0.0)
        client, close = await _console(path, timings, cpu)
        try:
            for _ in range(6):
                for query in QUEUE_QUERIES:
                    resp = await client.get("/staff/" + query)
                    assert resp.status == 200, query
                    await resp.read()
            note = f"{len(timings)} requests, {len(QUEUE_QUERIES)} filter sets"
            figures.append(
                Figure("queue page, 10,000 dossiers: p95 wall", _p95(timings) * 1000, "ms", "goal ≤ 150")
            )
            figures.append(Figure("queue page, 10,000 dossiers: p95 CPU", _p95(cpu) * 1000, "ms", note))
            figures.append(
                Figure("queue page, 10,000 dossiers: median wall", statistics.median(timings) * 1000, "ms")
            )

            async def export() -> bytes:
                resp = await client.get("/staff/export/queue.xlsx")
                return await resp.read()

            idle = await _worker_peak()
            timings.clear()
            cpu.clear()
            data, _, _ = await _stall_during(export())
            assert isinstance(data, bytes)
            size = f"{len(data) // 1024} KB"
            figures.append(Figure("queue.xlsx, 10,000 rows: time", timings[-1] * 1000, "ms", size))
            figures.append(Figure("queue.xlsx, 10,000 rows: CPU", cpu[-1] * 1000, "ms", "all threads"))
            # The loop's longest stall, the workbook written in a thread (as before) or in the
            # worker process (now), interleaved so both see the same load on the shared machine.
            stalls: dict[str, list[float]] = {"thread": [], "process": []}
            cpu_stalls: dict[str, list[float]] = {"thread": [], "process": []}
            times: dict[str, list[float]] = {"thread": [], "process": []}
            for _ in range(3):
                for mode in ("thread", "process"):
                    with _writer(mode):
                        timings.clear()
                        _, stall, stall_cpu = await _stall_during(export())
                    stalls[mode].append(stall * 1000)
                    cpu_stalls[mode].append(stall_cpu * 1000)
                    times[mode].append(timings[-1] * 1000)
            for mode in ("thread", "process"):
                figures.append(
                    Figure(
                        f"queue.xlsx, 10,000 rows: longest loop stall (CPU), {mode}",
                        statistics.median(cpu_stalls[mode]),
                        "ms",
                        f"median of 3 interleaved; wall stall {statistics.median(stalls[mode]):.0f} ms; "
                        f"time {statistics.median(times[mode]):.0f} ms",
                    )
                )
            tracemalloc.start()
            await export()
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            figures.append(
                Figure(
                    "queue.xlsx, 10,000 rows: peak memory", peak / 2**20, "MiB", "tracemalloc, web process"
                )
            )
            figures.append(
                Figure(
                    "queue.xlsx, 10,000 rows: worker peak RSS",
                    await _worker_peak() / 1024,
                    "MiB",
                    f"export worker process; {idle / 1024:.0f} MiB before the first export",
                )
            )
            figures += await _import_figures(client, timings, cpu, path)
        finally:
            await close()

        path = Path(tmp) / "stats.db"
        await _migrated(path)
        _fill(path, 100_000, drafts=0.2)
        timings.clear()
        cpu.clear()
        client, close = await _console(path, timings, cpu)
        try:
            from storage import console_stats

            for _ in range(5):  # cold: as after any change a staff member would see
                console_stats._KEPT.clear()
                resp = await client.get("/staff/stats")
                assert resp.status == 200
                await resp.read()
            cold, cold_cpu = list(timings), list(cpu)
            timings.clear()
            cpu.clear()
            for _ in range(5):  # kept: nothing changed since the last view
                await (await client.get("/staff/stats")).read()
            figures.append(
                Figure(
                    "stats page, 100,000 applications: max wall", max(cold) * 1000, "ms", "goal ≤ 1000; cold"
                )
            )
            figures.append(
                Figure(
                    "stats page, 100,000 applications: median wall",
                    statistics.median(cold) * 1000,
                    "ms",
                    "cold",
                )
            )
            figures.append(
                Figure("stats page, 100,000 applications: max CPU", max(cold_cpu) * 1000, "ms", "cold")
            )
            figures.append(
                Figure(
                    "stats page, 100,000 applications: median wall, kept",
                    statistics.median(timings) * 1000,
                    "ms",
                    f"figures kept; CPU {statistics.median(cpu) * 1000:.1f} ms",
                )
            )
        finally:
            await close()
        figures.append(Figure("load average during the run", os.getloadavg()[0], "", "1 min, 2 cores shared"))
    return figures


if __name__ == "__main__":
    import asyncio
    import sys

    for figure in asyncio.run(import_only() if sys.argv[1:] == ["import"] else run()):
        print(figure)
