"""Consent to reminders as Zalo notifications (ZNS) to the owner's mobile number.

ZNS reaches a phone number, not a chat the owner opened, and each message is paid, so it goes
only to owners who agreed: the personal-data notice says reminders may come this way, agreeing
to it records this consent (conversations/flows/onboarding.py), and Settings turns it off or on
again. Owners who agreed to an earlier notice, which did not mention ZNS, have no ZNS consent
until they turn it on themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from conversations.feature import Feature
from conversations.i18n import N_
from conversations.messages import Choice
from conversations.payloads import Go
from conversations.run import Run
from storage import zalo_oa

if TYPE_CHECKING:
    from conversations.dialogue import Dialogue

TURN_OFF = N_("📵 Stop reminders as Zalo notifications (ZNS)")
TURN_ON = N_("📲 Get reminders as Zalo notifications (ZNS)")


async def _settings(run: Run) -> list[Choice]:
    if run.account.consent_at is None:
        return []
    given = await zalo_oa.has_zns_consent(run.session, run.account.id)
    return [Choice(run.t(TURN_OFF if given else TURN_ON), Go("zns").pack())]


async def _cmd_zns(run: Run, args: str, dialogue: Dialogue) -> None:
    if run.account.consent_at is None:
        run.say(run.t(N_("Please send /start first: Zalo notifications need your consent.")))
        return
    given = not await zalo_oa.has_zns_consent(run.session, run.account.id)
    await zalo_oa.set_zns_consent(run.session, run.account.id, given, run.now)
    if given:
        run.say(
            run.t(
                N_(
                    "Done: reminders about deadlines and certificates may also reach your mobile "
                    "number as Zalo notifications (ZNS) when I cannot write to you in the chat."
                )
            )
        )
    else:
        run.say(run.t(N_("Done: the Centre will not send Zalo notifications (ZNS) to your mobile number.")))


ZNS_CONSENT = Feature(name="zns", commands={"zns": _cmd_zns}, settings=_settings)
