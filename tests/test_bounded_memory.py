"""What a long-running worker keeps per user must go when the user goes idle: a national
deployment sees hundreds of thousands of owners over a season, and a map that only grows would
end the process (benchmarks/memory.py measures the whole bot: issue 14, RSS ≤ 200 MB)."""

from __future__ import annotations

import asyncio
import gc

from handlers.runtime import UserTurns
from handlers.senders import Sender
from handlers.workers.clock import RealTime
from handlers.workers.pacing import ChannelLimits, ChannelState


async def test_the_per_user_turns_of_idle_users_are_given_back() -> None:
    turns = UserTurns()
    order: list[tuple[int, int]] = []

    async def update(user: int, n: int) -> None:
        async with turns.turn("telegram", str(user)):
            await asyncio.sleep(0)  # a second update of the same user arrives meanwhile and waits
            order.append((user, n))

    # Two updates per user, side by side: the second waits for the first's turn.
    await asyncio.gather(*(update(user, n) for user in range(2_000) for n in (1, 2)))
    assert all(order.index((user, 1)) < order.index((user, 2)) for user in range(0, 2_000, 97))

    gc.collect()
    assert len(turns._turns) == 0  # nobody is being answered: nothing is held for anyone


def test_the_delivery_pace_per_chat_forgets_chats_it_may_send_to_again() -> None:
    sender: Sender = object()  # type: ignore[assignment]  # never asked to send here
    channel = ChannelState("telegram", sender, ChannelLimits(30.0, 1.0), RealTime())
    now = 1_000.0
    for chat in range(60_000):  # one message each to a broadcast's worth of chats, long ago
        channel.chat_free[str(chat)] = now - 10.0
    channel.chat_free["busy"] = now + 1.0  # just sent to: must still wait its second
    channel.prune(now)
    assert channel.chat_free == {"busy": now + 1.0}


async def test_the_telegram_application_keeps_nothing_for_users_it_has_answered() -> None:
    from telegram import Update
    from telegram.ext import ApplicationBuilder, ContextTypes, TypeHandler

    from handlers.channels.telegram.lean_application import LeanApplication
    from tests.fake_telegram import TOKEN, FakeTelegram, FakeUser

    async def answered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        return None

    async with FakeTelegram() as fake:
        application = (
            ApplicationBuilder()
            .token(TOKEN)
            .base_url(fake.base_url)
            .base_file_url(fake.base_file_url)
            .updater(None)
            .application_class(LeanApplication)
            .build()
        )
        application.add_handler(TypeHandler(Update, answered))
        async with application:
            for n in range(1_000):  # a thousand owners, one message each
                data = fake.message_update(FakeUser(10_000 + n), "xin chào")
                await application.process_update(Update.de_json(data, application.bot))
        # PTB's own Application would hold all thousand user ids and chat ids here, for ever.
        assert not application._user_ids_to_be_updated_in_persistence
        assert not application._chat_ids_to_be_updated_in_persistence
