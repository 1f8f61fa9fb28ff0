"""handlers/bursts.py on the event loop's own clock, as the running bot uses it (the channel tests
move a hand clock instead, tests/burst_clock.py): the real quiet window ends a burst, a close
ends it at once, and a part after the burst was gathered starts the next one."""

from __future__ import annotations

import asyncio

from handlers.bursts import Bursts, LoopClock


async def test_parts_joined_within_the_real_window_are_gathered_once_it_is_quiet() -> None:
    bursts: Bursts[str, str] = Bursts(0.05)
    assert isinstance(bursts.clock, LoopClock)
    assert bursts.join("chat", "a") is False  # the first part is handled, and gathers
    assert bursts.join("chat", "b") is True  # a later part joins it
    assert await bursts.gather("chat", "a") == ["a", "b"]  # once 0.05 s passed with no new part
    assert not bursts.gathering("chat")
    assert bursts.join("chat", "d") is False  # after the window: a new burst


async def test_a_close_ends_the_window_at_once() -> None:
    bursts: Bursts[str, str] = Bursts(3600.0)  # a window no test would wait out
    bursts.join("chat", "a")
    gathering = asyncio.create_task(bursts.gather("chat", "a"))
    await asyncio.sleep(0)
    bursts.close("chat")  # a text arrived
    assert await asyncio.wait_for(gathering, timeout=30) == ["a"]
