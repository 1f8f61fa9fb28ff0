"""Who may use the review tools, what the queue shows, and claims: through the real dialogue."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.runtime import Pipeline
from storage.models import ApplicationEvent
from tests.conftest import Chat
from tests.test_flows import onboard_english
from tests.test_staff_support import add_staff, application, dossier, outbox, staff_chat, tap_payload

STAFF_WORDS = ("review", "dossiers of", "staff", "statistics", "import", "role")


async def unknown_command_reply(chat: Chat) -> str:
    await chat.send("/nonsense")
    return chat.text


@pytest.mark.parametrize(
    "command", ["/review", "/review KC-2611-00001", "/stats", "/staff", "/staff add", "/rv o:1", "/rv ok:1"]
)
async def test_non_staff_get_the_ordinary_help_and_learn_nothing(
    chat: Chat, sessions: async_sessionmaker[AsyncSession], command: str
) -> None:
    await onboard_english(chat)
    await dossier(sessions)
    expected = await unknown_command_reply(chat)
    await chat.send(command)
    assert chat.text == expected
    assert "I don't know that command" in chat.text
    assert not any(word in chat.text.lower() for word in STAFF_WORDS if word != "review")
    assert not any("Review" in b or "Statistics" in b or "Staff" in b for b in chat.buttons)


async def test_non_staff_button_payloads_are_unknown_commands_too(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await onboard_english(chat)
    app = await dossier(sessions)
    expected = await unknown_command_reply(chat)
    for payload in (
        f"go:rv:o:{app.id}",
        f"go:rv:ok:{app.id}",
        "go:review:all:open",
        "go:staff:add",
        "go:stats",
    ):
        await tap_payload(chat, payload)
        assert chat.text == expected, payload
    assert (await application(sessions, app.id)).status == "submitted"


async def test_an_owner_typing_certificates_import_just_sees_their_certificates(chat: Chat) -> None:
    await onboard_english(chat)
    await chat.send("/certificates import")
    assert "No certificate is recorded for your facility yet" in chat.text
    assert "Import" not in " ".join(chat.buttons)
    await chat.upload("list.csv", b"a,b\n1,2\n", "text/csv")  # not waiting for a list
    assert "open your dossier first" in chat.text


async def test_staff_of_one_province_never_see_another_provinces_dossiers(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    hung_yen = await dossier(sessions, province="Hưng Yên", product="Giỏ mây")
    hanoi = await dossier(sessions, province="Hà Nội", product="Gốm Bát Tràng")
    await add_staff(sessions, "hy", "reviewer", "Hưng Yên")
    reviewer = staff_chat(pipeline, "hy")
    await reviewer.send("/review")
    assert "Giỏ mây" in reviewer.text and "Gốm Bát Tràng" not in reviewer.text
    await reviewer.send("/review all")
    assert "Gốm Bát Tràng" not in reviewer.text
    not_found = "There is no dossier with that number among those you can see."
    await reviewer.send(f"/review {hanoi.receipt_code}")
    assert reviewer.text == not_found
    for verb in ("o", "ok", "no", "ret", "rel", "cert"):
        await tap_payload(reviewer, f"go:rv:{verb}:{hanoi.id}")
        assert reviewer.text == not_found, verb
    assert (await application(sessions, hanoi.id)).status == "submitted"
    assert (await application(sessions, hanoi.id)).reviewer is None
    await reviewer.send("/stats")
    assert "Statistics for Hưng Yên" in reviewer.text and "Hà Nội" not in reviewer.text
    assert "Dossiers sent: 1" in reviewer.text
    await tap_payload(reviewer, f"go:rv:o:{hung_yen.id}")
    assert "Giỏ mây" in reviewer.text


async def test_a_national_admin_sees_every_province(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await dossier(sessions, province="Hưng Yên", product="Giỏ mây")
    await dossier(sessions, province="Hà Nội", product="Gốm Bát Tràng")
    await add_staff(sessions, "boss", "admin", None)
    admin = staff_chat(pipeline, "boss")
    await admin.send("/review")
    assert "all provinces" in admin.text and "Giỏ mây" in admin.text and "Gốm Bát Tràng" in admin.text


async def test_a_broadcaster_cannot_review_but_sees_statistics(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    app = await dossier(sessions)
    await add_staff(sessions, "b1", "broadcaster", "Hưng Yên")
    broadcaster = staff_chat(pipeline, "b1")
    await broadcaster.send("/review")
    assert "needs the reviewer role" in broadcaster.text
    await tap_payload(broadcaster, f"go:rv:ok:{app.id}")
    assert "needs the reviewer role" in broadcaster.text
    await broadcaster.send("/staff")
    assert "needs the administrator role" in broadcaster.text
    await broadcaster.send("/stats")
    assert "Statistics for Hưng Yên" in broadcaster.text
    assert (await application(sessions, app.id)).status == "submitted"


async def test_a_removed_reviewer_is_a_stranger_again(
    chat: Chat, pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    from storage import staff

    await add_staff(sessions, "r1", "reviewer", "Hưng Yên")
    reviewer = staff_chat(pipeline, "r1")
    await reviewer.send("/review")
    assert "Dossiers of Hưng Yên" in reviewer.text
    async with sessions() as s, s.begin():
        await staff.remove_staff(s, channel="telegram", external_id="r1")
    await reviewer.send("/review")
    assert "I don't know that command" in reviewer.text


async def test_queue_is_oldest_first_and_filters_by_programme_and_status(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await dossier(sessions, product="Mới nhất", submitted_at=datetime(2026, 11, 21, tzinfo=UTC))
    await dossier(sessions, product="Cũ nhất", submitted_at=datetime(2026, 11, 1, tzinfo=UTC))
    await dossier(
        sessions, product="Máy sấy", programme="support", submitted_at=datetime(2026, 11, 10, tzinfo=UTC)
    )
    await dossier(sessions, product="Đã duyệt", status="approved")
    await dossier(sessions, product="Đang soạn", status="draft")
    await add_staff(sessions, "r1", "reviewer", "Hưng Yên")
    reviewer = staff_chat(pipeline, "r1")
    await reviewer.send("/review")
    text = reviewer.text
    assert ": 3" in text.splitlines()[0]
    assert text.index("Cũ nhất") < text.index("Máy sấy") < text.index("Mới nhất")
    assert "Đã duyệt" not in text and "Đang soạn" not in text
    await reviewer.tap("Programme")
    await reviewer.tap("Industrial extension support")
    assert "Máy sấy" in reviewer.text and "Cũ nhất" not in reviewer.text
    await reviewer.tap("Status")
    await reviewer.tap("All statuses")
    assert "Máy sấy" in reviewer.text and "Đã duyệt" not in reviewer.text  # still support only
    await reviewer.send("/review selection approved")
    assert "Đã duyệt" in reviewer.text and "Cũ nhất" not in reviewer.text
    assert "Đang soạn" not in reviewer.text  # a draft is never the centre's business


async def test_the_queue_pages_by_eight(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    for day in range(1, 11):
        await dossier(
            sessions, product=f"Sản phẩm {day:02d}", submitted_at=datetime(2026, 11, day, tzinfo=UTC)
        )
    await add_staff(sessions, "r1", "reviewer", "Hưng Yên")
    reviewer = staff_chat(pipeline, "r1")
    await reviewer.send("/review")
    assert "Sản phẩm 08" in reviewer.text and "Sản phẩm 09" not in reviewer.text
    await reviewer.tap("More")
    assert (
        "Sản phẩm 09" in reviewer.text
        and "Sản phẩm 10" in reviewer.text
        and "Sản phẩm 01" not in reviewer.text
    )


async def test_second_reviewer_is_told_who_holds_it_and_cannot_decide(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    app = await dossier(sessions)
    await add_staff(sessions, "r1", "reviewer", "Hưng Yên", name="Trần Thị Bình")
    await add_staff(sessions, "r2", "reviewer", "Hưng Yên")
    first, second = staff_chat(pipeline, "r1"), staff_chat(pipeline, "r2")
    await first.send(f"/review {app.receipt_code}")
    assert "You have taken this dossier for review" in first.text
    await second.send(f"/review {app.receipt_code}")
    assert "Trần Thị Bình (Telegram r1) has been reviewing this dossier" in second.text
    assert "Approve" not in " ".join(second.buttons)
    await tap_payload(second, f"go:rv:ok:{app.id}")
    assert "Only the reviewer holding this dossier can decide it" in second.text
    await tap_payload(second, f"go:rv:rel:{app.id}")  # not theirs to release either
    assert (await application(sessions, app.id)).reviewer == "telegram:r1"

    await first.tap("Put back in the queue")
    assert "back in the queue" in first.text
    held = await application(sessions, app.id)
    assert held.status == "under_review" and held.reviewer is None  # the owner still sees "under review"
    await second.send(f"/review {app.receipt_code}")
    assert "You have taken this dossier for review" in second.text
    assert (await application(sessions, app.id)).reviewer == "telegram:r2"
    async with sessions() as s:
        actions = list(
            await s.scalars(select(ApplicationEvent.action).where(ApplicationEvent.application_id == app.id))
        )
    assert actions == ["submitted", "claimed", "released", "claimed"]


async def test_an_admin_frees_a_dossier_a_reviewer_left_holding(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    app = await dossier(sessions)
    await add_staff(sessions, "r1", "reviewer", "Hưng Yên")
    await add_staff(sessions, "a1", "admin", "Hưng Yên")
    reviewer, admin = staff_chat(pipeline, "r1"), staff_chat(pipeline, "a1")
    await reviewer.send(f"/review {app.receipt_code}")
    await admin.send(f"/review {app.receipt_code}")
    await admin.tap("Free this dossier")
    assert (await application(sessions, app.id)).reviewer is None
    # The reviewer's open confirmation now finds the dossier no longer theirs: nothing changes.
    await tap_payload(reviewer, f"go:rv:ok:{app.id}")
    assert "Only the reviewer holding this dossier can decide it" in reviewer.text
    assert (await application(sessions, app.id)).status == "under_review"


async def test_a_decision_started_then_lost_changes_nothing(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The reviewer starts approving; an admin frees the dossier before they confirm."""
    app = await dossier(sessions)
    await add_staff(sessions, "r1", "reviewer", "Hưng Yên")
    await add_staff(sessions, "a1", "admin", "Hưng Yên")
    reviewer, admin = staff_chat(pipeline, "r1"), staff_chat(pipeline, "a1")
    await reviewer.send(f"/review {app.receipt_code}")
    await reviewer.tap("Approve")
    await admin.send(f"/review {app.receipt_code}")
    await admin.tap("Free this dossier")
    await reviewer.tap("Yes, approve")
    assert "You no longer hold this dossier" in reviewer.text and "nothing was changed" in reviewer.text
    assert (await application(sessions, app.id)).status == "under_review"
    assert await outbox(sessions) == []


async def test_a_reject_needs_a_reason_and_cancel_leaves_the_dossier_as_it_was(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    app = await dossier(sessions)
    await add_staff(sessions, "r1", "reviewer", "Hưng Yên")
    reviewer = staff_chat(pipeline, "r1")
    await reviewer.send(f"/review {app.receipt_code}")
    await reviewer.tap("Do not approve")
    assert "Why is the dossier not approved?" in reviewer.text
    await reviewer.send("/cancel")
    assert (await application(sessions, app.id)).status == "under_review"
    await reviewer.send(f"/review {app.receipt_code}")
    await reviewer.tap("Do not approve")
    await reviewer.send("The facility buys the hats from a neighbouring village.")
    await reviewer.tap("Back to the dossier")
    assert (await application(sessions, app.id)).status == "under_review"
    assert "Approve" in " ".join(reviewer.buttons)
    async with sessions() as s:
        assert (
            await s.scalar(
                select(func.count())
                .select_from(ApplicationEvent)
                .where(ApplicationEvent.action == "rejected")
            )
            == 0
        )


async def test_staff_menu_buttons_follow_the_roles(
    chat: Chat, pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await onboard_english(chat)
    await chat.send("/menu")
    assert "🏅 My certificates" in chat.buttons
    assert not any(b in chat.buttons for b in ("🗂 Review dossiers", "📊 Statistics", "👥 Staff"))
    await add_staff(
        sessions, "u1", "reviewer", "Hưng Yên", channel="web", locale=None
    )  # an owner who is staff too
    await chat.send("/menu")
    assert "🗂 Review dossiers" in chat.buttons and "📊 Statistics" in chat.buttons
    assert "👥 Staff" not in chat.buttons
