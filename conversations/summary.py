"""The summary step: every answer (and, for a dossier, every document) with a way to change it.

Changing an answer drops it and asks it again; afterwards the flow moves forward from the top,
so a change that makes new questions relevant (another product group) asks those too, then
comes back here. On a dossier returned for changes only the answers the reviewer flagged can be
changed (`storage.review.open_items`): the rest is what the centre has already checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conversations import documents
from conversations.i18n import N_
from conversations.messages import Choice, short_label
from conversations.run import Run
from conversations.steps import AskChoice, EndFlow, Flow, Goto, Question, Summary, Transition
from storage.review import open_items

if TYPE_CHECKING:
    from conversations.engine import Engine


def answered_questions(run: Run, flow: Flow) -> list[Question]:
    answers = run.answers
    return [
        step
        for step in flow.steps
        if isinstance(step, Question)
        and step.store
        and step.id in answers
        and (step.when is None or step.when(run))
    ]


def editable_questions(run: Run, flow: Flow) -> list[Question]:
    """The answers the summary offers to change: all of them; on a returned dossier the flagged ones
    and those it did not have when returned (asked because a flagged answer changed)."""
    questions = answered_questions(run, flow)
    changes = open_items(run.application) if flow.store == "application" else None
    if changes is None:
        return questions
    flagged, before = changes.get("answers", {}), changes.get("answers_before", {})
    return [q for q in questions if q.id in flagged or q.id not in before]


def label_of(run: Run, step: Question) -> str:
    if step.label:
        return run.t(step.label)
    prompt = step.prompt(run) if callable(step.prompt) else run.t(step.prompt)
    return prompt.split("\n", 1)[0]


def display(run: Run, step: Question, value: Any) -> str:
    from conversations.engine import option_label, options_of

    if value is None:
        return run.t(N_("(skipped)"))
    if step.display is not None:
        return step.display(run, value)
    if isinstance(step, AskChoice):
        for option in options_of(run, step):
            if option.value == value:
                return option_label(run.t, option)
    if isinstance(value, int) and not isinstance(value, bool):
        return run.t.number(value)
    return str(value)


async def lines(run: Run, flow: Flow, statuses: list[documents.ItemStatus] | None = None) -> list[str]:
    """Every answer, then (for a dossier) every document; `statuses` when the caller has them."""
    out = [
        f"• {label_of(run, q)}: {display(run, q, run.answers.get(q.id))}"
        for q in answered_questions(run, flow)
    ]
    if flow.store == "application" and run.application is not None:
        statuses = statuses if statuses is not None else await documents.status(run)
        out += ["", documents.progress_line(run, statuses)]
        # Optional documents not sent are left out: the "Documents" button lists them.
        out += [documents.item_line(run, s) for s in statuses if s.item.required or s.count or s.comment]
    return out


def summary_buttons(run: Run, step: Summary, complete: bool, *, can_edit: bool = True) -> list[Choice]:
    choices: list[Choice] = []
    if complete:
        choices.append(Choice(run.t(step.confirm_label), f"{step.id}:confirm"))
    if can_edit:
        choices.append(Choice(run.t(N_("Change an answer")), f"{step.id}:edit"))
    for suffix, label, _ in step.extras:
        choices.append(Choice(run.t(label), f"{step.id}:x:{suffix}"))
    choices.append(Choice(run.t(N_("Save and finish later")), f"{step.id}:later"))
    return choices


async def show(run: Run, flow: Flow, step: Summary, head: str = "") -> None:
    is_dossier = flow.store == "application" and run.application is not None
    statuses = await documents.status(run) if is_dossier else None  # read once for both uses
    edited = run.pop_data("edited")
    if edited and edited in run.answers:
        # Back from changing one answer: that line, not the whole summary again.
        question = flow.step(edited)
        assert isinstance(question, Question)
        complete = statuses is None or not documents.missing_required(statuses)
        text = (
            head
            + "✏️ "
            + run.t(
                N_("Changed: {label}: {value}"),
                label=label_of(run, question),
                value=display(run, question, run.answers[edited]),
            )
        )
        buttons = summary_buttons(run, step, complete, can_edit=True)
        buttons.insert(-1, Choice(run.t(N_("📋 Whole summary")), f"{step.id}:show"))
        run.say(text, buttons)
        return
    body = await lines(run, flow, statuses)
    complete = True
    if statuses is not None:
        missing = documents.missing_required(statuses)
        if missing:
            complete = False
            body += [
                "",
                run.t(
                    N_("Some required documents are still missing, so the dossier cannot be submitted yet.")
                ),
            ]
    changes = open_items(run.application) if flow.store == "application" else None
    if changes and changes.get("comment"):
        body += ["", "💬 " + run.t(N_("The centre's comment: {comment}"), comment=changes["comment"])]
    title = step.title(run) if callable(step.title) else run.t(step.title)
    text = head + title + "\n\n" + "\n".join(body)
    run.say(text, summary_buttons(run, step, complete, can_edit=bool(editable_questions(run, flow))))


async def handle(run: Run, flow: Flow, step: Summary, engine: Engine) -> Transition:
    action = (run.incoming.choice or "").removeprefix(f"{step.id}:")
    if run.incoming.choice is None and run.incoming.text:
        if run.incoming.has_buttons:
            run.say(run.t(N_("Please use the buttons under the summary.")))
        else:
            run.say(run.t(N_("Please answer with the number of one of the options under the summary.")))
        await show(run, flow, step)
        return None
    if action == "confirm":
        if flow.store == "application" and run.application is not None:
            missing = documents.missing_required(await documents.status(run))
            if missing:
                await show(run, flow, step)
                return None
        return await step.on_confirm(run)
    if action == "edit":
        questions = editable_questions(run, flow)
        run.say(
            run.t(N_("Which answer do you want to change?")),
            [Choice(short_label(label_of(run, q)), f"{step.id}:e:{q.id}") for q in questions]
            + [Choice(run.t(N_("Back to the summary")), f"{step.id}:back")],
        )
        return None
    if action.startswith("e:"):
        step_id = action[2:]
        if step_id not in {q.id for q in editable_questions(run, flow)}:
            await show(run, flow, step)
            return None
        current = display(run, flow.step(step_id), run.answers.get(step_id))  # type: ignore[arg-type]
        run.drop_answer(step_id)
        run.set_data("return_to", step.id)
        run.set_data("edited", step_id)
        run.say(run.t(N_("Current answer: {value}"), value=current))
        return Goto(step_id)
    if action.startswith("x:"):
        for suffix, _, handler in step.extras:
            if action[2:] == suffix:
                return await handler(run)
    if action == "later":
        run.say(run.t(step.later_message))
        return EndFlow(keep=True)
    await show(run, flow, step)
    return None
