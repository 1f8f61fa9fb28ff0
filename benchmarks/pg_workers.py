"""PostgreSQL: does a second worker process add throughput? (issue 14: two workers ≥ 1.5× one)

The same load against one `python -m bot run` and against two sharing one PostgreSQL database
(a throwaway one): USERS Telegram users at once, each typing LENGTH messages of the application
journey, the next as soon as the previous one is answered (closed loop). Several workers take
Telegram by webhook (README, "Several workers"), so the load driver plays Telegram: it POSTs
each update to a worker's webhook, in turn to each worker as a load balancer would (one user's
consecutive messages reach different workers), on keep-alive connections, and the request
returns once the update is handled and its replies sent to the fake Bot API, which must then have
received as many as the journey's step has. Driver and fake are benchmarks/_rig.py, a lean
HTTP/1.1 server and client in a process of their own whose CPU is read apart (what it takes is the
workers' and PostgreSQL's to lose: in production Telegram is not on our machine). One worker and
two alternate over ROUNDS rounds; medians count, and the ratio is also taken within each round (its
one-worker and two-worker runs are seconds apart), which the machine's swings from minute to minute
blur less.

This machine has two cores, shared by the driver, the fake Bot API, PostgreSQL and the workers
(and by whatever else runs). Each run says, so a reader can tell a ratio bounded by the machine
from one bounded by the bot:
- the share of one core every process used (utime + stime from /proc/<pid>/stat over the run);
- how many of the database's backends wait on a lock, sampled from pg_stat_activity: what
  would show something of ours (an advisory lock, a hot row, a table lock) serialising them;
- the CPU time per update of the workers, of PostgreSQL and of the driver, which the load
  blurs less than a rate: two workers spending no more per update than one pay nothing for
  each other. From those costs, the ratio an idle machine of this many cores would allow (one
  worker uses one core at most; every process shares them all) is printed beside the measured
  one.
The load average is printed at the start and at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from benchmarks import TICKS, Figure, cpu_seconds

USERS = 50
LENGTH = 20  # messages per user
WARMUP_USERS = USERS  # every slot and pooled connection warmed (prepared statements), not only some
WARMUP_LENGTH = 3
ROUNDS = 5
GOAL = 1.5
SECRET = "pg-workers-bench"


def run() -> list[Figure]:
    return asyncio.run(_run())


async def _run() -> list[Figure]:
    from benchmarks._rig import rig
    from benchmarks.memory import seed
    from benchmarks.telegram_throughput import _postgres_database

    load_start = os.getloadavg()
    print(f"  load average at start: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}", flush=True)
    rates: dict[int, list[float]] = {1: [], 2: []}
    shares: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    costs: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    locked: dict[int, list[float]] = {1: [], 2: []}
    async with _postgres_database() as url:
        if url is None:
            print("  no PostgreSQL at 127.0.0.1:5432: nothing measured", flush=True)
            return []
        with tempfile.TemporaryDirectory(prefix="kc-pg-workers-") as directory:
            root = Path(directory)
            script = (await seed(url, root, 0))[:LENGTH]
            assert len(script) == LENGTH, "the journey is shorter than LENGTH messages"
            ids = iter(range(70_000_000, 10**12, 100_000))
            async with rig() as driver:
                for round_ in range(ROUNDS):
                    # Interleaved, the order swapped each round so a drift in the machine's load
                    # falls on both sides.
                    for workers in (1, 2) if round_ % 2 == 0 else (2, 1):
                        result = await _one_run(driver, url, root, workers, script, ids)
                        rates[workers].append(result["rate"])
                        shares[workers].append(result["cpu"])
                        costs[workers].append(result["cost"])
                        locked[workers].append(
                            sum(v for k, v in result["waits"].items() if k.startswith("Lock"))
                        )
                        cpu = ", ".join(f"{k} {v:.0f} %" for k, v in result["cpu"].items())
                        cost = ", ".join(f"{k} {v:.2f}" for k, v in result["cost"].items())
                        waits = ", ".join(f"{k} {v:.2f}" for k, v in result["waits"].items())
                        print(
                            f"  round {round_ + 1}, {workers} worker(s): {result['rate']:.1f} updates/s; "
                            f"CPU (% of one core, 200 % on this machine): {cpu}; "
                            f"CPU ms per update: {cost}; "
                            f"PostgreSQL backends busy, mean: {waits or 'none'}",
                            flush=True,
                        )
    load_end = os.getloadavg()
    print(f"  load average at end: {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}", flush=True)
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    figures = [
        Figure("one worker: updates/s (median)", one, "/s", f"{USERS} users x {LENGTH} messages, webhook"),
        Figure("two workers: updates/s (median)", two, "/s", "same load, the workers in turn"),
        Figure("two workers / one", two / one, "x", f"goal ≥ {GOAL}"),
        _within_rounds(rates),
    ]
    for workers in (1, 2):
        for name in shares[workers][0]:
            value = statistics.median(s[name] for s in shares[workers])
            figures.append(Figure(f"{workers} worker(s): CPU {name}", value, "% of a core", "median"))
        figures.append(
            Figure(
                f"{workers} worker(s): backends waiting on a lock",
                statistics.median(locked[workers]),
                "(mean)",
                "sampled from pg_stat_activity every 50 ms",
            )
        )
        for name in costs[workers][0]:
            value = statistics.median(c[name] for c in costs[workers])
            figures.append(Figure(f"{workers} worker(s): CPU of {name} per update", value, "ms", "median"))
    figures.append(_ceiling(costs))
    figures.append(Figure("load average (1 min) at start", load_start[0], ""))
    figures.append(Figure("load average (1 min) at end", load_end[0], ""))
    return figures


def _within_rounds(rates: dict[int, list[float]]) -> Figure:
    """Two workers against one in the same round, the median of the rounds' ratios."""
    ratios = [two / one for one, two in zip(rates[1], rates[2], strict=True)]
    listed = " ".join(f"{r:.2f}" for r in ratios)
    return Figure(
        "two workers / one, within each round", statistics.median(ratios), "x", f"median of {listed}"
    )


def _ceiling(costs: dict[int, list[dict[str, float]]]) -> Figure:
    """The best ratio this machine's cores allow at the CPU per update measured, were nothing else
    running: one worker can use one core at most; every process shares all of them."""
    cores = os.cpu_count() or 1

    def best_rate(workers: int) -> float:
        cost = {k: statistics.median(c[k] for c in costs[workers]) for k in costs[workers][0]}
        return min(workers * 1000 / cost["workers"], cores * 1000 / sum(cost.values()))

    return Figure(
        "two / one: ceiling on an idle machine",
        best_rate(2) / best_rate(1),
        "x",
        f"{cores} cores, driver and PostgreSQL included",
    )


async def _one_run(
    driver: Any, url: str, root: Path, workers: int, script: list[tuple[str, int]], ids: Any
) -> dict[str, Any]:
    async with _workers(driver, url, root, workers) as (pids, bases):
        await _drive(driver, bases, script[:WARMUP_LENGTH], WARMUP_USERS, next(ids))
        processes = {f"worker {n + 1}": pid for n, pid in enumerate(pids)}
        processes[_DRIVER] = driver.pid
        database = make_url(url).database or ""
        before, backends_before = _cpu(processes), _backends(database)
        stop = asyncio.Event()
        sampling = asyncio.create_task(_waits(url, database, stop))
        started = time.perf_counter()
        updates = await _drive(driver, bases, script, USERS, next(ids))
        elapsed = time.perf_counter() - started
        after, backends_after = _cpu(processes), _backends(database)
        stop.set()
        waits = await sampling
    # A backend that ended during the run loses its share; the pools keep theirs open.
    before[_POSTGRES] = 0.0
    after[_POSTGRES] = sum(cpu - backends_before.get(pid, 0.0) for pid, cpu in backends_after.items())
    cpu = {name: (after[name] - before[name]) / elapsed * 100 for name in after}
    machine = cpu.pop(_ALL)  # of 100 % per core
    cpu["other work on the machine"] = max(0.0, machine - sum(cpu.values()))
    cpu["the whole machine"] = machine
    # What the load cannot blur: CPU time per update, of the workers together and of PostgreSQL.
    worker_seconds = sum(after[n] - before[n] for n in after if n.startswith("worker"))
    cost = {
        "workers": worker_seconds / updates * 1000,
        "PostgreSQL": (after[_POSTGRES] - before[_POSTGRES]) / updates * 1000,
        "driver": (after[_DRIVER] - before[_DRIVER]) / updates * 1000,
    }
    return {"rate": updates / elapsed, "cpu": cpu, "cost": cost, "waits": waits}


async def _waits(url: str, database: str, stop: asyncio.Event) -> dict[str, float]:
    """What the database's busy backends are doing, sampled from pg_stat_activity every 50 ms:
    the mean number running or waiting on each kind of wait. Workers serialised by something in
    the database (an advisory lock, a hot row, a table lock) show up as "Lock" waits."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    counts: Counter[str] = Counter()
    samples = 0
    try:
        while not stop.is_set():
            rows = await conn.fetch(
                "select wait_event_type, wait_event from pg_stat_activity "
                "where datname = $1 and state = 'active' and pid <> pg_backend_pid()",
                database,
            )
            samples += 1
            for kind, event in rows:
                counts["running" if kind is None else f"{kind}:{event}"] += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)
    finally:
        await conn.close()
    return {kind: n / max(samples, 1) for kind, n in counts.most_common()}


_ALL = "__all__"
_POSTGRES = "PostgreSQL (this database's backends)"
_DRIVER = "driver + fake Bot API"


def _cpu(processes: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) of each named process and of the whole machine (from
    /proc/stat, every core)."""
    found = {name: cpu_seconds(pid) for name, pid in processes.items()}
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    busy = sum(int(v) for i, v in enumerate(fields) if i not in (3, 4))  # all but idle and iowait
    found[_ALL] = busy / TICKS
    return found


def _backends(database: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving `database` (its process title names it),
    not those of other work on the same server."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if title.startswith("postgres:") and f" {database} " in title:
                    found[int(entry.name)] = cpu_seconds(int(entry.name))
    return found


@contextlib.asynccontextmanager
async def _workers(
    driver: Any, url: str, root: Path, count: int
) -> AsyncIterator[tuple[list[int], list[str]]]:
    """`count` workers on the database, each taking Telegram by its own webhook."""
    from benchmarks.memory import bot_env, bot_process, telegram_env
    from tests.two_workers import free_port

    async with contextlib.AsyncExitStack() as stack:
        pids, bases = [], []
        for n in range(count):
            port = free_port()
            env = bot_env(
                url,
                root,
                port,
                {
                    **telegram_env(driver),
                    "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}",
                    "TELEGRAM_WEBHOOK_SECRET": SECRET,
                },
            )
            process, base = await stack.enter_async_context(bot_process(root, env, f"{count}-{n}"))
            pids.append(process.pid)
            bases.append(base)
        yield pids, bases


async def _drive(
    driver: Any, bases: list[str], script: list[tuple[str, int]], users: int, first_id: int
) -> int:
    """`users` users at once, each typing `script` (text, messages of the answer), each message
    POSTed to the next worker's webhook once the previous one is answered; the updates sent."""
    from benchmarks._rig import Webhooks
    from handlers.channels.telegram.adapter import webhook_path

    result = await driver.post(Webhooks(bases, webhook_path(driver.token), SECRET), script, users, first_id)
    if result["failed_calls"]:
        raise RuntimeError(f"{result['failed_calls']} Bot API calls failed")
    return int(result["updates"])
