"""The application (/apply): programme questions, the product form, documents, summary, submit.

Every answer lands in the draft `Application` row in the same transaction as the position in
the flow, so the owner can stop at any question and continue days later, after a restart, or
from another channel linked to the same account, landing on the first unanswered question.

A dossier the centre returned for changes (`storage.returned.open_items`) had its flagged answers
removed by the reviewer's action, so resuming it asks exactly those, each with the reviewer's
comment and the answer it had; the checklist opens only for flagged documents (and for those a
changed answer newly requires), and the summary offers only those answers for change. Submitting
it again records what changed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from conversations import documents, rules, summary
from conversations.flows.programme_questions import chosen, programme_options, programme_prompt, steps_for
from conversations.i18n import N_, local_moment, local_today
from conversations.matching import number_in_phrase
from conversations.programmes import Programme
from conversations.run import Run
from conversations.steps import (
    Action,
    AskChoice,
    AskText,
    Checklist,
    EndFlow,
    Flow,
    Goto,
    OnAnswer,
    Option,
    Question,
    Say,
    Step,
    Summary,
    Transition,
)
from conversations.validators import Result, text_between
from storage import applications, returned
from storage.models import Application

REVENUE_BANDS = (
    Option("lt1", N_("Under 1 billion VND")),
    Option("1to3", N_("1 to 3 billion VND")),
    Option("3to10", N_("3 to 10 billion VND")),
    Option("10to50", N_("10 to 50 billion VND")),
    Option("gt50", N_("Over 50 billion VND")),
)


def _staff_count(text: str) -> Result:
    return number_in_phrase(text, minimum=1, maximum=100_000)  # "6 người"


def _year_started(text: str) -> Result:
    return number_in_phrase(text, minimum=1900, maximum=local_today().year)  # "năm 2009"


def _plain_number(run: Run, value: Any) -> str:
    return str(value)


def create_draft(run: Run, programme: str, answers: dict[str, Any]) -> Application:
    assert run.facility is not None
    application = Application(
        facility_id=run.facility.id,
        programme=programme,
        status="draft",
        answers={**answers, "programme": programme},
        created_at=run.now,
        updated_at=run.now,
        last_activity_at=run.now,
    )
    run.session.add(application)
    run.application = application
    return application


CHECKED = "checked"  # key in the state's "saved": the latest eligibility check's answers


def _carry_over(run: Run, programme: str, answers: dict[str, Any]) -> Application:
    """Start the draft with answers already given (a check, the verdict's button) and say once
    what was noted, so nobody is asked twice and nothing is taken silently."""
    application = create_draft(run, programme, answers)
    flow = run.engine.flows["apply"]
    noted = [
        f"• {summary.label_of(run, step)}: {summary.display(run, step, answers[step.id])}"
        for step in flow.steps
        if isinstance(step, Question) and step.store and step.id in answers and step.id != "programme"
    ]
    if noted:
        run.say(
            run.t(N_("I have noted from your eligibility check:"))
            + "\n"
            + "\n".join(noted)
            + "\n"
            + run.t(N_("You can change any of them on the summary before sending."))
        )
    return application


async def _draft_from_prefill(run: Run) -> Transition:
    """Coming from an eligibility check: start the draft with the answers already given. /apply
    typed after a check goes on with the programme checked, without asking it again, and says
    how to choose the other one (/apply new asks the programme)."""
    prefill = run.pop_data("prefill")
    if run.application is not None:
        return None
    if prefill and prefill.get("programme") in run.programmes:
        application = _carry_over(run, prefill["programme"], prefill)
    elif not run.pop_data("choose"):
        checked = (run.state.data.get("saved") or {}).get(CHECKED) or {}
        if checked.get("programme") not in run.programmes:
            return None
        name = run.t(run.programmes[checked["programme"]].name)
        run.say(
            run.t(
                N_("This dossier is for {programme}, as in your check (another programme: /apply new)."),
                programme=name,
            )
        )
        application = _carry_over(run, checked["programme"], dict(checked))
    else:
        return None
    await run.session.flush()
    run.set_data("application_id", application.id)
    return None


async def _programme_chosen(run: Run, value: Any) -> Transition:
    checked = (run.state.data.get("saved") or {}).get(CHECKED) or {}
    programme, given = chosen(value)  # "selection.province": the level comes with the programme
    if checked.get("programme") == programme:
        # /apply typed after /check: the same answers, the level as chosen now
        application = _carry_over(run, programme, {**checked, **given})
    else:
        application = create_draft(run, programme, given)
    await run.session.flush()
    run.set_data("application_id", application.id)
    return None


def _stop_if_ruled_out(step_id: str) -> OnAnswer:
    async def check(run: Run, value: Any) -> Transition:
        return await _ruled_out(run, step_id)

    return check


async def _ruled_out(run: Run, step_id: str) -> Transition:
    if run.application is None:
        return None
    verdict = rules.evaluate(run.programmes[run.application.programme], run.facts())
    blocking = [f for f in verdict.findings if f.outcome == "not_yet"]
    if not blocking:
        return None
    lines = [run.t(N_("With this answer the dossier cannot go ahead yet:"))]
    for finding in blocking:
        values = dict(finding.values)
        lines.append("❌ " + run.t(finding.reason, **values))
        if finding.next:
            lines.append("   → " + run.t(finding.next, **values))
    lines += [
        "",
        run.t(N_("Your draft is saved. If the answer was a mistake, send /apply to answer it again.")),
    ]
    run.say("\n".join(lines))
    run.drop_answer(step_id)  # resuming asks it again rather than carrying on past it
    return EndFlow(keep=True)


def _title(run: Run) -> str:
    assert run.application is not None
    programme = run.programmes[run.application.programme]
    return run.t(N_("Please check your dossier for {programme}:"), programme=run.t(programme.name))


async def submit(run: Run) -> Transition:
    application = run.application
    assert application is not None
    if application.status not in applications.OPEN_STATUSES:
        # A stale summary of a dossier already sent (and maybe decided): it is frozen.
        run.say(run.t(N_("This dossier has already been sent, so it can no longer be changed.")))
        return EndFlow()
    programme = run.programmes[application.programme]
    verdict = rules.evaluate(programme, run.facts())
    application.verdict = verdict.to_json()
    application.rules_version = verdict.rules_version
    if application.receipt_code is None:
        # The code's yymm is the month the owner submitted in, in TIMEZONE.
        local = local_moment(run.now, run.settings.timezone)
        code = applications.new_receipt_code(local)
        while not await applications.receipt_code_free(run.session, code):
            code = applications.new_receipt_code(local)
        application.receipt_code = code
    resubmission = application.status == "returned"
    detail: dict[str, Any] = {"rules_version": verdict.rules_version, "verdict": verdict.outcome}
    if resubmission:
        detail["changes"] = await returned.changes_since_return(run.session, application)
        application.requested_changes = None
    applications.record_event(
        run.session,
        application,
        actor="owner",
        action="resubmitted" if resubmission else "submitted",
        to_status="resubmitted" if resubmission else "submitted",
        at=run.now,
        detail=detail,
    )
    application.submitted_at = run.now
    application.last_activity_at = run.now
    lines = [
        run.t(N_("Your dossier has been sent to the Industrial Extension Centre.")),
        run.t(N_("Receipt code: {code}"), code=application.receipt_code),
        run.t(N_("Please keep this code. You can follow your dossier at any time with /status.")),
    ]
    if application.programme == "selection":
        lines += [
            "",
            run.t(
                N_(
                    "Remember: the centre also needs two paper copies of the dossier and a sample of the "
                    "product for the council. Staff will tell you when and where to bring them."
                )
            ),
        ]
    run.say("\n".join(lines))
    return EndFlow()


async def _open_documents(run: Run) -> Transition:
    if not _documents_open(run):
        run.say(
            run.t(N_("The centre did not ask for changes to the documents, so they stay as you sent them."))
        )
        return Goto("summary")
    return Goto(documents.STEP_ID)


def _returned(run: Run) -> bool:
    return returned.open_items(run.application) is not None


def _documents_open(run: Run) -> bool:
    """The checklist is part of the flow, except on a returned dossier with no document open."""
    open_ids = documents.open_item_ids(run)
    return open_ids is None or bool(open_ids)


def _with_review_note(step: Step) -> Step:
    """A question asked again on a returned dossier shows the reviewer's comment and the answer
    it replaces; everywhere else it reads as declared."""
    if not isinstance(step, Question):
        return step
    base = step.prompt

    def prompt(run: Run) -> str:
        text = base(run) if callable(base) else run.t(base)
        changes = returned.open_items(run.application)
        comment = changes.get("answers", {}).get(step.id) if changes else None
        if not comment:
            return text
        note = "💬 " + run.t(N_("The centre's comment: {comment}"), comment=comment)
        before = changes.get("answers_before", {}).get(step.id) if changes else None
        if before is not None:
            note += "\n" + run.t(
                N_("Your answer as sent to the centre: {value}"), value=summary.display(run, step, before)
            )
        return f"{text}\n\n{note}"

    prompt.__wrapped__ = base  # type: ignore[attr-defined]  # the msgid, for notices to the owner
    return replace(step, prompt=prompt)


def build(programmes: dict[str, Programme]) -> Flow:
    def is_support(run: Run) -> bool:
        return run.answers.get("programme") == "support"

    steps: list[Step] = [
        Action(id="draft", run=_draft_from_prefill),
        AskChoice(
            id="programme",
            prompt=programme_prompt(
                N_("Which programme is this dossier for? For the {programme}, choose the round's level."),
                programmes,
            ),
            options=programme_options(programmes),
            store=False,
            on_answer=_programme_chosen,
            when=lambda run: run.application is None,
        ),
    ]
    for programme in programmes.values():
        # In a dossier, an answer that rules the facility out stops it there, with why and what
        # to do, instead of asking on (and asking for a certificate the owner just said is missing).
        steps += [
            replace(step, on_answer=_stop_if_ruled_out(step.id))
            if isinstance(step, Question) and step.store
            else step
            for step in steps_for(programme)
        ]
    steps += [
        Say(
            id="form_intro",
            text=N_("Now a few details about the product for the dossier. Each answer is saved as you go."),
            when=lambda run: not _returned(run),
        ),
        AskText(
            id="product_name",
            label=N_("Product name"),
            prompt=N_("What is the product's name?"),
            example=N_("For example: Giỏ mây đan thủ công Phú Vinh"),
            validate=text_between(3, 150),
        ),
        AskText(
            id="product_description",
            label=N_("Short description"),
            prompt=N_("Describe the product briefly: materials, how it is made, what makes it special."),
            validate=text_between(10, 1000),
        ),
        AskText(
            id="capacity",
            label=N_("Production capacity"),
            prompt=N_("How much can you produce, and in what time?"),
            example=N_("For example: 2,000 products a month"),
            validate=text_between(2, 200),
        ),
        AskText(
            id="sales_market",
            label=N_("Where it is sold"),
            prompt=N_("Where do you sell the product?"),
            example=N_("For example: shops in the province, Hà Nội, exported to Japan"),
            validate=text_between(2, 300),
        ),
        AskText(
            id="staff_count",
            label=N_("Number of workers"),
            prompt=N_("How many people work at the facility, family included?"),
            example=N_("For example: 12"),
            validate=_staff_count,
        ),
        AskChoice(
            id="revenue_band",
            label=N_("Revenue last year"),
            prompt=N_("Roughly what was the facility's revenue last year?"),
            options=REVENUE_BANDS,
        ),
        AskText(
            id="year_started",
            label=N_("Year production started"),
            prompt=N_("Since which year has the facility made this product?"),
            example=N_("For example: 2015"),
            validate=_year_started,
            display=_plain_number,
        ),
        AskText(
            id="project_goal",
            label=N_("What the support is for"),
            prompt=N_("What will the support be used for, and what results do you expect?"),
            example=N_("For example: buy a CNC wood carving machine to double output and cut waste"),
            validate=text_between(10, 1000),
            when=is_support,
        ),
        Checklist(id=documents.STEP_ID, when=_documents_open),
        Summary(
            id="summary",
            title=_title,
            confirm_label=N_("✅ Submit the dossier"),
            on_confirm=submit,
            later_message=N_("Saved. Send /apply whenever you want to continue."),
            extras=(("docs", N_("📎 Documents"), _open_documents),),
            exits=(documents.STEP_ID,),
        ),
    ]
    return Flow(id="apply", version=1, steps=tuple(_with_review_note(s) for s in steps), store="application")
