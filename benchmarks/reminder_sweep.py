"""The reminder sweep over a large province's data on SQLite: 1,000,000 certificates and 100,000
draft dossiers (100,000 facilities), to show that a sweep's cost follows what is due, not the size
of the tables.

Certificates expire evenly over four years, so about 1,370 certificate reminders (90 and 30 days
before) fall due each morning at 08:00; drafts were last touched evenly over the past 60 days.
After the one-off planning of what already existed (2.1 million plan rows), the state is brought
to "every earlier reminder handled", then three sweeps are timed:
- the 08:00 sweep of a day, firing that morning's certificate reminders and the drafts gone stale;
- a sweep one minute later (what the every-minute sweep usually meets: one or two drafts);
- a sweep with nothing due.

Run: `python -m benchmarks reminder_sweep` (or `python -m benchmarks.reminder_sweep [certificates]`).
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from benchmarks import Figure
from storage.text_keys import match_key

DAY = date(2027, 3, 15)  # the morning measured
FACILITIES = 100_000


def _ts(moment: datetime) -> str:
    """How SQLAlchemy stores a UTC datetime in SQLite."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _fill(path: Path, certificates: int, drafts: int) -> None:
    """Bulk rows with the stdlib driver: the data a province would have, fast to create."""
    rng = random.Random(7)
    now = datetime(2027, 3, 15, 0, 30, tzinfo=UTC)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    stamp = _ts(now)
    db.executemany(
        "insert into accounts (id, locale, consent_at, announcements_opt_in, created_at) values (?, 'vi', ?, 1, ?)",
        ((i, stamp, stamp) for i in range(1, FACILITIES + 1)),
    )
    db.executemany(
        "insert into identities (id, channel, external_id, account_id, reachable, created_at) "
        "values (?, 'telegram', ?, ?, 1, ?)",
        ((i, str(1_000_000 + i), i, stamp) for i in range(1, FACILITIES + 1)),
    )
    db.executemany(
        "insert into facilities (id, account_id, name, kind, province, commune, commune_kind, craft_village, "
        "tax_code, contact_name, phone, products, created_at, updated_at) values "
        "(?, ?, ?, 'household', 'Hưng Yên', 'Xã Phú Vinh', 'commune', 0, '0100109106', 'Chị Lan', "
        "'0912345678', 'Giỏ mây', ?, ?)",
        ((i, i, f"Cơ sở {i}", stamp, stamp) for i in range(1, FACILITIES + 1)),
    )
    db.executemany(
        "insert into applications (id, facility_id, programme, status, answers, created_at, updated_at, "
        "last_activity_at) values (?, ?, 'selection', 'draft', ?, ?, ?, ?)",
        (
            (i, (i - 1) % FACILITIES + 1, '{"level": "province", "product_name": "Giỏ mây"}', stamp, stamp,
             _ts(now - timedelta(seconds=rng.randrange(60 * 86_400))))
            for i in range(1, drafts + 1)
        ),
    )  # fmt: skip
    first = DAY - timedelta(days=730)
    body_key = match_key("UBND tỉnh Hưng Yên")  # the keys the importer stores (duplicate checks)
    db.executemany(
        "insert into certificates (id, programme, facility_id, facility_name, tax_code, province, product, level, "
        "number, number_key, issue_date, valid_until, issuing_body, issuing_body_key, source, recorded_by, "
        "recorded_at) values (?, 'selection', ?, 'Cơ sở', '0100109106', 'Hưng Yên', ?, 'province', ?, ?, "
        "'2024-01-01', ?, 'UBND tỉnh Hưng Yên', ?, 'import', 'import', ?)",
        (
            (i, (i - 1) % FACILITIES + 1, f"Sản phẩm {i}", f"{i}/QĐ-UBND", match_key(f"{i}/QĐ-UBND"),
             (first + timedelta(days=(i * 1461) // certificates)).isoformat(), body_key, stamp)
            for i in range(1, certificates + 1)
        ),
    )  # fmt: skip
    db.commit()
    db.close()


async def measure(certificates: int, drafts: int, workdir: Path) -> list[Figure]:
    from sqlalchemy import func, select, update

    from conversations.outreach import reminders
    from conversations.outreach.window import SendingWindow
    from storage.db import create_engine, session_factory
    from storage.migrate import migrate
    from storage.outbox import OutboxMessage
    from storage.outreach import ReminderPlan

    path = workdir / "sweep.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await migrate(engine)
    started = time.perf_counter()
    await asyncio.to_thread(_fill, path, certificates, drafts)
    fill_s = time.perf_counter() - started
    sessions = session_factory(engine)
    window = SendingWindow()
    morning = window.at(DAY, reminders.ReminderSettings().send_at)
    settings = reminders.ReminderSettings(plan_chunk=50_000)
    started = time.perf_counter()
    planned = 0
    while True:
        async with sessions() as session, session.begin():
            n = await reminders.plan_new(session, settings)
        planned += n
        if n == 0:
            break
    plan_s = time.perf_counter() - started
    # Everything due before this morning was handled by earlier sweeps.
    async with sessions() as session, session.begin():
        await session.execute(
            update(ReminderPlan)
            .where(ReminderPlan.due_at < morning - timedelta(minutes=1))
            .values(status="done")
        )
    settings = reminders.ReminderSettings()
    timings: list[tuple[str, float, reminders.SweepResult]] = []
    for label, moment in (
        ("08:00 sweep", morning),
        ("next minute", morning + timedelta(minutes=1)),
        ("nothing due", morning + timedelta(minutes=1, seconds=5)),
    ):
        started = time.perf_counter()
        result = await reminders.sweep(sessions, moment, settings)
        timings.append((label, time.perf_counter() - started, result))
    async with sessions() as session:
        plans = await session.scalar(select(func.count()).select_from(ReminderPlan))
        queued = await session.scalar(select(func.count()).select_from(OutboxMessage))
    await engine.dispose()
    figures = [
        Figure(
            "data",
            certificates,
            "certificates",
            f"{drafts} drafts, {FACILITIES} facilities, filled in {fill_s:.0f} s",
        ),
        Figure("initial planning", plan_s, "s", f"{planned} plan rows ({plans} in the table)"),
    ]
    for label, seconds, result in timings:
        figures.append(
            Figure(
                f"sweep: {label}",
                seconds * 1000,
                "ms",
                f"fired {result.fired} ({dict(result.by_kind)}), skipped {result.skipped}, "
                f"re-planned {result.replanned}; goal < 1000 ms",
            )
        )
    print(
        "reminder sweep: "
        + "; ".join(
            f"{label} {seconds * 1000:.0f} ms ({result.fired} fired)" for label, seconds, result in timings
        )
        + f"; {queued} messages queued; initial planning {plan_s:.0f} s for {planned} plans"
    )
    return figures


async def run(certificates: int = 1_000_000, drafts: int = 100_000) -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        return await measure(certificates, drafts, Path(tmp))


if __name__ == "__main__":
    asyncio.run(run(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
