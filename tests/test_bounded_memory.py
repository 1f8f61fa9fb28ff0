"""What a long-running worker keeps per user must go when the user goes idle: a national
deployment sees hundreds of thousands of owners over a season, and a map that only grows would
end the process (benchmarks/memory.py measures the whole bot: issue 14, RSS ≤ 200 MB)."""

from __future__ import annotations

import asyncio
import gc

from handlers.runtime import UserTurns
from handlers.senders import Sender
from handlers.workers.delivery import ChannelLimits, RealTime, _Channel


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
    channel = _Channel("telegram", sender, ChannelLimits(30.0, 1.0), RealTime())
    now = 1_000.0
    for chat in range(60_000):  # one message each to a broadcast's worth of chats, long ago
        channel.chat_free[str(chat)] = now - 10.0
    channel.chat_free["busy"] = now + 1.0  # just sent to: must still wait its second
    channel.prune(now)
    assert channel.chat_free == {"busy": now + 1.0}
