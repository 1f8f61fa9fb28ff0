"""/fairs: trade fairs. Facility owners see the open ones, register (products, booth needs,
contact) and may withdraw before the deadline; staff who run outreach get the staff side instead
(conversations/outreach/fair_staff.py: create, export, move the deadline, announce).

A registration exists as a draft from the moment its owner starts it, so an unfinished one can be
reminded of before the deadline; confirming makes it registered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conversations.i18n import N_
from conversations.messages import Choice
from conversations.outreach import fair_staff
from conversations.outreach.common import (
    GROUP_LABELS,
    LEVEL_LABELS,
    local_today,
    menu_choice,
    needs_profile,
    scope,
    text_block,
)
from conversations.outreach.fair_staff import fair_text
from conversations.payloads import go
from conversations.record_ids import record_id
from conversations.run import Run
from conversations.steps import AskChoice, AskText, EndFlow, Flow, Option, Summary, Transition
from conversations.validators import Result, number, phone
from storage import outreach
from storage.outreach import Fair, FairRegistration

if TYPE_CHECKING:
    from conversations.dialogue import Dialogue

NONE_OPEN = N_(
    "No trade fair is open for registration through the assistant right now. When the centre announces "
    "one, you will get a message here."
)
NO_LEVEL = "none"


# --- facility owners -----------------------------------------------------------------------------


async def show_open(run: Run) -> None:
    assert run.facility is not None
    fairs = await outreach.open_fairs(run.session, local_today(run), run.facility.province)
    if not fairs:
        run.say(run.t(NONE_OPEN), [menu_choice(run)])
        return
    run.say(run.t(N_("Trade fairs open for registration:")))
    for fair in fairs[:8]:
        registration = await outreach.registration_of(run.session, fair.id, run.facility.id)
        text = fair_text(run, fair)
        if registration is not None and registration.status == "registered":
            text += "\n" + run.t(N_("✅ You are registered ({booths} booths)."), booths=registration.booths)
            choices = [
                Choice(run.t(N_("✏️ Change my registration")), go("fairs", "reg", fair.id)),
                Choice(run.t(N_("↩️ Withdraw")), go("fairs", "withdraw", fair.id)),
            ]
        else:
            choices = [Choice(run.t(N_("📝 Register")), go("fairs", "reg", fair.id))]
        run.say(text, choices)
    run.say(run.t(N_("Anything else?")), [menu_choice(run)])


async def _open_fair(run: Run, fair_id: int) -> Fair | None:
    """The fair if this facility may still register for it; says why not otherwise."""
    fair = await run.session.get(Fair, fair_id)
    assert run.facility is not None
    if fair is None or fair.status != "open" or (fair.province not in (None, run.facility.province)):
        run.say(run.t(N_("This fair is not open for registration.")), [menu_choice(run)])
        return None
    if local_today(run) > fair.registration_deadline:
        run.say(
            run.t(
                N_("Registration for this fair closed on {date}."),
                date=run.t.date(fair.registration_deadline),
            ),
            [menu_choice(run)],
        )
        return None
    return fair


async def start_registration(run: Run, dialogue: Dialogue, fair_id: int) -> None:
    fair = await _open_fair(run, fair_id)
    if fair is None:
        return
    assert run.facility is not None
    registration = await outreach.registration_of(run.session, fair.id, run.facility.id)
    if registration is None:
        registration = FairRegistration(
            fair_id=fair.id, facility_id=run.facility.id, status="draft", created_at=run.now
        )
        run.session.add(registration)
        await run.session.flush()
    if registration.status == "registered":
        answers: dict[str, Any] = {
            "fr_products": registration.products,
            "fr_group": registration.product_group,
            "fr_level": registration.certificate_level or NO_LEVEL,
            "fr_number": registration.certificate_number,
            "fr_booths": registration.booths,
            "fr_needs": registration.booth_needs,
            "fr_contact": registration.contact_name,
            "fr_phone": registration.phone,
        }
    else:
        registration.status = "draft"
        answers = {"fr_contact": run.facility.contact_name or None, "fr_phone": run.facility.phone or None}
    dialogue.engine.leave(run, keep=True)
    await dialogue.engine.start(
        run,
        "fair_register",
        {"fair_id": fair.id, "answers": {k: v for k, v in answers.items() if v is not None}},
    )


async def _register(run: Run) -> Transition:
    fair = await _open_fair(run, run.state.data["fair_id"])
    if fair is None:
        return EndFlow(show_menu=False)
    assert run.facility is not None
    registration = await outreach.registration_of(run.session, fair.id, run.facility.id)
    if registration is None:
        registration = FairRegistration(fair_id=fair.id, facility_id=run.facility.id)
        run.session.add(registration)
    answers = run.answers
    level = answers.get("fr_level")
    registration.products = answers["fr_products"]
    registration.product_group = answers.get("fr_group")
    registration.certificate_level = None if level in (None, NO_LEVEL) else level
    registration.certificate_number = answers.get("fr_number") if registration.certificate_level else None
    registration.booths = int(answers.get("fr_booths") or 1)
    registration.booth_needs = answers.get("fr_needs")
    registration.contact_name = answers["fr_contact"]
    registration.phone = answers["fr_phone"]
    registration.status = "registered"
    registration.registered_at = run.now
    registration.withdrawn_at = None
    run.say(
        run.t(
            N_(
                "✅ Registered for “{fair}”. The centre allocates the funded booths after {date}, with priority "
                "for certified products, and will contact you. You can change or withdraw your registration "
                "until then with /fairs."
            ),
            fair=fair.name,
            date=run.t.date(fair.registration_deadline),
        )
    )
    return EndFlow()


def _booths(text: str) -> Result:
    return number(text, minimum=1, maximum=4)


def build_register() -> Flow:
    levels = [*(Option(k, v) for k, v in LEVEL_LABELS.items()), Option(NO_LEVEL, N_("No certificate yet"))]
    return Flow(
        id="fair_register",
        version=1,
        steps=[
            AskText(
                id="fr_products",
                prompt=N_("Which products will you show at the fair?"),
                label=N_("Products"),
                validate=text_block(2, 400),
                example=N_("For example: giỏ mây, khay tre, đèn tre"),
            ),
            AskChoice(
                id="fr_group",
                prompt=N_("Which product group do they belong to?"),
                label=N_("Product group"),
                options=[Option(k, v) for k, v in GROUP_LABELS.items()],
            ),
            AskChoice(
                id="fr_level",
                prompt=N_(
                    "Do these products hold a certificate of typical rural industrial product? Funded booths go first to certified products."
                ),
                label=N_("Certificate"),
                options=levels,
            ),
            AskText(
                id="fr_number",
                when=lambda run: run.answers.get("fr_level") not in (None, NO_LEVEL),
                prompt=N_("The certificate's number?"),
                label=N_("Certificate number"),
                optional=True,
                validate=text_block(1, 64),
            ),
            AskText(
                id="fr_booths",
                prompt=N_("How many booths do you need (1 to 4)?"),
                label=N_("Booths"),
                validate=_booths,
            ),
            AskText(
                id="fr_needs",
                prompt=N_(
                    "Anything the booth needs (electricity, a fridge, a display shelf)? Choose Skip if not."
                ),
                label=N_("Booth needs"),
                optional=True,
                validate=text_block(2, 400),
            ),
            AskText(
                id="fr_contact",
                prompt=N_("Who should the centre contact about the fair?"),
                label=N_("Contact person"),
                validate=text_block(2, 120),
            ),
            AskText(
                id="fr_phone",
                prompt=N_("Their phone number?"),
                label=N_("Phone"),
                validate=phone,
                example=N_("For example: 0912 345 678"),
            ),
            Summary(
                id="fr_summary",
                title=N_("Your registration: please check it."),
                confirm_label=N_("✅ Register"),
                on_confirm=_register,
                later_message=N_("Saved. Send /fairs to finish your registration before the deadline."),
            ),
        ],
    )


async def withdraw(run: Run, fair_id: int, confirmed: bool) -> None:
    fair = await _open_fair(run, fair_id)
    if fair is None:
        return
    assert run.facility is not None
    registration = await outreach.registration_of(run.session, fair.id, run.facility.id)
    if registration is None or registration.status != "registered":
        run.say(run.t(N_("You are not registered for this fair.")), [menu_choice(run)])
        return
    if not confirmed:
        run.say(
            run.t(N_("Withdraw your registration for “{fair}”?"), fair=fair.name),
            [
                Choice(run.t(N_("↩️ Yes, withdraw")), go("fairs", "unreg", fair.id)),
                Choice(run.t(N_("Keep my registration")), go("fairs")),
            ],
        )
        return
    registration.status = "withdrawn"
    registration.withdrawn_at = run.now
    run.say(
        run.t(
            N_("Your registration for “{fair}” is withdrawn. You can register again until {date}."),
            fair=fair.name,
            date=run.t.date(fair.registration_deadline),
        ),
        [menu_choice(run)],
    )


# --- the command ---------------------------------------------------------------------------------


async def cmd_fairs(run: Run, args: str, dialogue: Dialogue) -> None:
    action, _, ident = args.partition(":")
    fair_id = record_id(ident)
    provinces = await scope(run)
    if provinces != set():  # staff who run outreach manage fairs
        await fair_staff.command(run, dialogue, action, fair_id, provinces)
        return
    dialogue.engine.leave(run, keep=True)
    if needs_profile(run):
        await dialogue.engine.start(run, "onboarding", {"then": "fairs"})
        return
    if action == "reg" and fair_id is not None:
        await start_registration(run, dialogue, fair_id)
    elif action in ("withdraw", "unreg") and fair_id is not None:
        await withdraw(run, fair_id, confirmed=action == "unreg")
    else:
        await show_open(run)


async def fairs_flow_entry(run: Run) -> Transition:
    """After onboarding started from /fairs: show the open fairs."""
    await show_open(run)
    return EndFlow(show_menu=False)
