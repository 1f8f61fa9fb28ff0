"""“Talk to staff”: the bot hands a conversation to the centre's staff and stays quiet until
they hand it back (DESIGN.md, Flows).

Opening a case tells every reviewer and admin of the facility's province (national admins when
there is no profile yet); what the owner writes while the case is open reaches the staff member
who took it, or all of them until someone does; a staff reply and the hand-back reach the owner
on every channel they use. All of it goes through the outbox, queued in the transaction that
caused it, so a message to or from a waiting owner is never lost or sent twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conversations import contacts
from conversations.feature import Feature
from conversations.i18n import N_
from conversations.messages import Choice
from conversations.payloads import Go
from conversations.record_ids import record_id
from conversations.run import Run
from conversations.steps import AskText, EndFlow, Flow, Transition
from conversations.validators import text_between
from storage import accounts, outbox, staff
from storage.handover import HandoverCase, open_case_of, open_cases
from storage.models import Account, Facility

if TYPE_CHECKING:
    from conversations.dialogue import Dialogue

STAFF_ROLES = ("admin", "reviewer")
REPLY_FLOW = "handover_reply"


# --- the owner's side ------------------------------------------------------------------------------


async def open_case(run: Run) -> HandoverCase:
    """Pause the bot for this owner and tell the province's staff (once per case)."""
    run.account.handover_at = run.now
    case = await open_case_of(run.session, run.account.id)
    if case is not None:
        return case
    case = HandoverCase(
        account_id=run.account.id,
        province=run.facility.province if run.facility is not None else None,
        context=f"{run.state.flow or '-'}:{run.state.step or '-'}"[:100],
        opened_at=run.now,
    )
    run.session.add(case)
    await run.session.flush()
    question = _current_question(run)
    payload = {
        "msgid": N_("🙋 {who} asks to talk to staff."),
        "values": {"who": _who(run.facility)},
        "parts": [{"msgid": N_("They were at: “{question}”"), "values": {"question": question}}]
        if question
        else [],
        "choices": _staff_buttons(case.id),
    }
    provincial = [
        m
        for m in await staff.listed(run.session, case.province)
        if m.province is not None and m.role in STAFF_ROLES
    ]
    if case.province is not None and not provincial:
        # Only national admins will hear of it: tell them why, so the province gets staff.
        payload["parts"].append(
            {
                "msgid": N_("Nobody is set up as staff for {province}; add someone with /staff."),
                "values": {"province": case.province},
            }
        )
    await _tell_staff(run, case, f"handover:{case.id}:open", payload)
    return case


async def relay(run: Run) -> None:
    """What the owner writes while staff have the conversation goes to them."""
    case = await open_case_of(run.session, run.account.id)
    if case is None:
        case = await open_case(run)
    incoming = run.incoming
    if incoming.text:
        said: dict[str, Any] = {
            "msgid": N_("💬 {who}: {text}"),
            "values": {"who": _who(run.facility), "text": incoming.text},
        }
    elif incoming.file is not None:
        said = {
            "msgid": N_(
                "📎 {who} sent a file ({name}). Files reach you through the dossier: ask them to add it there."
            ),
            "values": {"who": _who(run.facility), "name": incoming.file.filename},
        }
    else:
        said = {
            "msgid": N_("👆 {who} tapped a button while waiting for you."),
            "values": {"who": _who(run.facility)},
        }
    said["choices"] = _staff_buttons(case.id)
    await _tell_staff(run, case, f"handover:{case.id}:in:{incoming.channel}:{incoming.update_id}", said)


async def owner_left(run: Run) -> None:
    """The owner went back to the assistant by themselves (/menu): the case closes, staff are told."""
    run.account.handover_at = None
    case = await open_case_of(run.session, run.account.id)
    if case is None:
        return
    case.closed_at = run.now
    case.closed_by = "owner"
    payload = {
        "msgid": N_("↩️ {who} went back to the assistant; the conversation is closed."),
        "values": {"who": _who(run.facility)},
    }
    await _tell_staff(run, case, f"handover:{case.id}:left", payload)


# --- the staff's side ------------------------------------------------------------------------------


async def _cmd_handovers(run: Run, args: str, dialogue: Dialogue) -> None:
    member = await _staff(run, dialogue)
    if member is None:
        return
    scope = staff.scope_of(member, STAFF_ROLES)
    cases = await open_cases(run.session, scope)
    if not cases:
        run.say(run.t(N_("No facility is waiting to talk to staff.")))
        return
    lines = [run.t(N_("Facilities waiting to talk to staff:"))]
    choices: list[Choice] = []
    for case in cases:
        facility = await accounts.facility_of(run.session, case.account_id)
        taken = await staff.describe(run.session, case.taken_by) if case.taken_by else run.t(N_("nobody yet"))
        lines.append(
            run.t(
                N_("• {who} – since {time} – answered by: {taken}"),
                who=_who(facility),
                time=run.t.datetime(case.opened_at, run.settings.timezone),
                taken=taken,
            )
        )
        choices.append(
            Choice(
                run.t(N_("✍️ Reply to {who}"), who=_who(facility))[:60], Go("ho", f"reply:{case.id}").pack()
            )
        )
    run.say("\n".join(lines), choices)


async def _cmd_ho(run: Run, args: str, dialogue: Dialogue) -> None:
    """The buttons on staff notices: `ho:reply:<case>` and `ho:back:<case>`."""
    member = await _staff(run, dialogue)
    if member is None:
        return
    action, _, case_id = args.partition(":")
    case_key = record_id(case_id)
    case = await run.session.get(HandoverCase, case_key) if case_key is not None else None
    if case is None or not _covers(member, case):
        run.say(run.t(N_("This conversation was not found.")))
        return
    if case.closed_at is not None:
        run.say(run.t(N_("This conversation is already closed.")))
        return
    if action == "reply":
        dialogue.engine.leave(run, keep=True)
        await dialogue.engine.start(run, REPLY_FLOW, {"case": case.id})
    elif action == "back":
        await _hand_back(run, case)
    else:
        run.say(run.t(N_("This conversation was not found.")))


async def _hand_back(run: Run, case: HandoverCase) -> None:
    actor = staff.actor_key(run.incoming.channel, run.incoming.user_id)
    case.closed_at = run.now
    case.closed_by = actor
    owner = await run.session.get(Account, case.account_id)
    if owner is not None:
        owner.handover_at = None
    await _tell_owner(
        run,
        case,
        f"handover:{case.id}:back",
        {
            "msgid": N_("The centre's staff have finished. The assistant is back: send /menu to carry on."),
            "choices": [{"label": N_("🏠 Main menu"), "payload": Go("menu").pack()}],
        },
    )
    run.say(run.t(N_("Done: the conversation is handed back to the assistant.")))


def _reply_prompt(run: Run) -> str:
    return run.t(N_("Type your reply. The owner will read it as you write it."))


async def _reply_written(run: Run, value: Any) -> Transition:
    case = await run.session.get(HandoverCase, run.state.data.get("case"))
    if case is None or case.closed_at is not None:
        run.say(run.t(N_("This conversation is already closed.")))
        return EndFlow(show_menu=False)
    actor = staff.actor_key(run.incoming.channel, run.incoming.user_id)
    case.taken_by = case.taken_by or actor
    await _tell_owner(
        run,
        case,
        f"handover:{case.id}:out:{run.incoming.channel}:{run.incoming.update_id}",
        {"msgid": N_("💬 The centre's staff: {text}"), "values": {"text": value}},
    )
    run.say(
        run.t(N_("Sent. The owner's answers will reach you here.")),
        [
            Choice(run.t(N_("✍️ Reply again")), Go("ho", f"reply:{case.id}").pack()),
            Choice(run.t(N_("↩️ Hand back to the assistant")), Go("ho", f"back:{case.id}").pack()),
        ],
    )
    return EndFlow(show_menu=False)


REPLY = Flow(
    id=REPLY_FLOW,
    version=1,
    steps=(
        AskText(
            id="reply",
            prompt=_reply_prompt,
            validate=text_between(1, 2000),
            store=False,
            on_answer=_reply_written,
        ),
    ),
)


# --- shared ----------------------------------------------------------------------------------------


async def _staff(run: Run, dialogue: Dialogue) -> list[staff.StaffMember] | None:
    members = [
        m
        for m in await staff.roles_of(run.session, run.incoming.channel, run.incoming.user_id)
        if m.role in STAFF_ROLES
    ]
    if not members:
        await dialogue.unknown_command(run)  # owners learn nothing about staff tools
        return None
    return members


def _covers(members: list[staff.StaffMember], case: HandoverCase) -> bool:
    scope = staff.scope_of(members, STAFF_ROLES)
    return scope is None or (case.province is not None and case.province in scope)


def _who(facility: Facility | None) -> str:
    if facility is None:
        return "—"
    return f"{facility.name} ({facility.province})"


def _current_question(run: Run) -> str | None:
    found = run.engine.current(run)
    if found is None:
        return None
    step = found[1]
    prompt = getattr(step, "prompt", None)
    if not prompt:
        return None
    text = prompt(run) if callable(prompt) else run.t(prompt)
    return text.split("\n", 1)[0][:200]


def _staff_buttons(case_id: int) -> list[dict[str, str]]:
    return [
        {"label": N_("✍️ Reply"), "payload": Go("ho", f"reply:{case_id}").pack()},
        {"label": N_("↩️ Hand back to the assistant"), "payload": Go("ho", f"back:{case_id}").pack()},
    ]


async def _tell_staff(run: Run, case: HandoverCase, purpose: str, payload: dict[str, Any]) -> None:
    """To the staff member answering this case, or to every one who could until someone does."""
    members = [
        m for m in await staff.listed(run.session, case.province) if m.role in STAFF_ROLES and m.active
    ]
    if case.province is None:
        members = [m for m in members if m.province is None]
    if case.taken_by:
        members = [
            m for m in members if staff.actor_key(m.channel, m.external_id) == case.taken_by
        ] or members
    seen: set[tuple[str, str]] = set()
    for member in members:
        if (member.channel, member.external_id) in seen:
            continue
        seen.add((member.channel, member.external_id))
        _, identity = await accounts.get_or_create_account(run.session, member.channel, member.external_id)
        if identity.reachable:
            await outbox.enqueue(
                run.session, purpose=purpose, identity=identity, payload=payload, not_before=run.now
            )


async def _tell_owner(run: Run, case: HandoverCase, purpose: str, payload: dict[str, Any]) -> None:
    for identity in await outbox.identities_for_account(run.session, case.account_id):
        await outbox.enqueue(
            run.session, purpose=purpose, identity=identity, payload=payload, not_before=run.now
        )


async def hand_over(run: Run) -> None:
    """ "Talk to staff" (a button at a stuck question, "cho hỏi", "gặp cán bộ"): a person, or,
    when nobody could answer (no staff for this province and no national admin), the honest
    answer with the centre's contacts instead of a promise nobody keeps."""
    province = run.facility.province if run.facility is not None else None
    members = [m for m in await staff.listed(run.session, province) if m.role in STAFF_ROLES]
    if not members:
        run.say(contacts.nobody_on_duty(run, province))
        return
    await open_case(run)
    run.say(
        run.t(
            N_(
                "I have passed your conversation to the centre's staff. They will reply here during "
                "working hours. Your answers so far are saved.\n\nTo go back to the assistant, send /menu."
            )
        )
    )


FEATURE = Feature(
    name="handover",
    commands={"handovers": _cmd_handovers, "ho": _cmd_ho},
    flows=lambda programmes: [REPLY],
    hand_over=hand_over,
)
