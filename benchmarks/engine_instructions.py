"""Instructions per answer of the engine on SQLite, counted by valgrind's callgrind, not timed.

Why: this machine's speed changes by half within minutes (a fixed CPU task's median was 0.72 ms
at 20:08 and 1.20 ms at 20:38 on 2026-12-07), so a timing cannot tell a 3 % change of the hot
path from the machine's mood. An instruction count can: two runs of one commit gave 4,615.0 and
4,615.7 thousand instructions per answer. Use it to compare two versions of the hot path (run it
in a worktree of each), back to back and each twice: one commit's counts taken half an hour apart
differed by 1.5 % (4,424.5 and 4,490), while runs one after the other agree within 0.1 %.
benchmarks/engine_answers.py still says how long an owner waits.

How: the owners of engine_answers' script (22 answers each) answer through the real pipeline in a
child process run under `valgrind --tool=callgrind`, twice side by side (one per core): WARM then
MEASURED owners, and WARM owners alone. The difference, over MEASURED × 22 answers, is what the
answers cost without start-up, migrations and warm-up. Both children run with hash randomisation
off and the collector set as a served process sets it (handlers/heap.py); the count covers every
thread (the WAL checkpoint's too). valgrind comes from Debian's package; without it nothing is
measured. About 75 s.

Run: `python -m benchmarks engine_instructions`.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks import Figure

WARM = 10  # owners before the count matters: caches filled, statements compiled
MEASURED = 20  # owners whose answers are counted
_COLLECTED = re.compile(rb"Collected : (\d+)")


def run() -> list[Figure]:
    if shutil.which("valgrind") is None:
        print("  no valgrind on PATH (Debian: apt-get install valgrind): nothing measured", flush=True)
        return []
    return asyncio.run(_measure())


async def _measure() -> list[Figure]:
    with_measured, warm_only = await asyncio.gather(_count(WARM, MEASURED), _count(WARM, 0))
    answers = MEASURED * _script_length()
    per_answer = (with_measured - warm_only) / answers
    return [
        Figure(
            "instructions per answer",
            per_answer / 1e3,
            "thousand",
            f"callgrind; {WARM}+{MEASURED} owners minus {WARM}, {answers} answers",
        )
    ]


def _script_length() -> int:
    from benchmarks.engine_answers import SCRIPT

    return len(SCRIPT)


async def _count(warm: int, measured: int) -> int:
    """Instructions of one child process answering for `warm` + `measured` owners."""
    with tempfile.TemporaryDirectory(prefix="kc-instructions-") as directory:
        process = await asyncio.create_subprocess_exec(
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={Path(directory) / 'callgrind.out'}",
            sys.executable,
            "-m",
            "benchmarks.engine_instructions",
            str(warm),
            str(measured),
            directory,
            env={**os.environ, "PYTHONHASHSEED": "0"},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await process.communicate()
    found = _COLLECTED.search(stderr)
    if process.returncode != 0 or found is None:
        raise RuntimeError(
            f"the counted child failed ({process.returncode}): {stderr[-2000:].decode(errors='replace')}"
        )
    return int(found.group(1))


async def _answer(owners: int, directory: Path) -> None:
    """The child: `owners` owners through the script on a fresh database, as engine_answers does."""
    from benchmarks.engine_answers import SCRIPT, _incoming
    from conversations.dialogue import Dialogue
    from conversations.programmes import load_programmes
    from handlers.heap import settled_heap
    from handlers.runtime import Pipeline
    from storage.db import create_engine, session_factory
    from storage.files import FileStore
    from storage.migrate import migrate

    engine = create_engine(f"sqlite+aiosqlite:///{directory / 'bench.db'}")
    await migrate(engine)
    pipeline = Pipeline(
        session_factory(engine), Dialogue(programmes=load_programmes(), files=FileStore(directory / "files"))
    )
    with settled_heap():
        for owner in range(owners):
            for n, (kind, value) in enumerate(SCRIPT):
                out = await pipeline.handle(_incoming(f"owner{owner}", n, kind, value))
                if not out or "sự cố" in out[0].text:
                    raise RuntimeError(f"step {n} of owner {owner} failed")
    await engine.dispose()


if __name__ == "__main__":
    warm_owners, measured_owners, workdir = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    asyncio.run(_answer(warm_owners + measured_owners, workdir))
