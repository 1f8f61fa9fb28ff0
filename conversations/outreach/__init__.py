"""Outreach: broadcasts, trade fairs, reminders and the one-tap opt-out, as one feature.

`FEATURE` is listed in conversations/features.py. Its commands: /broadcast (staff), /fairs
(owners and staff), /reminders and /rounds (staff), and the opt-out buttons every announcement
carries ("go:optout", undone with "go:optin"). Sending is not done here: messages become outbox
rows that handlers/workers/delivery.py delivers, and conversations/outreach/reminders.py plans and sweeps.

Modules import nothing from conversations.dialogue at run time: the dialogue imports the feature
list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from conversations.feature import Feature
from conversations.i18n import N_
from conversations.messages import Choice
from conversations.outreach import broadcasts, fair_staff, fairs, upcoming
from conversations.outreach.common import scope
from conversations.payloads import go
from conversations.programmes import Programme
from conversations.run import Run
from conversations.steps import Action, Flow

if TYPE_CHECKING:
    from conversations.dialogue import Dialogue

OPTED_OUT = N_(
    "Done: you will no longer receive announcements or reminders. News about your own dossiers still "
    "comes. You can turn them on again in Settings."
)
OPTED_IN = N_("You will receive announcements about trade fairs and programmes again.")


async def cmd_optout(run: Run, args: str, dialogue: Dialogue) -> None:
    """The button under every announcement: one tap, no question asked."""
    run.account.announcements_opt_in = False
    run.say(run.t(OPTED_OUT), [Choice(run.t(N_("🔔 Receive announcements")), go("optin"))])


async def cmd_optin(run: Run, args: str, dialogue: Dialogue) -> None:
    run.account.announcements_opt_in = True
    run.say(run.t(OPTED_IN))
    await dialogue.show_menu(run)


async def _staff_menu(run: Run) -> list[Choice]:
    if await scope(run) == set():
        return []
    return [
        Choice(run.t(N_("📣 Broadcast")), go("broadcast")),
        Choice(run.t(N_("⏰ Upcoming reminders")), go("reminders")),
    ]


def _flows(programmes: Mapping[str, Programme]) -> Sequence[Flow]:
    return [
        broadcasts.build(),
        fairs.build_register(),
        fair_staff.build_new(),
        fair_staff.build_deadline(),
        Flow(id="fairs", version=1, steps=[Action(id="fairs_show", run=fairs.fairs_flow_entry)]),
        *upcoming.build_rounds(),
    ]


FEATURE = Feature(
    name="outreach",
    commands={
        "broadcast": broadcasts.cmd_broadcast,
        "fairs": fairs.cmd_fairs,
        "reminders": upcoming.cmd_reminders,
        "rounds": upcoming.cmd_rounds,
        "optout": cmd_optout,
        "optin": cmd_optin,
    },
    flows=_flows,
    menu=_staff_menu,
)
