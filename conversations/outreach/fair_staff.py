"""Trade fairs, the staff side: create a fair, see and export its registrations, move its
deadline (the reminders are re-planned at once), close it, announce it by broadcast.

Staff act for their own province(s); a national admin for every fair.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conversations.i18n import N_
from conversations.messages import Choice
from conversations.outreach import managing
from conversations.outreach.common import (
    actor,
    date_value,
    fair_facts,
    local_today,
    menu_choice,
    scope,
    text_block,
)
from conversations.outreach.export import registrations_xlsx
from conversations.payloads import go
from conversations.places import province_validator
from conversations.run import Run
from conversations.steps import AskText, EndFlow, Flow, Goto, OnAnswer, Summary, Transition
from conversations.validators import Result, Valid, date_dmy, fold, number
from storage import outreach
from storage.outreach import Fair

if TYPE_CHECKING:
    from conversations.dialogue import Dialogue


def fair_text(run: Run, fair: Fair) -> str:
    t = run.t
    lines = [
        f"🏪 {fair.name}",
        *fair_facts(run, fair),
    ]
    if fair.conditions:
        lines.append(t(N_("Conditions: {conditions}"), conditions=fair.conditions))
    return "\n".join(lines)


# --- staff ---------------------------------------------------------------------------------------


async def staff_list(run: Run, provinces: set[str] | None) -> None:
    fairs = await outreach.fairs_for_staff(run.session, provinces)
    lines = [run.t(N_("Fairs:"))]
    choices = []
    for fair in fairs[:10]:
        counts = await outreach.registration_counts(run.session, fair.id)
        lines.append(
            run.t(
                N_("• {name}: {registered} registered, deadline {date} ({status})"),
                name=fair.name,
                registered=counts.get("registered", 0),
                date=run.t.date(fair.registration_deadline),
                status=run.t({"open": N_("open"), "closed": N_("closed")}.get(fair.status, fair.status)),
            )
        )
        choices.append(Choice(fair.name[:40], go("fairs", "admin", fair.id)))
    if not fairs:
        lines.append(run.t(N_("No fairs yet.")))
    choices += [Choice(run.t(N_("➕ New fair")), go("fairs", "new")), menu_choice(run)]
    run.say("\n".join(lines), choices)


async def staff_detail(run: Run, fair: Fair) -> None:
    counts = await outreach.registration_counts(run.session, fair.id)
    text = (
        fair_text(run, fair)
        + "\n\n"
        + run.t(
            N_("Registered: {registered} · unfinished: {drafts} · withdrawn: {withdrawn}"),
            registered=counts.get("registered", 0),
            drafts=counts.get("draft", 0),
            withdrawn=counts.get("withdrawn", 0),
        )
    )
    choices = [
        Choice(run.t(N_("📊 Export registrations (Excel)")), go("fairs", "xlsx", fair.id)),
        Choice(run.t(N_("📣 Announce this fair")), go("broadcast", "fair", fair.id)),
        Choice(run.t(N_("📅 Change the deadline")), go("fairs", "deadline", fair.id)),
    ]
    if fair.status == "open":
        choices.append(Choice(run.t(N_("🔒 Close registration")), go("fairs", "close", fair.id)))
    run.say(text, [*choices, Choice(run.t(N_("🏪 All fairs")), go("fairs"))])


def _check_date(step: str, *, not_before: str | None = None, not_after: str | None = None) -> OnAnswer:
    """A date answer checked against today and other answers (the engine's validators see only
    the text, not the clock or the other answers)."""

    async def check(run: Run, value: Any) -> Transition:
        day = date_value(value)
        earliest = local_today(run)
        if not_before and run.answers.get(not_before):
            earliest = max(earliest, date_value(run.answers[not_before]))
        latest = date_value(run.answers[not_after]) if not_after and run.answers.get(not_after) else None
        if day < earliest or (latest is not None and day > latest):
            if day < earliest:
                run.say(run.t(N_("The date cannot be earlier than {limit}."), limit=run.t.date(earliest)))
            else:
                run.say(run.t(N_("The date cannot be later than {limit}."), limit=run.t.date(latest)))
            run.drop_answer(step)
            return Goto(step)
        return None

    return check


def _province_or_all(text: str) -> Result:
    if fold(text).strip(" .") in ("all", "tat ca", "toan quoc", "ca nuoc"):
        return Valid("all")
    return province_validator(text)


async def _create(run: Run) -> Transition:
    answers = run.answers
    province = answers.get("fn_province") or run.state.data.get("fn_fixed_province")
    draft = managing.FairDraft(
        name=answers["fn_name"],
        province=None if province in (None, "all") else province,
        place=answers["fn_place"],
        starts_on=date_value(answers["fn_start"]),
        ends_on=date_value(answers["fn_end"]),
        registration_deadline=date_value(answers["fn_deadline"]),
        funded_booths=int(answers["fn_booths"]),
        conditions=answers.get("fn_conditions"),
    )
    if "province" in managing.check_fair(draft, local_today(run), await scope(run)):
        run.say(run.t(managing.NOT_YOURS))
        return EndFlow()
    fair = await managing.save_fair(run, draft, actor(run))
    run.say(
        run.t(
            N_("The fair is created. Registration is open until {date}."),
            date=run.t.date(fair.registration_deadline),
        )
    )
    await staff_detail(run, fair)
    return EndFlow(show_menu=False)


def build_new() -> Flow:
    return Flow(
        id="fair_new",
        version=1,
        steps=[
            AskText(id="fn_name", prompt=N_("The fair's name?"), label=N_("Name"), validate=text_block(3, 200)),
            AskText(
                id="fn_start", prompt=N_("First day (day/month/year)?"), label=N_("From"),
                validate=date_dmy, on_answer=_check_date("fn_start"),
            ),
            AskText(
                id="fn_end", prompt=N_("Last day?"), label=N_("To"),
                validate=date_dmy, on_answer=_check_date("fn_end", not_before="fn_start"),
            ),
            AskText(id="fn_place", prompt=N_("Where?"), label=N_("Place"), validate=text_block(3, 200)),
            AskText(
                id="fn_province",
                when=lambda run: "fn_fixed_province" not in run.state.data,
                prompt=N_("Facilities of which province may register? Type its name, or “all”."),
                label=N_("Province"),
                validate=_province_or_all,
            ),
            AskText(
                id="fn_deadline", prompt=N_("Registration deadline?"), label=N_("Registration deadline"),
                validate=date_dmy, on_answer=_check_date("fn_deadline", not_after="fn_start"),
            ),
            AskText(
                id="fn_booths", prompt=N_("How many funded booths?"), label=N_("Funded booths"),
                validate=lambda text: number(text, minimum=0, maximum=5000),
            ),
            AskText(
                id="fn_conditions",
                prompt=N_("Conditions (for example: priority for certified products)? Choose Skip if none."),
                label=N_("Conditions"),
                optional=True,
                validate=text_block(3, 600),
            ),
            Summary(
                id="fn_summary",
                title=N_("The new fair: please check."),
                confirm_label=N_("✅ Create the fair"),
                on_confirm=_create,
            ),
        ],
    )  # fmt: skip


async def _moved(run: Run, value: Any) -> Transition:
    fair = await run.session.get(Fair, run.state.data.get("fair_id"))
    if fair is None:
        return EndFlow()
    draft = managing.draft_of(fair)
    draft.registration_deadline = date_value(value)
    if fair.status == "closed" and draft.registration_deadline >= local_today(run):
        draft.status = "open"
    await managing.save_fair(run, draft, actor(run), fair)
    run.say(
        run.t(
            N_("The deadline is now {date}; reminders follow the new date."),
            date=run.t.date(fair.registration_deadline),
        )
    )
    await staff_detail(run, fair)
    return EndFlow(show_menu=False)


def build_deadline() -> Flow:
    return Flow(
        id="fair_deadline",
        version=1,
        steps=[
            AskText(
                id="fd_date",
                prompt=N_("The new registration deadline (day/month/year)?"),
                validate=date_dmy,
                store=True,
                on_answer=_deadline_checked,
            ),
        ],
    )


async def _deadline_checked(run: Run, value: Any) -> Transition:
    checked = await _check_date("fd_date")(run, value)
    return checked if checked is not None else await _moved(run, value)


async def _export(run: Run, fair: Fair) -> None:
    document = await registrations_xlsx(run, fair)
    run.say(
        run.t(N_("Registrations for “{fair}” as a spreadsheet."), fair=fair.name),
        [Choice(run.t(N_("🏪 All fairs")), go("fairs"))],
        document=document,
    )


# --- the command (staff) -------------------------------------------------------------------------


async def command(
    run: Run, dialogue: Dialogue, action: str, fair_id: int | None, provinces: set[str] | None
) -> None:
    dialogue.engine.leave(run, keep=True)
    if action == "new":
        options: dict[str, Any] = {}
        if provinces is not None and len(provinces) == 1:
            options["fn_fixed_province"] = next(iter(provinces))
        await dialogue.engine.start(run, "fair_new", options)
        return
    fair = await run.session.get(Fair, fair_id) if fair_id is not None else None
    if fair is not None and provinces is not None and fair.province not in provinces:
        fair = None
    if fair is None:
        await staff_list(run, provinces)
    elif action == "xlsx":
        await _export(run, fair)
    elif action == "deadline":
        await dialogue.engine.start(run, "fair_deadline", {"fair_id": fair.id})
    elif action == "close":
        fair.status = "closed"
        await managing.replan_fair(run, fair)
        run.say(run.t(N_("Registration for “{fair}” is closed."), fair=fair.name))
        await staff_detail(run, fair)
    else:
        await staff_detail(run, fair)
