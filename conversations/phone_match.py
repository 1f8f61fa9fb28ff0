"""`/phone`: someone new in one app (typically a follower of the Zalo Official Account) finds the
profile they made in another app by the mobile number they gave there.

Asked, never assumed: the bot never joins two apps because a number matches, since anyone can
type anyone's number. The profile's own apps receive a `/link` code made for this chat; typing
it there proves the person holds that app too, and `/link` then joins them by its usual rules
(conversations/linking.py). The answer here is the same whether the number is known or not, so
the bot does not tell a stranger which numbers belong to registered facilities; lookups count
against the same hourly limit as wrong link codes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from conversations.feature import Feature
from conversations.i18n import N_
from conversations.linking import CHANNEL_NAMES, MAX_FAILURES
from conversations.programmes import Programme
from conversations.run import Run
from conversations.steps import AskText, Flow, Transition
from conversations.validators import phone
from storage import accounts, links, outbox
from storage.models import Facility

if TYPE_CHECKING:
    from conversations.dialogue import Dialogue

FLOW_ID = "phone_match"
CODE_SENT = N_(
    "Someone asked in {channel} to use your facility profile there. If it was you, send here within "
    "10 minutes:\n/link {code}\nIf it was not you, ignore this message: nothing changes."
)
ANSWER = N_(
    "If a facility profile uses this number, I have sent a message with a code to the app it was "
    "made in (Zalo, Telegram or the web chat). Open that app and send the code there as it says."
)


async def _cmd_phone(run: Run, args: str, dialogue: Dialogue) -> None:
    dialogue.engine.leave(run, keep=True)
    if run.facility is not None:
        run.say(run.t(N_("This chat already has a facility profile. To join another app to it, use /link.")))
        await dialogue.show_menu(run)
        return
    await dialogue.engine.start(run, FLOW_ID)


async def _phone_typed(run: Run, value: Any) -> Transition:
    run.engine.leave(run)
    session = run.session
    mine = await accounts.find_identity(session, run.incoming.channel, run.incoming.user_id)
    assert mine is not None  # the pipeline created it for this very update
    if await links.recent_failures(session, mine, run.now) >= MAX_FAILURES:
        run.say(run.t(N_("Too many attempts. Please wait an hour, then try again.")))
        return None
    await links.record_failure(session, mine, run.now)  # every lookup counts, found or not
    account_ids = list(await session.scalars(select(Facility.account_id).where(Facility.phone == str(value))))
    targets = [
        identity
        for account_id in account_ids
        if account_id != run.account.id
        for identity in await outbox.identities_for_account(session, account_id)
        if identity.channel != mine.channel
    ]
    if targets:
        code = await links.issue(session, mine, run.now)
        payload = {
            "msgid": CODE_SENT,
            "values": {"code": code, "channel": {"msgid": CHANNEL_NAMES.get(mine.channel, mine.channel)}},
        }
        for identity in targets:
            await outbox.enqueue(
                session,
                purpose=f"phone_match:{mine.id}:{int(run.now.timestamp())}",
                identity=identity,
                payload=payload,
                not_before=run.now,
            )
    run.say(run.t(ANSWER))
    if run.engine.show_menu is not None:
        await run.engine.show_menu(run)
    return None


def _flows(programmes: Mapping[str, Programme]) -> Sequence[Flow]:
    return [
        Flow(
            id=FLOW_ID,
            version=1,
            steps=(
                AskText(
                    id="phone",
                    prompt=N_("Please type the mobile number you gave when you registered in the other app."),
                    example=N_("For example: 0912 345 678"),
                    validate=phone,
                    store=False,
                    on_answer=_phone_typed,
                ),
            ),
        )
    ]


PHONE_MATCH = Feature(name="phone_match", commands={"phone": _cmd_phone}, flows=_flows)
