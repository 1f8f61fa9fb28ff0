"""The console's queries on SQLite and PostgreSQL alike: filters, accent-free search, paging, the
export's rows, and the statistics counted in one pass and kept until something they show changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import audit, console_stats, dossier_queries
from storage.db import session_factory
from storage.dossier_queries import QueueFilter
from storage.models import Account, Application
from tests.rows import add_facility

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
QUARTER = date(2026, 10, 1)


async def _fill(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    async with sessions() as s, s.begin():
        rows = [
            (
                "Cơ sở Nón lá Chuông",
                "Hưng Yên",
                "Xã Phú Vinh",
                "submitted",
                {"product_name": "Nón lá", "level": "province"},
                3,
            ),
            (
                "HTX Đồ gỗ Đồng Kỵ",
                "Hưng Yên",
                "Xã Tân Hưng",
                "approved",
                {"product_name": "Bàn ghế", "level": "region"},
                10,
            ),
            (
                "Cơ sở Gốm Bát Tràng",
                "Hà Nội",
                "Xã Bát Tràng",
                "submitted",
                {"product_name": "Gốm", "level": "province"},
                1,
            ),
            (
                "Cơ sở Mật ong",
                "Hưng Yên",
                "Xã Phú Vinh",
                "draft",
                {"level": "province", "product_group": "food"},
                None,
            ),
        ]
        for n, (name, province, commune, status, answers, days) in enumerate(rows, 1):
            account = Account(locale="vi")
            s.add(account)
            await s.flush()
            facility = await add_facility(
                s,
                account.id,
                name=name,
                province=province,
                commune=commune,
                tax_code=f"010010910{n}",
                contact_name="Chị Lan",
                phone=f"091234567{n}",
            )
            submitted = NOW - timedelta(days=days) if days is not None else None
            s.add(
                Application(
                    facility_id=facility.id,
                    programme="selection",
                    status=status,
                    answers=answers,
                    receipt_code=f"KC-2611-0000{n}" if submitted else None,
                    submitted_at=submitted,
                )
            )


async def test_queue_queries_and_statistics_on_both_databases(any_engine: AsyncEngine) -> None:
    await _fill(any_engine)
    hung_yen = {"Hưng Yên"}
    async with session_factory(any_engine)() as s:
        rows, total = await dossier_queries.queue_page(
            s, provinces=hung_yen, actor="telegram:1", filters=QueueFilter(), limit=10, offset=0
        )
        assert total == 2 and {a.facility.name for a in rows} == {"Cơ sở Nón lá Chuông", "HTX Đồ gỗ Đồng Kỵ"}
        for term, expected in (
            ("dong ky", "HTX Đồ gỗ Đồng Kỵ"),
            ("nón lá", "Cơ sở Nón lá Chuông"),
            ("0912345672", "HTX Đồ gỗ Đồng Kỵ"),
        ):
            rows, total = await dossier_queries.queue_page(
                s, provinces=hung_yen, actor="a", filters=QueueFilter(search=term), limit=10, offset=0
            )
            assert [a.facility.name for a in rows] == [expected], term
        rows, total = await dossier_queries.queue_page(
            s,
            provinces=None,
            actor="a",
            filters=QueueFilter(level="province", sort="facility", descending=True),
            limit=1,
            offset=1,
        )
        assert total == 2 and rows[0].facility.name == "Cơ sở Gốm Bát Tràng"
        exported = await dossier_queries.all_matching(
            s, provinces=hung_yen, actor="a", filters=QueueFilter(commune="Xã Phú Vinh")
        )
        assert [r.name for r in exported] == ["Cơ sở Nón lá Chuông"]
        assert await dossier_queries.communes(s, hung_yen) == ["Xã Phú Vinh", "Xã Tân Hưng"]

        weeks = [NOW - timedelta(weeks=2 - w) for w in range(3)]
        questions = ["level", "product_group", "made_in_house"]
        figures = await console_stats.figures(s, hung_yen, weeks, questions, QUARTER)
        assert sorted(figures.by_status) == [
            ("selection", "approved", 1),
            ("selection", "draft", 1),
            ("selection", "submitted", 1),
        ]
        assert figures.submitted == 2 and figures.weeks == [1, 1, 0]  # 10 and 3 days ago
        assert figures.stopped == [("made_in_house", 1)]
        assert sorted(figures.by_commune) == [("Xã Phú Vinh", 1), ("Xã Tân Hưng", 1)]  # drafts not counted
        everywhere = await console_stats.figures(s, None, weeks, questions, QUARTER)
        assert sum(n for _, _, n in everywhere.by_status) == 4


async def test_statistics_are_kept_until_a_dossier_changes_status(any_engine: AsyncEngine) -> None:
    await _fill(any_engine)
    sessions = session_factory(any_engine)
    weeks = [NOW - timedelta(weeks=1)]
    async with sessions() as s, s.begin():
        before = await console_stats.figures(s, None, weeks, [], QUARTER)
        assert await console_stats.figures(s, None, weeks, [], QUARTER) is before  # kept
        app = await s.scalar(select(Application).where(Application.status == "submitted").limit(1))
        assert app is not None
        app.status = "approved"
        audit.add_event(
            s,
            app.id,
            actor="telegram:r1",
            action="approved",
            from_status="submitted",
            to_status="approved",
            at=NOW,
        )
        await s.flush()
        after = await console_stats.figures(s, None, weeks, [], QUARTER)
    approved = dict(((p, st), n) for p, st, n in after.by_status)[("selection", "approved")]
    assert after is not before and approved == 2
