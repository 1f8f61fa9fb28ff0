"""Every date a person reads is the TIMEZONE's day, not the UTC day (issue 9 #1).

Between 00:00 and 07:00 in Vietnam the UTC day is yesterday: a dossier submitted at 06:30 on
29/11 local time (23:30 UTC on 28/11) must read 29/11 in /status, in the staff queue and in the
dossier's history; so must one submitted at 00:30 local (17:30 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.i18n import local_date, set_display_timezone, translator
from handlers.runtime import Pipeline
from tests.conftest import Chat, Clock
from tests.test_staff_support import add_staff, staff_chat, submitted

LATE_UTC = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)  # 06:30 on 29/11 in Hà Nội
EARLY_LOCAL = datetime(2026, 11, 28, 17, 30, tzinfo=UTC)  # 00:30 on 29/11 in Hà Nội


@pytest.mark.parametrize("moment", [LATE_UTC, EARLY_LOCAL], ids=["23:30 UTC", "00:30 local"])
async def test_status_and_queue_show_the_local_day(
    chat: Chat,
    clock: Clock,
    pipeline: Pipeline,
    sessions: async_sessionmaker[AsyncSession],
    moment: datetime,
) -> None:
    clock.now = moment
    app = await submitted(chat, sessions)
    assert app.receipt_code is not None and app.receipt_code.startswith("KC-2611-")
    await chat.send("/status")
    assert "29/11/2026" in chat.text
    assert "28/11/2026" not in chat.text

    await add_staff(sessions, "900", "admin", None)
    reviewer = staff_chat(pipeline, "900")
    await reviewer.send("/review")
    assert "29/11/2026" in reviewer.text and "28/11/2026" not in reviewer.text
    await reviewer.send(f"/review {app.receipt_code}")
    assert "29/11/2026" in reviewer.text and "28/11/2026" not in reviewer.text


def test_translator_dates_follow_the_configured_zone() -> None:
    t = translator("vi")
    try:
        set_display_timezone("Asia/Ho_Chi_Minh")
        assert t.date(LATE_UTC) == "29/11/2026"
        assert t.datetime(LATE_UTC) == "06:30 29/11/2026"
        assert local_date(EARLY_LOCAL).isoformat() == "2026-11-29"
        set_display_timezone("America/New_York")
        assert t.date(LATE_UTC) == "28/11/2026"
        assert t.datetime(LATE_UTC) == "18:30 28/11/2026"
    finally:
        set_display_timezone("Asia/Ho_Chi_Minh")


def test_a_naive_stored_moment_is_read_as_utc() -> None:
    naive = LATE_UTC.replace(tzinfo=None)
    assert translator("en").date(naive) == "29/11/2026"
