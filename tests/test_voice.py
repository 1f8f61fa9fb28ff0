"""One voice (issue 11 #8): the assistant calls itself "Tôi"/"I" and the organisation "Trung
tâm"/"the Centre" in both catalogs, and nothing that reaches Zalo, where there are no buttons,
asks the owner to tap one.

Two views: the catalogs as a whole (a self-reference is wrong anywhere), and every text and menu
line a Zalo owner actually receives on a whole journey, since whether "bấm"/"tap" is right depends
on the channel the code is talking to, which no catalog entry can tell."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.pofile import read_po
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.i18n import translator
from conversations.messages import Incoming, Outgoing
from conversations.programmes import load_programmes
from handlers.runtime import Pipeline
from tests.conftest import Chat
from tests.test_flows import FORM_ANSWERS, PROFILE_EN, SELECTION_ANSWERS, answer_current, state_of
from tests.test_flows_vi import PROFILE_TYPED

LOCALES = Path(__file__).resolve().parent.parent / "locales"
# "Chúng tôi" and a sentence-initial "Mình" are self-references; a lower-case "của mình" is the
# owner's own ("sản phẩm của mình") and is right.
VI_OTHER_SELF = re.compile(r"\b[Cc]húng tôi\b|(?:^|[.!?:]\s+|\n)Mình\b")
EN_WE = re.compile(r"\b(?:we|our|us|ours)\b", re.IGNORECASE)
NO_BUTTONS_VI = re.compile(r"\bbấm\b", re.IGNORECASE)
NO_BUTTONS_EN = re.compile(r"\btap(?:s|ped|ping)?\b", re.IGNORECASE)


def _catalog(locale: str) -> list[tuple[str, str]]:
    with (LOCALES / locale / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return [
            (m.id, m.string)
            for m in read_po(f)
            if m.id and isinstance(m.id, str) and isinstance(m.string, str)
        ]


def _owner_spoken() -> set[str]:
    """Answer options are the owner speaking ("Yes, we make it ourselves"), not the assistant."""
    return {o.label for p in load_programmes().values() for q in p.questions for o in q.options}


def test_the_vietnamese_catalog_says_toi_never_chung_toi_or_minh() -> None:
    wrong = [s for _, s in _catalog("vi") if VI_OTHER_SELF.search(s)]
    assert not wrong, wrong


def test_the_english_catalog_never_says_we_or_our_for_the_assistant() -> None:
    owner = _owner_spoken()
    wrong = [s for msgid, s in _catalog("en") if msgid not in owner and EN_WE.search(s)]
    assert not wrong, wrong


def test_the_voice_check_tells_a_self_reference_from_the_owners_own_words() -> None:
    # The patterns themselves: no false hit on the owner's reflexive "mình" or on "ourselves"/"trust".
    assert VI_OTHER_SELF.search("Chúng tôi sẽ gọi lại.") and VI_OTHER_SELF.search("Xong. Mình gửi nhé.")
    assert not VI_OTHER_SELF.search("Anh/chị xem giấy chứng nhận của mình.")
    assert EN_WE.search("We could not read it.") and not EN_WE.search("Yes, I make it ourselves; trust")
    assert NO_BUTTONS_VI.search("Anh/chị bấm nút") and not NO_BUTTONS_EN.search("Choose an option.")


@dataclass
class ZaloOwner(Chat):
    """A Zalo owner who keeps everything the bot sent: texts and the menu lines (labels)."""

    received: list[str] = field(default_factory=list)

    async def _go(self, incoming: Incoming) -> list[Outgoing]:
        out: list[Outgoing] = await super()._go(incoming)
        self.received += [m.text for m in out] + [c.label for m in out for c in m.choices]
        return out


async def _journey(chat: ZaloOwner, sessions: async_sessionmaker[AsyncSession], user: str) -> None:
    """Check, a stuck question, help, and an application up to its documents."""
    await chat.send("/help")
    await chat.send("/check")
    await chat.send("2")  # the selection programme's provincial round
    for _ in range(3):
        await chat.send("zzz qqq")  # stuck: the question put another way, with its way out
    for _ in range(20):
        if (await state_of(sessions, user)).step == "after_check":
            break
        await answer_current(chat, sessions, SELECTION_ANSWERS)
    await chat.send("/apply")
    for _ in range(40):
        state = await state_of(sessions, user)
        if state.step == "documents" or state.flow is None:
            break
        await answer_current(chat, sessions, {**SELECTION_ANSWERS, **FORM_ANSWERS})
    await chat.send("hello?")  # free text at the documents step
    await chat.send("/menu")


async def test_nothing_a_zalo_owner_receives_asks_to_tap_or_speaks_as_chung_toi_vi(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    chat = ZaloOwner(pipeline, user_id="zv", channel="zalo", has_buttons=False)
    await chat.send("/start")  # no language told: Vietnamese
    await chat.send("dong y")
    for answer in PROFILE_TYPED:
        await chat.send(answer)
    await chat.send("1")  # save the profile
    await _journey(chat, sessions, "zv")
    text = "\n".join(chat.received)
    assert "Giấy tờ bắt buộc: đã có 0/" in text  # the journey did reach the documents
    assert "Tôi" in text
    assert not NO_BUTTONS_VI.search(text), [t for t in chat.received if NO_BUTTONS_VI.search(t)]
    assert not VI_OTHER_SELF.search(text), [t for t in chat.received if VI_OTHER_SELF.search(t)]


async def test_nothing_a_zalo_owner_receives_asks_to_tap_or_says_we_en(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    chat = ZaloOwner(pipeline, user_id="ze", channel="zalo", has_buttons=False)
    await chat.send("/start")
    await chat.send("4")  # I agree — continue in English
    for _, answer in PROFILE_EN:
        await chat.send(answer)
    await chat.send("1")  # save the profile
    await _journey(chat, sessions, "ze")
    assert "Required documents: 0/" in "\n".join(chat.received)  # it did reach the documents
    en = translator("en")
    owner = sorted({en(label) for label in _owner_spoken()}, key=len, reverse=True)
    said = []
    for text in chat.received:  # a summary quotes the owner's answers: those are their words
        for label in owner:
            text = text.replace(label, "…")
        said.append(text)
    assert not [t for t in said if NO_BUTTONS_EN.search(t)], [t for t in said if NO_BUTTONS_EN.search(t)]
    assert not [t for t in said if EN_WE.search(t)], [t for t in said if EN_WE.search(t)]
