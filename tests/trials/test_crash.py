"""kill -9 while users answer, restart, redelivery: every acknowledged answer stored exactly
once. One trial of 8 users inside `make test` (still killed mid-traffic, with requests cut short
and retried); 100 trials of 30 users with TRIALS_FULL=1 (`make trials`)."""

from __future__ import annotations

import os

import pytest

from tests.trials import crash

pytestmark = pytest.mark.trial
FULL = os.environ.get("TRIALS_FULL") == "1"
RUNS = 100 if FULL else 1
USERS = crash.USERS if FULL else 8


async def test_kill_9_mid_traffic_loses_nothing_and_applies_nothing_twice() -> None:
    figures = await crash.run(RUNS, seed=int(os.environ.get("TRIAL_SEED", "9")), users=USERS)
    print(
        f"\ncrash trials {figures.trials}, kills mid-traffic {figures.kills_mid_traffic}, "
        f"acknowledged {figures.acknowledged}, lost {figures.lost}, applied twice {figures.applied_twice}, "
        f"apologies {figures.apologies}, dead letters {dict(figures.dead_letters)}"
    )
    assert figures.trials == RUNS and figures.kills_mid_traffic == RUNS
    assert figures.acknowledged == RUNS * USERS * len(crash.script(0))
    assert (figures.lost, figures.applied_twice) == (0, 0), figures.problems[:10]
