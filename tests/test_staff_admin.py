"""Managing staff: the command line and STAFF_ADMINS bootstrap, admins adding and removing staff
in the chat within their provinces, every change audited; and /stats."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.__main__ import main
from bot.assembly import bootstrap_admins
from bot.config import Config, StaffAdmin
from handlers.runtime import Pipeline
from storage import staff
from storage.review import AuditEvent
from storage.staff import StaffMember
from tests.conftest import Chat
from tests.test_flows import onboard_english
from tests.test_staff_support import add_staff, dossier, staff_chat, tap_payload


def test_the_command_line_adds_a_reviewer_for_a_province_under_its_current_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    args = [
        "staff",
        "add",
        "--channel",
        "telegram",
        "--user-id",
        "42",
        "--role",
        "reviewer",
        "--province",
        "Thái Bình",
    ]
    assert main(args) == 0
    assert "telegram:42 is now reviewer for Hưng Yên" in capsys.readouterr().out
    assert main(["staff", "add", "--channel", "telegram", "--user-id", "43", "--role", "reviewer"]) == 2
    assert main(["staff", "remove", "--channel", "telegram", "--user-id", "42"]) == 0
    assert "removed 1 role(s)" in capsys.readouterr().out


async def test_staff_admins_are_national_admins_from_the_first_start(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await bootstrap_admins(sessions, Config(staff_admins=(StaffAdmin("telegram", "1"),)))
    await bootstrap_admins(
        sessions, Config(staff_admins=(StaffAdmin("telegram", "1"),))
    )  # every start: idempotent
    async with sessions() as s:
        members = list(await s.scalars(select(StaffMember)))
    assert [(m.role, m.province) for m in members] == [("admin", None)]
    admin = staff_chat(pipeline, "1")
    await admin.send("/staff")
    assert "Cán bộ của tất cả các tỉnh" in admin.text  # no language chosen yet: Vietnamese


async def test_a_national_admin_adds_a_reviewer_in_the_chat(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_staff(sessions, "boss", "admin", None, name="Giám đốc")
    admin = staff_chat(pipeline, "boss")
    await admin.send("/staff")
    await admin.tap("Add a staff member")
    await admin.tap("Telegram")
    await admin.send("not an id!")
    assert "without spaces" in admin.text
    await admin.send("777")
    await admin.tap("Reviewer")
    assert "For which province?" in admin.text
    await admin.send("Thái Bình")  # the old name: recorded as Hưng Yên, and said so
    assert "part of Hưng Yên" in admin.text
    assert "Give Telegram user 777 this role for Hưng Yên?" in admin.text
    await admin.tap("Yes, add")
    assert "Done: Telegram user 777 is now reviewer for Hưng Yên" in admin.text
    async with sessions() as s:
        audit = await s.scalar(select(AuditEvent))
    assert audit is not None and (audit.actor, audit.action) == ("telegram:boss", "staff_added")
    assert audit.detail["before"] is None
    assert audit.detail["after"] == {"role": "reviewer", "province": "Hưng Yên", "active": True}
    await dossier(sessions)
    newcomer = staff_chat(pipeline, "777")
    await newcomer.send("/review")
    assert "Hồ sơ của Hưng Yên" in newcomer.text  # added in the chat: no language chosen yet


async def test_a_provincial_admin_manages_only_their_province_and_not_themselves(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_staff(sessions, "boss", "admin", None, name="Giám đốc")
    await add_staff(sessions, "hy-admin", "admin", "Hưng Yên", name="Chị Hà")
    await add_staff(sessions, "hy-rev", "reviewer", "Hưng Yên", name="Anh Tú")
    await add_staff(sessions, "hn-rev", "reviewer", "Hà Nội", name="Anh Nam")
    async with sessions() as s:
        ids = {m.external_id: m.id for m in await s.scalars(select(StaffMember))}
    admin = staff_chat(pipeline, "hy-admin")
    await admin.send("/staff")
    assert "Anh Tú" in admin.text and "Giám đốc" in admin.text and "Anh Nam" not in admin.text
    removable = [b for b in admin.buttons if b.startswith("➖")]
    assert removable == ["➖ Anh Tú (Telegram hy-rev) (reviewer)"]
    for who in ("boss", "hy-admin", "hn-rev"):  # forged buttons: refused, nothing changes
        await tap_payload(admin, f"go:staff:rmok:{ids[who]}")
        assert "You cannot remove that role" in admin.text
    await admin.tap("Anh Tú")
    await admin.tap("Yes, remove it")
    assert "Done: Anh Tú (Telegram hy-rev) is no longer reviewer" in admin.text
    async with sessions() as s:
        members = {m.external_id: m.active for m in await s.scalars(select(StaffMember))}
        audit = await s.scalar(select(AuditEvent).where(AuditEvent.action == "staff_removed"))
    assert members == {"boss": True, "hy-admin": True, "hy-rev": False, "hn-rev": True}
    assert (
        audit is not None
        and audit.detail["before"]["active"] is True
        and audit.detail["after"]["active"] is False
    )
    removed = staff_chat(pipeline, "hy-rev")
    await removed.send("/review")
    assert "I don't know that command" in removed.text

    await admin.send("/staff add")
    await admin.tap("Telegram")
    await admin.send("888")
    await admin.tap("Broadcaster")
    assert "Give Telegram user 888 this role for Hưng Yên?" in admin.text  # their province, not asked
    await admin.tap("Yes, add")
    async with sessions() as s:
        added = await s.scalar(select(StaffMember).where(StaffMember.external_id == "888"))
    assert added is not None and (added.role, added.province, added.added_by) == (
        "broadcaster",
        "Hưng Yên",
        "telegram:hy-admin",
    )


async def test_audit_rows_cannot_be_rewritten(sessions: async_sessionmaker[AsyncSession]) -> None:
    from datetime import UTC, datetime

    from storage import review

    async with sessions() as s, s.begin():
        review.audit(
            s, actor="telegram:1", action="staff_added", subject="staff:1", at=datetime.now(UTC), detail={}
        )
    with pytest.raises(ValueError, match="append-only"):
        async with sessions() as s, s.begin():
            row = await s.scalar(select(AuditEvent))
            assert row is not None
            row.detail = {"forged": True}
    with pytest.raises(ValueError, match="append-only"):
        async with sessions() as s, s.begin():
            await s.delete(await s.scalar(select(AuditEvent)))


async def test_stats_count_by_status_programme_commune_and_the_weeks_activity(
    chat: Chat, pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    from datetime import UTC, datetime

    await dossier(sessions, product="A", commune="Xã Phú Vinh")
    await dossier(sessions, product="B", commune="Xã Phú Vinh", status="approved")
    await dossier(sessions, product="C", commune="Xã Chuông", programme="support", status="returned")
    await dossier(sessions, product="D", commune="Xã Chuông", status="draft")
    await dossier(sessions, product="E", province="Hà Nội", commune="Xã Bát Tràng")
    await dossier(sessions, product="F", submitted_at=datetime(2026, 10, 1, tzinfo=UTC))  # weeks ago
    await add_staff(sessions, "b1", "broadcaster", "Hưng Yên")
    await onboard_english(chat)
    broadcaster = staff_chat(pipeline, "b1")
    await broadcaster.send("/stats")
    text = broadcaster.text
    assert "Statistics for Hưng Yên" in text
    assert "Dossiers sent: 4" in text
    assert "• Submitted: 2" in text and "• Approved: 1" in text and "• Returned for changes: 1" in text
    assert "In preparation (drafts): 1" in text
    assert "• Selection of typical rural industrial products: 3" in text
    assert "• Industrial extension support: 1" in text
    assert text.index("• Xã Phú Vinh, Hưng Yên: 3") < text.index("• Xã Chuông, Hưng Yên: 1")
    assert "Bát Tràng" not in text
    week = text[text.index("The last 7 days:") :]
    assert "• submitted: 3" in week  # A, B and C were sent on 20/11, F in October
    assert broadcaster.buttons == []  # no review tools for a broadcaster
    async with sessions() as s:
        assert await staff.roles_of(s, "telegram", "b1")
