"""Issue 11 #4: answers given in a check prefill the application whichever way the owner gets
there (typed /apply, the menu's button, the verdict's button), said once as "Tôi đã ghi nhận: …"
/ "I have noted: …", never asked again, and still changeable on the summary."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.messages import Incoming, Outgoing
from handlers.runtime import Pipeline
from storage.models import Application
from tests.conftest import Chat
from tests.test_flows import (
    FORM_ANSWERS,
    SELECTION_ANSWERS,
    answer_current,
    onboard_english,
    state_of,
    upload_required,
)
from tests.test_flows_vi import onboard_vietnamese

NOTED = {
    "en": "I have noted from your eligibility check:",
    "vi": "Tôi đã ghi nhận từ lần kiểm tra điều kiện:",
}
WAYS: dict[str, dict[str, tuple[str, ...]]] = {
    # how the owner gets from the verdict to the application, per language
    # after a check the programme checked is not asked again (another one: /apply new)
    "typed": {"en": ("/apply",), "vi": ("/apply",)},
    "menu": {"en": ("/menu", "Prepare or continue a dossier"), "vi": ("/menu", "Chuẩn bị / làm tiếp hồ sơ")},
    "verdict": {"en": ("Prepare the dossier now",), "vi": ("Chuẩn bị hồ sơ ngay",)},
}  # fmt: skip


@dataclass
class Owner(Chat):
    """Keeps every text the bot sent, to count how often something was said."""

    received: list[str] = field(default_factory=list)

    async def _go(self, incoming: Incoming) -> list[Outgoing]:
        out: list[Outgoing] = await super()._go(incoming)
        self.received += [m.text for m in out]
        return out


async def check_selection(chat: Owner, sessions: async_sessionmaker[AsyncSession], round_: str) -> None:
    """/check of the selection programme's round `round_` (its number in the list), answered to
    the verdict."""
    await chat.send("/check")
    await chat.send(round_)
    for _ in range(20):
        if (await state_of(sessions)).step == "after_check":
            return
        await answer_current(chat, sessions, SELECTION_ANSWERS)
    raise AssertionError("the check never reached its verdict")


async def _do(chat: Owner, step: str) -> None:
    if step.startswith("/") or step.isdigit():
        await chat.send(step)
    else:
        await chat.tap(step)


@pytest.mark.parametrize("locale", ["en", "vi"])
@pytest.mark.parametrize("way", list(WAYS))
async def test_check_answers_prefill_the_application_whichever_way(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], way: str, locale: str
) -> None:
    chat = Owner(pipeline)
    await (onboard_english(chat) if locale == "en" else onboard_vietnamese(chat))
    await check_selection(chat, sessions, "2")  # the provincial round (1 is the commune's)
    before = len(chat.received)
    for step in WAYS[way][locale]:
        await _do(chat, step)

    asked = []
    for _ in range(30):
        state = await state_of(sessions)
        if state.step == "documents":
            break
        asked.append(await answer_current(chat, sessions, FORM_ANSWERS))
    assert not set(asked) & set(SELECTION_ANSWERS), asked  # nothing from the check asked twice
    after = chat.received[before:]
    assert sum(NOTED[locale] in text for text in after) == 1  # said once, not on every step
    async with sessions() as s:
        app = await s.scalar(select(Application))
    assert app is not None
    assert {k: app.answers.get(k) for k in SELECTION_ANSWERS} == SELECTION_ANSWERS


async def test_a_prefilled_answer_can_be_changed_on_the_summary_en(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    chat = Owner(pipeline)
    await onboard_english(chat)
    await check_selection(chat, sessions, "1")
    await chat.send("/apply")
    assert "as in your check" in chat.text
    for _ in range(30):
        if (await state_of(sessions)).step == "documents":
            break
        await answer_current(chat, sessions, FORM_ANSWERS)
    await upload_required(chat, sessions)
    assert "Please check your dossier" in chat.text or "kiểm tra lại hồ sơ" in chat.text
    assert "Handicrafts and fine arts" in chat.text
    await chat.tap("Change an answer")
    await chat.tap("Product group")
    await chat.tap("Other products")
    assert "Other products" in chat.text and "Handicrafts and fine arts" not in chat.text
    async with sessions() as s:
        app = await s.scalar(select(Application))
    assert app is not None and app.answers["product_group"] == "other"


async def test_apply_new_after_a_check_asks_the_programme_vi(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    chat = Owner(pipeline)
    await onboard_vietnamese(chat)
    await check_selection(chat, sessions, "1")
    await chat.send("/apply new")
    assert (await state_of(sessions)).step == "programme"  # the owner chooses, nothing assumed
