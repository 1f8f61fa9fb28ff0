"""Journey cost: what one complete application costs an owner, in bot messages, characters read
and inputs typed or tapped, on each channel (issue 11 asks for at most half of the "before").

Two scripted owners go from "hello" to a submitted dossier through the real pipeline and dialogue
(the same path every channel's update takes), and each reply is rendered as that channel's adapter
renders it: the web chat shows each `Outgoing` with its buttons; Telegram splits text at 4,096
characters and shows buttons; Zalo (`handlers.channels.zalo.client.render`) numbers the last menu of a reply
and the owner types that number. Button labels count as characters read.

- A: a household fish-sauce producer (Vietnamese), provincial round, food group: profile, then
  `/check`, then `/apply` typed (as owners do, not the verdict's button), documents, submit.
- B: a handicraft cooperative (English), regional round: profile, `/apply` straight away.

Files are sent in the chat on every channel (on Zalo a PDF would go through the upload page; the
count of inputs is the same). On the web the photos an item needs are picked together, one
message (the page's file input takes several), and likewise a Telegram album (one update per
photo, gathered into one message by handlers/channels/telegram/albums.py); the Zalo app sends the
photos picked together one image per message, back to back, and the Zalo adapters gather them
(handlers/bursts.py; `Owner.burst` gathers them the same way). Web and Telegram tell the owner's
language (Accept-Language, language_code, in `Incoming.locale_hint`); Zalo does not, so there the
notice comes in Vietnamese and B answers it with "I agree — continue in English". The driver
reads the waiting step from the database and answers it, so a question asked twice is answered
(and counted) twice.

Measured on this machine (issue 11), messages / characters / inputs:
    before (c84d442)   A: web 66/16,499/55, Telegram 66/16,499/55, Zalo 66/17,301/55
                       B: web 58/15,859/47, Telegram 58/15,859/47, Zalo 58/16,616/47
    after  (issue-11)  A: web 43/10,357/43, Telegram 43/10,357/43, Zalo 43/10,879/43
                       B: web 42/9,310/42,  Telegram 42/9,310/42,  Zalo 42/9,808/42
    after  (issue-11b) A: web 42/9,629/42,  Telegram 42/9,629/42,  Zalo 42/10,094/42
                       B: web 42/8,789/42,  Telegram 42/8,789/42,  Zalo 42/9,230/42
    (B now answers two certificate questions, "recognised at provincial level?" and its year,
    where it answered one; the checklist asks for its first document at once.)
    after  (issue-11c) A: web 33/7,572/33,  Telegram 33/7,572/33,  Zalo 33/7,908/33
                       B: web 34/7,144/34,  Telegram 34/7,144/34,  Zalo 34/7,465/34
    after  (issue-11d) A: web 29/7,284/29,  Telegram 31/7,442/31,  Zalo 32/7,867/32
                       B: web 29/6,807/29,  Telegram 31/6,959/31,  Zalo 32/7,361/32
    (goal, half of "before": A <= 33 msgs and <= 8,249 chars (Zalo 8,650), met on every
    channel; B <= 29 msgs and <= 7,929 chars (Zalo 8,308): characters met everywhere, messages
    met on the web, Telegram 2 over (the album), Zalo 3 over (the album, the language).)
    after  (issue-11e) A: web 29/7,284/29,  Telegram 29/7,284/29,  Zalo 32/7,867/32
                       B: web 29/6,807/29,  Telegram 29/6,807/29,  Zalo 32/7,361/32
    (a Telegram album is one message: albums.py gathers its photos, one reply for three.)
    after  (issue-11f) A: web 29/7,284/29,  Telegram 29/7,284/29,  Zalo 31/7,784/31
                       B: web 29/6,807/29,  Telegram 29/6,807/29,  Zalo 31/7,240/31
    (Zalo asks no language: the notice starts in Vietnamese and "I agree — continue in English"
    gives consent and language in one input. Zalo's remaining 2 over the web are B's and A's
    product photos, three messages where an album or the web's picker is one: Zalo sends one
    image per message with nothing tying them together.)
    after  (issue-11g) A: web 29/7,284/29,  Telegram 29/7,284/29,  Zalo 29/7,629/29
                       B: web 29/6,807/29,  Telegram 29/6,807/29,  Zalo 29/7,091/29
    (Zalo's photos sent together are one message: handlers/bursts.py gathers consecutive images
    of a chat, one reply for three, as albums.py does for Telegram. Goal met on every channel.)
One reply is now one message, so fewer messages now means fewer questions and uploads. What
issue-11c took away: the type of facility and the commune kind when the names say them ("Hợp tác
xã …", "Xã …"); the stop to confirm a new profile (it is saved with its last answer and shown
once, /profile corrects it); five yes/no conditions asked as one "all true?" (the YAML's
`asked_together`; "no" asks each); the programme after a check (/apply new asks it); the
"continue" tap after the last document; the consent notice is short, the full text one tap away;
the verdict counts the conditions met instead of listing them; shorter question texts. What
issue-11d took away: the language question where the platform tells the language (the notice
offers the other one in a tap); "recognised at provincial level?" and its year as one question
(the year typed, or "Not recognised yet"); the programme and the round's level as one menu
("Provincial level" ... "Industrial extension support"); on the web, the three product photos as
one message. B's remaining 29 on the web: 9 for consent and profile, 11 questions a regional
dossier needs, 6 messages of files, submit, /start and /apply.
`python -m benchmarks.journey_cost` prints where each journey's messages and characters go, per
step answered (the reply to that answer, which carries the next question).
"""

from __future__ import annotations

import itertools
import re
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from benchmarks import Figure
from conversations import documents
from conversations.dialogue import Dialogue
from conversations.messages import FileRef, Incoming, Outgoing, command_of
from conversations.programmes import load_programmes
from handlers.bursts import BURST_QUIET, Bursts
from handlers.channels.zalo.client import render as zalo_render
from handlers.render import split_text
from handlers.runtime import Pipeline
from storage.db import create_engine, session_factory
from storage.files import FileStore
from storage.migrate import migrate
from storage.models import Account, ConversationState, Identity

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"

FISH_SAUCE = {
    "language": "vi",
    "consent": "agree",
    "facility_name": "Hộ kinh doanh Nước mắm Cửa Khe",
    "facility_kind": "household",
    "province": "Quảng Ngãi",
    "commune_kind": "commune",
    "commune": "Xã Bình Sơn",
    "craft_village": "yes",
    "tax_code": "051087001234",
    "contact_name": "Trần Thị Hoa",
    "phone": "0935 123 456",
    "products": "Nước mắm cá cơm truyền thống",
    "programme": "selection.province",  # the programme's menu offers its rounds' levels
    "level": "province",
    "product_group": "food",
    "made_in_house": "yes",
    "original": "yes",
    "series": "yes",
    "market": "yes",
    "compliant": "yes",
    "food_safety": "cert",
    "product_name": "Nước mắm cá cơm Cửa Khe",
    "product_description": "Nước mắm ủ chượp 12 tháng trong thùng gỗ từ cá cơm và muối biển.",
    "capacity": "3.000 lít mỗi năm",
    "sales_market": "Quảng Ngãi, Đà Nẵng, TP Hồ Chí Minh",
    "staff_count": "6",
    "revenue_band": "lt1",
    "year_started": "2009",
}
COOPERATIVE = {
    "language": "en",
    "consent": "agree",
    "facility_name": "Hợp tác xã Mây tre đan Phú Vinh",
    "facility_kind": "cooperative",
    "province": "Hà Nội",
    "commune_kind": "commune",
    "commune": "Xã Phú Nghĩa",
    "craft_village": "yes",
    "tax_code": "0100109106",
    "contact_name": "Nguyễn Văn An",
    "phone": "0912 345 678",
    "products": "Giỏ mây, khay tre",
    "programme": "selection.region",
    "level": "region",
    "lower_cert": "2024",  # "In which year was it recognised?": the year typed, one message
    "lower_cert_year": "2024",
    "product_group": "handicraft",
    "made_in_house": "yes",
    "original": "yes",
    "series": "yes",
    "market": "yes",
    "compliant": "yes",
    "product_name": "Giỏ mây đan Phú Vinh",
    "product_description": "Giỏ đan tay từ mây rừng, nhuộm màu tự nhiên, bền và nhẹ.",
    "capacity": "2.000 sản phẩm mỗi tháng",
    "sales_market": "Hà Nội, xuất khẩu Nhật Bản",
    "staff_count": "25",
    "revenue_band": "1to3",
    "year_started": "2012",
}


_UPDATE_IDS = itertools.count(1)
_TRACE = False


@dataclass(frozen=True)
class Channel:
    name: str
    has_buttons: bool
    # (messages sent, characters) of one reply as this channel's adapter renders it
    measure: Callable[[list[Outgoing]], tuple[int, int]]
    # the platform tells the owner's language (Telegram's language_code, the browser's
    # Accept-Language; the adapters put it in Incoming.locale_hint); Zalo does not
    tells_language: bool = True
    # several files in one message: the web chat's file input, a Telegram album (one update per
    # photo, gathered by handlers/channels/telegram/albums.py)
    several_files: bool = False
    # photos picked together arrive one message each, gathered by the adapter (handlers/bursts.py):
    # Zalo, Bot Platform and OA
    image_bursts: bool = False


def _labels(out: list[Outgoing]) -> int:
    return sum(len(c.label) for m in out for c in m.choices)


def _web(out: list[Outgoing]) -> tuple[int, int]:
    return len(out), sum(len(m.text) for m in out) + _labels(out)


def _telegram(out: list[Outgoing]) -> tuple[int, int]:
    parts = [p for m in out for p in split_text(m.text, 4096)]
    return len(parts), sum(len(p) for p in parts) + _labels(out)


def _zalo(out: list[Outgoing]) -> tuple[int, int]:
    texts = zalo_render(out, "http://127.0.0.1:8080")
    return len(texts), sum(len(t) for t in texts)


CHANNELS = (
    Channel("web", True, _web, several_files=True),
    Channel("telegram", True, _telegram, several_files=True),
    Channel("zalo", False, _zalo, tells_language=False, image_bursts=True),
)


@dataclass
class Owner:
    pipeline: Pipeline
    sessions: async_sessionmaker[AsyncSession]
    channel: Channel
    user_id: str
    answers: dict[str, str]
    last: list[Outgoing] = field(default_factory=list)
    messages: int = 0
    chars: int = 0
    inputs: int = 0
    # (flow/step the owner answered, messages, characters) per input: where the cost goes
    steps: list[tuple[str, int, int]] = field(default_factory=list)
    at: str = "start"

    async def _go(self, **fields: Any) -> None:
        incoming = Incoming(
            channel=self.channel.name,
            user_id=self.user_id,
            update_id=str(next(_UPDATE_IDS)),  # unique per channel: the pipeline drops repeats
            has_buttons=self.channel.has_buttons,
            locale_hint=self.answers["language"] if self.channel.tells_language else None,
            **fields,  # the Incoming fields this driver sets
        )
        self.last = await self.pipeline.handle(incoming)
        count, chars = self.channel.measure(self.last)
        self.messages += count
        self.chars += chars
        self.inputs += 1
        self.steps.append((self.at, count, chars))
        if _TRACE:
            print(
                f"== {self.at}",
                *(m.text + " | " + " / ".join(c.label for c in m.choices) for m in self.last),
                sep="\n",
            )

    async def send(self, text: str) -> None:
        cmd = command_of(text)
        if cmd:
            await self._go(command=cmd[0], command_args=cmd[1])
        else:
            await self._go(text=text)

    async def pick(self, payload: str) -> None:
        """Tap the button, or on Zalo type the number it has in the numbered menu."""
        if self.channel.has_buttons:
            await self._go(choice=payload)
            return
        menu = next((m for m in reversed(self.last) if m.choices), None)
        payloads = [c.payload for c in menu.choices] if menu else []
        if payload in payloads:
            await self._go(text=str(payloads.index(payload) + 1))
        else:  # not in the numbered menu: the owner would have to find the words
            await self._go(choice=payload)

    async def upload(self, *files: tuple[str, bytes, str]) -> None:
        refs = [_file_ref(*f) for f in files]
        await self._go(file=refs[0], more_files=tuple(refs[1:]))

    async def burst(self, *files: tuple[str, bytes, str]) -> None:
        """Photos sent as the Zalo app sends those picked together: one message each, back to back,
        gathered as the Zalo adapters gather them (the same `Bursts`, the same quiet window)."""
        bursts: Bursts[str, FileRef] = Bursts(BURST_QUIET)
        refs = [_file_ref(*f) for f in files]
        for ref in refs:
            bursts.join(self.user_id, ref)
        gathered = await bursts.gather(self.user_id, refs[0])
        await self._go(file=gathered[0], more_files=tuple(gathered[1:]))

    def offered(self, step: str) -> list[str]:
        return [c.payload for m in self.last for c in m.choices if c.payload.startswith(f"{step}:")]


def _file_ref(name: str, data: bytes, content_type: str) -> FileRef:
    async def read() -> bytes:
        return data

    return FileRef(filename=name, content_type=content_type, size=len(data), read=read)


async def _where(owner: Owner) -> tuple[str | None, str | None]:
    async with owner.sessions() as s:
        identity = await s.scalar(select(Identity).where(Identity.external_id == owner.user_id))
        state = await s.get(ConversationState, identity.account_id) if identity else None
        return (state.flow, state.step) if state else (None, None)


async def _waiting_for(owner: Owner) -> str | None:
    """The document the bot asked for (the next file sent is filed under it), if any."""
    async with owner.sessions() as s:
        identity = await s.scalar(select(Identity).where(Identity.external_id == owner.user_id))
        state = await s.get(ConversationState, identity.account_id) if identity else None
        return state.data.get("upload_for") if state else None


async def _missing_documents(owner: Owner, dialogue: Dialogue) -> list[documents.ItemStatus]:
    async with owner.sessions() as s:
        identity = await s.scalar(select(Identity).where(Identity.external_id == owner.user_id))
        assert identity is not None, "the owner has talked to the bot"
        account = await s.get(Account, identity.account_id)
        state = await s.get(ConversationState, identity.account_id)
        assert account is not None and state is not None
        probe = Incoming(channel=owner.channel.name, user_id=owner.user_id, update_id="probe")
        run = await dialogue.run_for(s, account, state, probe)
        return documents.missing_required(await documents.status(run))


async def _answer_until(owner: Owner, dialogue: Dialogue, flow_done: str) -> None:
    """Answer whatever is asked until the flow `flow_done` is left (or its last step)."""
    for _ in range(200):
        flow, step = await _where(owner)
        owner.at = f"{flow}/{step}"
        if flow is None or (flow == flow_done and step == "after_check"):
            return
        if step == documents.STEP_ID:
            missing = await _missing_documents(owner, dialogue)
            if not missing:
                await owner.pick(f"{documents.STEP_ID}:done")
                continue
            item = missing[0].item
            if await _waiting_for(owner) != item.id:  # the bot did not ask for it already
                await owner.pick(f"{documents.STEP_ID}:up:{item.id}")
            if item.accept == ("image",) or item.min_files > 1:
                files = [
                    (f"anh{i}.jpg", JPEG + bytes([i]), "image/jpeg") for i in range(max(item.min_files, 1))
                ]
            else:
                files = [(f"{item.id}.pdf", PDF + item.id.encode(), "application/pdf")]
            if owner.channel.several_files:
                await owner.upload(*files)
            elif owner.channel.image_bursts and all(f[2].startswith("image/") for f in files):
                await owner.burst(*files)
            else:
                for file in files:
                    await owner.upload(file)
            continue
        if step in ("summary", "profile_summary"):
            await owner.pick(f"{step}:confirm")
            continue
        offered = owner.offered(step or "")
        value = owner.answers.get(step or "")
        if step == "consent" and owner.answers["language"] == "en" and "consent:agree_en" in offered:
            value = "agree_en"  # no language told (Zalo): consent and English in one input
        if offered and value is not None and f"{step}:{value}" not in offered:
            await owner.send(value)  # typed where the buttons are the other answers (the year)
        elif offered:
            await owner.pick(f"{step}:{value}" if value is not None else offered[0])
        elif value is not None:
            await owner.send(value)
        else:
            raise RuntimeError(f"journey stuck at {flow}/{step}: {owner.last}")
    raise RuntimeError("journey did not finish")


async def _journey_a(owner: Owner, dialogue: Dialogue) -> None:
    owner.at = "hello"
    await owner.send("xin chào")
    await _answer_until(owner, dialogue, "onboarding")
    owner.at = "/check"
    await owner.send("/check")
    await _answer_until(owner, dialogue, "check")
    owner.at = "/apply"
    await owner.send("/apply")
    await _answer_until(owner, dialogue, "apply")


async def _journey_b(owner: Owner, dialogue: Dialogue) -> None:
    owner.at = "/start"
    await owner.send("/start")
    await _answer_until(owner, dialogue, "onboarding")
    owner.at = "/apply"
    await owner.send("/apply")
    await _answer_until(owner, dialogue, "apply")


JOURNEYS: dict[str, tuple[dict[str, str], Callable[[Owner, Dialogue], Awaitable[None]]]] = {
    "fish sauce, provincial (vi)": (FISH_SAUCE, _journey_a),
    "handicraft coop, regional (en)": (COOPERATIVE, _journey_b),
}


async def measure() -> dict[tuple[str, str], Owner]:
    """Every journey on every channel; the owners carry their counts."""
    results: dict[tuple[str, str], Owner] = {}
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        await migrate(engine)
        sessions = session_factory(engine)
        dialogue = Dialogue(programmes=load_programmes(), files=FileStore(Path(tmp) / "files"))
        pipeline = Pipeline(sessions, dialogue)
        for n, ((journey, (answers, script)), channel) in enumerate(
            itertools.product(JOURNEYS.items(), CHANNELS)
        ):
            owner = Owner(pipeline, sessions, channel, f"owner{n}", answers)
            await script(owner, dialogue)
            if not re.search(r"KC-\d{4}-[A-Z0-9]{5}", "\n".join(m.text for m in owner.last)):
                raise RuntimeError(f"{journey} on {channel.name} ended without a receipt: {owner.last}")
            results[(journey, channel.name)] = owner
        await engine.dispose()
    return results


async def run() -> list[Figure]:
    figures: list[Figure] = []
    for (journey, channel), owner in (await measure()).items():
        figures += [
            Figure(f"{channel} {journey}: bot messages", owner.messages, "msgs"),
            Figure(f"{channel} {journey}: characters", owner.chars, "chars"),
            Figure(f"{channel} {journey}: user inputs", owner.inputs, "inputs"),
        ]
    return figures


def breakdown(owner: Owner) -> str:
    """Per step answered: the bot messages and characters its reply cost, largest first."""
    totals: dict[str, list[int]] = {}
    for at, count, chars in owner.steps:
        entry = totals.setdefault(at, [0, 0, 0])
        entry[0] += 1
        entry[1] += count
        entry[2] += chars
    rows = sorted(totals.items(), key=lambda kv: -kv[1][2])
    return "\n".join(f"  {at:40} inputs {n:3} msgs {m:3} chars {c:6}" for at, (n, m, c) in rows)


if __name__ == "__main__":  # python -m benchmarks.journey_cost: the per-step breakdown
    import asyncio

    for (journey, channel), owner in asyncio.run(measure()).items():
        print(f"{channel} {journey}: {owner.messages} msgs, {owner.chars} chars, {owner.inputs} inputs")
        print(breakdown(owner))
