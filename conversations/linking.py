"""Linking a facility's Zalo and Telegram (or web chat) to one account: `/link`.

On one app `/link` shows a six-digit code, valid ten minutes; on the other the user sends
`/link 123456` (or picks "I have a code" and types it). Afterwards both apps are one account:
one profile, one draft, and `/apply` on either continues where the other stopped.

Merge rules, chosen so that nothing anyone typed is ever thrown away or mixed:
- an account "has data" when it has a facility profile (drafts and dossiers hang off it);
- neither or only the code's side has data: the typing side's identities join the code's account;
- only the typing side has data: the code's side joins the typing side;
- both have data: nothing changes, and the user is told why and whom to ask.
The account left without identities keeps no profile (that is what made it movable) and is left
in place; it is never reached again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from conversations.feature import Feature
from conversations.i18n import N_, translator
from conversations.messages import TELEGRAM, WEB, ZALO, ZALO_OA, Choice
from conversations.payloads import Go
from conversations.programmes import Programme
from conversations.run import Run
from conversations.steps import AskText, Flow, Step, Transition
from conversations.validators import Invalid, Result, Valid
from storage import accounts, applications, links
from storage.models import Account, Identity

if TYPE_CHECKING:
    from conversations.dialogue import Dialogue

FLOW_ID = "link"
MAX_FAILURES = 5  # wrong codes per identity and hour: a million codes cannot be walked through

CHANNEL_NAMES = {
    ZALO: N_("Zalo"),
    ZALO_OA: N_("Zalo Official Account"),
    TELEGRAM: N_("Telegram"),
    WEB: N_("the web chat"),
}


def _code_of(text: str) -> str | None:
    """ "123 456", "123-456" and "123456" are the same code; anything else is not one."""
    digits = re.sub(r"[\s.\-]", "", text)
    return digits if len(digits) == links.CODE_DIGITS and digits.isdigit() else None


def _validate_code(text: str) -> Result:
    code = _code_of(text)
    if code is None:
        return Invalid(N_("A link code has 6 digits."), N_("For example: 482915"))
    return Valid(code)


def _channel_name(run: Run, channel: str) -> str:
    return run.t(CHANNEL_NAMES.get(channel, channel))


# --- showing a code ----------------------------------------------------------------------------


async def _cmd_link(run: Run, args: str, dialogue: Dialogue) -> None:
    dialogue.engine.leave(run, keep=True)
    args = args.strip()
    if args.lower() in ("enter", "code", "ma"):
        await dialogue.engine.start(run, FLOW_ID)
        return
    if args:
        code = _code_of(args)
        if code is None:
            run.say(run.t(N_("A link code has 6 digits, for example: /link 482915")))
            await dialogue.show_menu(run)
            return
        await redeem(run, code)
        return
    await show_code(run)


async def show_code(run: Run) -> None:
    identity = await accounts.find_identity(run.session, run.incoming.channel, run.incoming.user_id)
    assert identity is not None  # the pipeline created it for this very update
    code = await links.issue(run.session, identity, run.now)
    minutes = int(links.CODE_TTL.total_seconds() // 60)
    run.say(
        run.t(
            N_(
                "Your link code: {code} (valid for {minutes} minutes).\n\n"
                "Open the other app (Zalo or Telegram), go to the chat with the assistant and send:\n"
                "/link {code}\n\n"
                "Both apps will then share your facility profile and the dossier you are preparing."
            ),
            code=code,
            minutes=minutes,
        ),
        [
            Choice(run.t(N_("🔢 I have a code from the other app")), Go("link", "enter").pack()),
            Choice(run.t(N_("🏠 Main menu")), Go("menu").pack()),
        ],
    )


# --- typing a code -------------------------------------------------------------------------------


async def _code_typed(run: Run, value: Any) -> Transition:
    run.engine.leave(run)
    await redeem(run, str(value))
    return None  # redeem said everything, menu included


async def redeem(run: Run, code: str) -> None:
    """Link the identity this update came from with the one that asked for `code`."""
    session = run.session
    mine = await accounts.find_identity(session, run.incoming.channel, run.incoming.user_id)
    assert mine is not None  # the pipeline created it for this very update
    if await links.recent_failures(session, mine, run.now) >= MAX_FAILURES:
        run.say(run.t(N_("Too many wrong codes. Please wait an hour, then ask for a new code with /link.")))
        return
    found = await links.find_valid(session, code, run.now)
    if found is None:
        await links.record_failure(session, mine, run.now)
        run.say(
            run.t(
                N_(
                    "This code is wrong or has expired. In the other app, send /link to get a new code, "
                    "then type it here within 10 minutes."
                )
            ),
            [Choice(run.t(N_("🏠 Main menu")), Go("menu").pack())],
        )
        return
    theirs = await session.get(Identity, found.identity_id)
    assert theirs is not None
    if theirs.account_id == run.account.id:
        await links.consume(session, found, run.now)
        run.say(run.t(N_("These two apps are already linked: they share one profile.")))
        await _menu(run)
        return
    if theirs.channel == mine.channel:
        run.say(
            run.t(
                N_(
                    "This code was made in {channel} too. Please type it in the other app, where you "
                    "have not used the assistant under this profile yet."
                ),
                channel=_channel_name(run, mine.channel),
            )
        )
        return
    their_account = await session.get(Account, theirs.account_id)
    assert their_account is not None
    their_facility = await accounts.facility_of(session, their_account.id)
    if run.facility is not None and their_facility is not None:
        run.say(
            run.t(
                N_(
                    "Both apps already have a facility profile ({here} here, {there} in {channel}), so "
                    "I cannot join them without losing one. Nothing was changed. Please ask the "
                    "Industrial Extension Centre's staff to merge them for you."
                ),
                here=run.facility.name,
                there=their_facility.name,
                channel=_channel_name(run, theirs.channel),
            ),
            [Choice(run.t(N_("🏠 Main menu")), Go("menu").pack())],
        )
        return
    if not await links.consume(session, found, run.now):
        run.say(run.t(N_("This code has just been used. In the other app, send /link to get a new one.")))
        return
    if run.facility is None:
        # This side has no profile: it joins the account of the app that showed the code.
        await _move_identities(session, run.account, their_account)
        await _continue_as(run, their_account)
    else:
        await _move_identities(session, their_account, run.account)
    await _linked(run, theirs.channel)


async def _move_identities(session: AsyncSession, source: Account, target: Account) -> None:
    """Every channel of the account without a profile now reaches the one with it."""
    for identity in await accounts.identities_of(session, source.id):
        identity.account_id = target.id
    await session.flush()


async def _continue_as(run: Run, account: Account) -> None:
    """The rest of this update speaks for the account this chat now belongs to: its language,
    profile and conversation (which the other app may be in the middle of: it is not moved)."""
    run.account = account
    run.state = await accounts.locked_state(run.session, account.id)
    run.facility = await accounts.facility_of(run.session, account.id)
    run.application = None
    run.t = translator(account.locale or run.incoming.locale_hint)


async def _linked(run: Run, other_channel: str) -> None:
    text = run.t(
        N_("✅ Linked. This chat and {channel} now share one profile."),
        channel=_channel_name(run, other_channel),
    )
    if run.facility is not None:
        text += "\n" + run.t(N_("Facility: {name}"), name=run.facility.name)
        drafts = await applications.open_drafts(run.session, run.facility.id)
        if drafts:
            text += "\n\n" + run.t(N_("Send /apply to continue your dossier where you left off."))
    run.say(text)
    await _menu(run)


async def _menu(run: Run) -> None:
    if run.engine.show_menu is not None:
        await run.engine.show_menu(run)


# --- registration --------------------------------------------------------------------------------


def _flows(programmes: Mapping[str, Programme]) -> Sequence[Flow]:
    steps: list[Step] = [
        AskText(
            id="code",
            prompt=N_("Please type the 6-digit code the other app showed you."),
            example=N_("For example: 482915"),
            validate=_validate_code,
            store=False,
            on_answer=_code_typed,
        )
    ]
    return [Flow(id=FLOW_ID, version=1, steps=steps)]


async def _settings(run: Run) -> list[Choice]:
    return [Choice(run.t(N_("🔗 Link Zalo and Telegram")), Go("link").pack())]


LINKING = Feature(name="linking", commands={"link": _cmd_link}, flows=_flows, settings=_settings)
