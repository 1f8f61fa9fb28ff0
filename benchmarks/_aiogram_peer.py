"""An aiogram 3 peer bot for benchmarks/inbound_peers.py, run by the peers venv's python (aiogram and
redis are never dependencies of the project): `python _aiogram_peer.py echo|form PORT TOKEN PREFIX`.

`echo` answers each text with itself, as aiogram's examples do. `form` is the stateful peer a team
would otherwise pick: an FSM form whose state and answers live in Redis (RedisStorage), each
message read state + data, store the answer, move to the next state, reply. It prints "ready"
once polling starts and stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import sys

from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import DefaultKeyBuilder
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import Message

STEPS = 20


class Form(StatesGroup):
    pass


# One state per question, like a 20-question form.
for _i in range(STEPS):
    setattr(Form, f"q{_i}", State(state=f"q{_i}", group_name="Form"))
QUESTIONS = [f"Form:q{i}" for i in range(STEPS)]


async def main(mode: str, port: int, token: str, prefix: str) -> None:
    server = TelegramAPIServer.from_base(f"http://127.0.0.1:{port}")
    bot = Bot(token, session=AiohttpSession(api=server))
    if mode == "form":
        from aiogram.fsm.storage.redis import RedisStorage
        from redis.asyncio import Redis

        storage = RedisStorage(
            Redis(host="127.0.0.1", port=6379),
            key_builder=DefaultKeyBuilder(prefix=prefix, with_destiny=False),
        )
    else:
        storage = MemoryStorage()
    dp = Dispatcher(storage=storage)

    if mode == "echo":

        @dp.message(F.text)
        async def echo(message: Message) -> None:
            await message.answer(message.text or "")

    else:

        @dp.message(F.text)
        async def form(message: Message, state: FSMContext) -> None:
            current = await state.get_state()
            data = await state.get_data()
            index = QUESTIONS.index(current) if current in QUESTIONS else -1
            data[f"a{index + 1}"] = message.text
            await state.set_data(data)
            nxt = QUESTIONS[(index + 1) % STEPS]
            await state.set_state(nxt)
            await message.answer(f"Saved. Next question: {nxt}")

    @dp.startup()
    async def ready() -> None:
        print("ready", flush=True)

    try:
        await dp.start_polling(bot, polling_timeout=30, handle_signals=True, close_bot_session=True)
    finally:
        if mode == "form":  # Redis is shared with others: leave nothing of ours behind
            keys = [key async for key in storage.redis.scan_iter(f"{prefix}:*")]
            if keys:
                await storage.redis.delete(*keys)
        await storage.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]))
