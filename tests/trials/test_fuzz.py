"""Generated Telegram updates, Zalo events and web-chat requests against the running system: no
unhandled exception, no dead letter, no 5xx. 150 inputs inside `make test`; 10,000 with
TRIALS_FULL=1 (`make trials`)."""

from __future__ import annotations

import asyncio
import os

import pytest

from tests.trials import fuzz

pytestmark = pytest.mark.trial
COUNT = 10_000 if os.environ.get("TRIALS_FULL") == "1" else 150


async def test_generated_input_never_breaks_the_system() -> None:
    # Hypothesis drives plain HTTP from this thread; the system runs on its own loop and thread.
    figures = await asyncio.to_thread(fuzz.run, COUNT)
    print("\nfuzz " + fuzz.report(figures))
    assert sum(figures.requests.values()) >= COUNT
    assert figures.exceptions == []
    assert (figures.dead_letters, figures.server_errors) == (0, 0)
