"""Engine time per answer on SQLite: the whole pipeline (dedupe, lock, transaction, state load,
validation, durable save, reply) for real answers of onboarding and the application form.

Run: `python -m benchmarks.engine_answers [answers]` (default 10,000). Each simulated owner
gives the 22 answers a real one gives, each to the journey's next question (checked on the
first owner: a changed journey stops the benchmark rather than timing error messages); timings
are per `Pipeline.handle` call, one owner after another, with the garbage collector set as the
served process sets it (handlers/heap.py). Then 50 owners answer at once (group commit at work):
throughput, CPU and statements per answer.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from conversations.dialogue import Dialogue
from conversations.messages import Incoming
from conversations.programmes import load_programmes
from handlers.heap import settled_heap
from handlers.runtime import Pipeline
from storage.db import create_engine, session_factory
from storage.files import FileStore
from storage.migrate import migrate
from storage.models import ConversationState, Identity

# (kind, value): "text" typed, "choice" a button payload, "cmd" a command.
SCRIPT: list[tuple[str, str]] = [
    ("cmd", "start"),  # the language comes from the platform (none here: Vietnamese)
    ("choice", "consent:agree"),
    ("text", "Hợp tác xã Mây tre đan Phú Vinh"),  # the type of facility read from the name
    ("text", "Thái Bình"),
    ("text", "Xã Phú Vinh"),  # the kind of commune read from the name
    ("choice", "craft_village:yes"),
    ("text", "0100109106"),
    ("text", "Nguyễn Văn An"),
    ("text", "0912 345 678"),
    ("text", "Giỏ mây, khay tre"),  # the profile saved and shown, then the menu
    ("cmd", "apply"),
    ("choice", "programme:selection.province"),  # the draft is created
    ("choice", "product_group:handicraft"),
    ("choice", "all_selection:yes"),
    ("text", "Giỏ mây đan Phú Vinh"),
    ("text", "Giỏ đan tay từ mây rừng, nhuộm màu tự nhiên, bền và nhẹ."),
    ("text", "2.000 sản phẩm mỗi tháng"),
    ("text", "Hà Nội, xuất khẩu Nhật Bản"),
    ("text", "25"),
    ("choice", "revenue_band:1to3"),
    ("text", "2012"),  # the documents' checklist
    ("cmd", "status"),  # the dossier listed
]


def _incoming(user: str, n: int, kind: str, value: str) -> Incoming:
    base: dict[str, Any] = {"channel": "web", "user_id": user, "update_id": f"{user}-{n}"}
    if kind == "cmd":
        return Incoming(**base, command=value)
    if kind == "choice":
        return Incoming(**base, choice=value)
    return Incoming(**base, text=value)


class Counted:
    """A migrated SQLite database with the real pipeline over it, counting the SQL statements the
    driver runs (BEGIN/COMMIT are driver calls, not counted)."""

    def __init__(self, engine: AsyncEngine, workdir: Path) -> None:
        self.engine = engine
        self.statements = 0
        self.position: tuple[str | None, ...] = (None, None)  # see `_moved_on`
        event.listen(engine.sync_engine, "before_cursor_execute", self._count)
        self.pipeline = Pipeline(
            session_factory(engine),
            Dialogue(programmes=load_programmes(), files=FileStore(workdir / "files")),
        )

    def _count(self, *_: object) -> None:
        self.statements += 1

    @classmethod
    async def open(cls, workdir: Path, name: str) -> Counted:
        engine = create_engine(f"sqlite+aiosqlite:///{workdir / name}")
        await migrate(engine)
        return cls(engine, workdir)


async def measure(total_answers: int, workdir: Path) -> dict[str, float]:
    db = await Counted.open(workdir, "bench.db")
    pipeline = db.pipeline
    timings: list[float] = []
    loop_cpu: list[float] = []  # CPU of the loop's thread per answer: the part the load does not add
    by_step: list[list[tuple[float, int]]] = [[] for _ in SCRIPT]  # (loop CPU, statements) per answer
    users = -(-total_answers // len(SCRIPT))
    started, cpu_started = time.perf_counter(), time.process_time()
    for u in range(users):
        user = f"owner{u}"
        for n, (kind, value) in enumerate(SCRIPT):
            if len(timings) >= total_answers:
                break
            t0, c0, s0 = time.perf_counter(), time.thread_time(), db.statements
            out = await pipeline.handle(_incoming(user, n, kind, value))
            timings.append(time.perf_counter() - t0)
            loop_cpu.append(time.thread_time() - c0)
            by_step[n].append((loop_cpu[-1], db.statements - s0))
            if not out or "sự cố" in out[0].text:
                raise RuntimeError(f"step {n} of {user} failed: {out}")
            if u == 0:
                await _moved_on(db, user, n)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    counted = db.statements
    await db.engine.dispose()
    quantiles = statistics.quantiles(timings, n=100)
    _print_heaviest(by_step)
    return {
        "answers": len(timings),
        "p50_ms": quantiles[49] * 1000,
        "p99_ms": quantiles[98] * 1000,
        "mean_ms": statistics.fmean(timings) * 1000,
        # On SQLite the hot path's statements run on the loop's thread (storage/sqlite_driver.py),
        # so this is nearly an answer's whole cost; on a busy machine p99_ms adds waiting for a core.
        "p99_loop_cpu_ms": statistics.quantiles(loop_cpu, n=100)[98] * 1000,
        "answers_per_s": len(timings) / elapsed,
        # CPU of this process (every thread) per answer: on a shared machine the wall-clock
        # figures above grow with the load, this one much less.
        "cpu_ms_per_answer": cpu / len(timings) * 1000,
        "statements_per_answer": counted / len(timings),
    }


async def _moved_on(db: Counted, user: str, n: int) -> None:
    """Every answer of the script moves the conversation (another step, flow or none): one that
    does not was answered with an error message, and the script no longer fits the journey."""
    async with db.pipeline.sessions() as session:
        position = (
            await session.execute(
                select(ConversationState.flow, ConversationState.step)
                .join(Identity, Identity.account_id == ConversationState.account_id)
                .where(Identity.channel == "web", Identity.external_id == user)
            )
        ).one()
    if n > 0 and tuple(position) == db.position:
        raise RuntimeError(f"answer {n} ({SCRIPT[n]}) left the conversation at {db.position}: update SCRIPT")
    db.position = tuple(position)


def _print_heaviest(by_step: list[list[tuple[float, int]]], shown: int = 6) -> None:
    """The answer kinds (steps of the script) that cost the most CPU on the loop's thread, with
    their statements: a p99 over 31 kinds of answer is set by the heaviest one or two."""
    rows = sorted(
        (
            (statistics.median(c for c, _ in answers), n, statistics.fmean(k for _, k in answers))
            for n, answers in enumerate(by_step)
            if answers
        ),
        reverse=True,
    )
    print(
        "heaviest answers (median loop-thread CPU, statements; the hot path's BEGIN goes straight to the driver):"
    )
    for cpu, n, statements in rows[:shown]:
        kind, value = SCRIPT[n]
        print(f"  {n:>2} {kind} {value[:28]:<28} {cpu * 1000:5.2f} ms  {statements:4.1f} statements")
    print(f"  median of all kinds: {statistics.median(r[0] for r in rows) * 1000:.2f} ms")


async def measure_together(users: int, workdir: Path) -> dict[str, float]:
    """`users` owners answering at once, each their script in order: what an answer costs when
    SQLite's writer commits the users waiting together (handlers/group_commit.py)."""
    db = await Counted.open(workdir, "together.db")
    pipeline = db.pipeline

    async def owner(user: str) -> None:
        for n, (kind, value) in enumerate(SCRIPT):
            out = await pipeline.handle(_incoming(user, n, kind, value))
            if not out or "sự cố" in out[0].text:
                raise RuntimeError(f"step {n} of {user} failed: {out}")

    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.gather(*(owner(f"together{u}") for u in range(users)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    await db.engine.dispose()
    answers = users * len(SCRIPT)
    return {
        "together_answers_per_s": answers / elapsed,
        "together_cpu_ms_per_answer": cpu / answers * 1000,
        "together_statements_per_answer": db.statements / answers,
    }


def noise_floor(runs: int = 5_000) -> dict[str, float]:
    """The same fixed piece of pure-Python work (a dict built and dumped to JSON, about as long as
    an answer) timed `runs` times on this thread: its p99 over its p50 is what the machine alone
    adds to a tail (other processes, a virtual machine's neighbours), so an engine p99 can be read
    against it. Seen on this project's 2-core machine: 1.7-1.8 with nothing else running."""

    def work() -> str:
        return json.dumps({i: str(i) * 2 for i in range(2_500)})

    times = []
    for _ in range(runs):
        started = time.thread_time()
        work()
        times.append(time.thread_time() - started)
    quantiles = statistics.quantiles(times, n=100)
    return {
        "noise_p50_ms": quantiles[49] * 1000,
        "noise_p99_ms": quantiles[98] * 1000,
        "noise_p99_over_p50": quantiles[98] / quantiles[49],
    }


async def run(total_answers: int = 10_000, together: int = 50) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        # As `python -m bot run` serves (handlers/heap.py): what start-up made, the migrations and
        # the programmes included, frozen out of the collector's way before the first answer.
        warm = await Counted.open(Path(tmp), "warm.db")
        await warm.engine.dispose()
        with settled_heap():
            result = await measure(total_answers, Path(tmp))
            result |= await measure_together(together, Path(tmp))
    result |= noise_floor()
    print(
        f"engine answers on SQLite: {result['answers']:.0f} answers, p50 {result['p50_ms']:.2f} ms, "
        f"p99 {result['p99_ms']:.2f} ms (loop thread's CPU p99 {result['p99_loop_cpu_ms']:.2f} ms), mean {result['mean_ms']:.2f} ms, {result['answers_per_s']:.0f} answers/s, "
        f"{result['cpu_ms_per_answer']:.2f} ms CPU per answer, "
        f"{result['statements_per_answer']:.2f} statements per answer (load {os.getloadavg()[0]:.1f})"
    )
    print(
        f"{together} owners at once: {result['together_answers_per_s']:.0f} answers/s, "
        f"{result['together_cpu_ms_per_answer']:.2f} ms CPU per answer, "
        f"{result['together_statements_per_answer']:.2f} statements per answer"
    )
    print(
        f"the machine's own tail: a fixed CPU task p50 {result['noise_p50_ms']:.2f} ms, p99 "
        f"{result['noise_p99_ms']:.2f} ms, p99/p50 {result['noise_p99_over_p50']:.2f} "
        f"(the engine's: {result['p99_ms'] / result['p50_ms']:.2f})"
    )
    return result


if __name__ == "__main__":
    asyncio.run(run(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
