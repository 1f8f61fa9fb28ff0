"""Deciding a dossier: approve, reject with a reason, return for changes with comments on items.

Each is a small declared flow, so a reviewer gets the same three strikes, /cancel and stale
buttons as an owner. The decision itself is taken at the last step and re-checks everything
(still staff, still in their provinces, still holding the dossier), because minutes may pass
between opening a dossier and confirming; it changes the status with a conditional UPDATE
(`storage.review.decide`) and queues the owner's notice in the same transaction.
"""

from __future__ import annotations

from typing import Any

from conversations import notices
from conversations.i18n import N_
from conversations.messages import short_label
from conversations.run import Run
from conversations.staff import dossier
from conversations.staff.access import Staff, staff_of
from conversations.staff.notify import tell_owner
from conversations.staff.review import (
    flow_dossier,
    in_scope,
    open_dossier,
    show_actions,
    status_label,
)
from conversations.steps import AskChoice, AskText, EndFlow, Flow, Goto, Option, Transition
from conversations.validators import Result, bounded_text
from storage import returned, review, staff
from storage.models import Application, ApplicationEvent

APPROVE = "staff_approve"
REJECT = "staff_reject"
RETURN = "staff_return"
CONFIRM_BACK = Option("no", N_("⬅️ Back to the dossier"))


async def start(run: Run, member: Staff, flow_id: str, application_id: int) -> None:
    """Begin a decision on a dossier this reviewer holds."""
    application = await in_scope(run, member, application_id, drafts=True)
    if application is None:
        return
    if application.status != "under_review" or application.reviewer != member.actor:
        run.say(run.t(N_("Only the reviewer holding this dossier can decide it.")))
        await show_actions(run, member, application)
        return
    options: dict[str, Any] = {"answers": {}, "app": application.id, "title": dossier.title(application)}
    if flow_id == RETURN:
        options["items"] = flaggable(run, application)
    await run.engine.start(run, flow_id, options)


async def _held(run: Run) -> tuple[Staff, Application] | None:
    """The reviewer and their dossier at the moment of deciding, or None after saying why not."""
    found = await flow_dossier(run)
    if found is None:
        return None
    member, application = found
    if application.status != "under_review" or application.reviewer != member.actor:
        who = await staff.describe(run.session, application.reviewer) if application.reviewer else "—"
        run.say(
            run.t(
                N_("You no longer hold this dossier (now: {status}, {who}); nothing was changed."),
                status=status_label(run, application.status),
                who=who,
            )
        )
        return None
    return member, application


async def _back(run: Run) -> Transition:
    member = await staff_of(run)
    if member is not None:
        await open_dossier(run, member, run.state.data.get("app", 0), full=False)
    return EndFlow(show_menu=False)


def _title(run: Run) -> str:
    return str(run.state.data.get("title", ""))


def _code_and_title(application: Application, run: Run) -> tuple[Any, str]:
    programme = run.programmes[application.programme]
    return notices.title_value(application.answers, programme), application.receipt_code or ""


# --- the decisions themselves, shared by the chat's flows and the web console -----------------------------


async def approve(run: Run, member: Staff, application: Application) -> ApplicationEvent | None:
    """Approve a dossier this reviewer holds and queue the owner's notice; None when they no longer
    hold it (nothing changed)."""
    event = await review.decide(
        run.session, application, reviewer=member.actor, to_status="approved", now=run.now
    )
    if event is not None:
        title, code = _code_and_title(application, run)
        await tell_owner(run, application, event, notices.approved(title=title, code=code))
    return event


async def reject(run: Run, member: Staff, application: Application, reason: str) -> ApplicationEvent | None:
    """Record a dossier as not approved, with the reason the owner reads."""
    event = await review.decide(
        run.session,
        application,
        reviewer=member.actor,
        to_status="rejected",
        now=run.now,
        detail={"reason": reason},
    )
    if event is not None:
        title, code = _code_and_title(application, run)
        await tell_owner(run, application, event, notices.rejected(title=title, code=code, reason=reason))
    return event


async def return_for_changes(
    run: Run,
    member: Staff,
    application: Application,
    *,
    answers: dict[str, str],
    documents: dict[str, str],
    comment: str | None,
) -> ApplicationEvent | None:
    """Return a dossier with comments on answers (by question id) and documents (by checklist item
    id), unlocking only those, and tell the owner what to change in their language."""
    doc_labels = {item.id: item.label for item in dossier.checklist_of(run, application)}
    event = await returned.return_for_changes(
        run.session,
        application,
        reviewer=member.actor,
        now=run.now,
        answers=answers,
        documents=documents,
        comment=comment,
    )
    if event is None:
        return None
    items = [(dossier.answer_label_msgid(run, key), text) for key, text in answers.items()]
    items += [
        ({"msgid": doc_labels[key]} if key in doc_labels else key, text) for key, text in documents.items()
    ]
    title, code = _code_and_title(application, run)
    payload = notices.returned(
        title=title, code=code, application_id=application.id, items=items, comment=comment
    )
    await tell_owner(run, application, event, payload)
    return event


# --- approve --------------------------------------------------------------------------------------------


async def _approve(run: Run, value: Any) -> Transition:
    if value != "yes":
        return await _back(run)
    held = await _held(run)
    if held is None:
        return EndFlow(show_menu=False)
    member, application = held
    if await approve(run, member, application) is None:
        run.say(run.t(N_("Someone else changed this dossier a moment ago; nothing was changed.")))
        return EndFlow(show_menu=False)
    run.say(run.t(N_("Approved. The owner has been told; the dossier is now frozen.")))
    await show_actions(run, member, application)
    return EndFlow(show_menu=False)


def _approve_prompt(run: Run) -> str:
    return run.t(
        N_("Approve the dossier {title}? Once approved it is frozen: nobody can change it any more."),
        title=_title(run),
    )


# --- reject ---------------------------------------------------------------------------------------------


def _reason(text: str) -> Result:
    return bounded_text(text, min_len=10, max_len=1000)


def _reject_prompt(run: Run) -> str:
    return run.t(
        N_("Not approve the dossier {title}, with this reason?\n\n“{reason}”"),
        title=_title(run),
        reason=run.answers.get("reason", ""),
    )


async def _reject(run: Run, value: Any) -> Transition:
    if value != "yes":
        return await _back(run)
    held = await _held(run)
    if held is None:
        return EndFlow(show_menu=False)
    member, application = held
    if await reject(run, member, application, str(run.answers["reason"])) is None:
        run.say(run.t(N_("Someone else changed this dossier a moment ago; nothing was changed.")))
        return EndFlow(show_menu=False)
    run.say(run.t(N_("Recorded as not approved. The owner has been told, with your reason.")))
    await show_actions(run, member, application)
    return EndFlow(show_menu=False)


# --- return for changes -----------------------------------------------------------------------------------


def flaggable(run: Run, application: Application, *, buttons: bool = True) -> list[list[str]]:
    """[value, label] of every answer and checklist document a reviewer may ask to change. As chat
    buttons the labels are shortened (at a word boundary); on the console's page they are whole."""

    def label(text: str) -> str:
        return short_label(text) if buttons else " ".join(text.split())

    items = [
        [f"a:{step_id}", label(dossier.answer_label(run, step_id))]
        for step_id in dossier.questions(run)
        if step_id in application.answers
    ]
    items += [
        ["d:" + item.id, label("📎 " + run.t(item.label))] for item in dossier.checklist_of(run, application)
    ]
    return items


def _flags(run: Run) -> dict[str, dict[str, str]]:
    flags = run.answers.get("flags") or {}
    return {"answers": dict(flags.get("answers", {})), "documents": dict(flags.get("documents", {}))}


def _label(run: Run, value: str) -> str:
    return next((label for v, label in run.state.data.get("items", []) if v == value), value)


def _flag_lines(run: Run) -> list[str]:
    flags = _flags(run)
    lines = [f"• {_label(run, 'a:' + k)}: {c}" for k, c in flags["answers"].items()]
    lines += [f"• {_label(run, 'd:' + k)}: {c}" for k, c in flags["documents"].items()]
    return lines


def _item_prompt(run: Run) -> str:
    text = run.t(
        N_(
            "Return {title} for changes. Which answer or document should the owner change? Choose one "
            "and write your comment; then choose the next one, or send."
        ),
        title=_title(run),
    )
    lines = _flag_lines(run)
    if lines:
        text += "\n\n" + run.t(N_("Your comments so far:")) + "\n" + "\n".join(lines)
    return text


def _item_options(run: Run) -> list[Option]:
    flags = _flags(run)
    flagged = {f"a:{k}" for k in flags["answers"]} | {f"d:{k}" for k in flags["documents"]}
    options = [
        Option(value, ("✏️ " if value in flagged else "") + label, literal=True)
        for value, label in run.state.data.get("items", [])
    ]
    if flagged:
        options.insert(0, Option("done", N_("📨 Done: on to sending")))
    return options


async def _item_chosen(run: Run, value: Any) -> Transition:
    if value == "done":
        return Goto("general")
    run.set_data("item", value)
    return Goto("comment")


def _comment_prompt(run: Run) -> str:
    return run.t(
        N_("Your comment on “{item}”: what should the owner change? They will read it as you write it."),
        item=_label(run, str(run.state.data.get("item", ""))),
    )


def _comment(text: str) -> Result:
    return bounded_text(text, min_len=3, max_len=500)


async def _comment_written(run: Run, value: Any) -> Transition:
    item = str(run.pop_data("item") or "")
    kind, _, key = item.partition(":")
    flags = _flags(run)
    flags["answers" if kind == "a" else "documents"][key] = str(value)
    run.set_answer("flags", flags)
    return Goto("item")


def _general(text: str) -> Result:
    return bounded_text(text, min_len=3, max_len=1000)


def _return_prompt(run: Run) -> str:
    text = run.t(N_("Return {title} to the owner with these comments?"), title=_title(run))
    text += "\n\n" + "\n".join(_flag_lines(run))
    general = run.answers.get("general")
    if general:
        text += "\n\n" + run.t(N_("General comment: {comment}"), comment=general)
    return text


async def _return(run: Run, value: Any) -> Transition:
    if value != "yes":
        return await _back(run)
    held = await _held(run)
    if held is None:
        return EndFlow(show_menu=False)
    member, application = held
    flags = _flags(run)
    general = run.answers.get("general") or None
    event = await return_for_changes(
        run, member, application, answers=flags["answers"], documents=flags["documents"], comment=general
    )
    if event is None:
        run.say(run.t(N_("Someone else changed this dossier a moment ago; nothing was changed.")))
        return EndFlow(show_menu=False)
    run.say(
        run.t(
            N_(
                "Returned to the owner, who has been told what to change. Only those items are open to "
                "them; the dossier comes back to the queue when they send it again."
            )
        )
    )
    await show_actions(run, member, application)
    return EndFlow(show_menu=False)


def flows() -> list[Flow]:
    yes_approve = Option("yes", N_("✅ Yes, approve"))
    return [
        Flow(
            id=APPROVE,
            version=1,
            steps=(
                AskChoice(
                    id="confirm",
                    prompt=_approve_prompt,
                    options=(yes_approve, CONFIRM_BACK),
                    store=False,
                    on_answer=_approve,
                ),
            ),
        ),
        Flow(
            id=REJECT,
            version=1,
            steps=(
                AskText(
                    id="reason",
                    label=N_("Reason"),
                    prompt=N_(
                        "Why is the dossier not approved? The owner will read your reason as you write it, "
                        "so please say what the problem is and, if possible, what they could do."
                    ),
                    example=N_(
                        "For example: The product is bought in from another facility, not made by the applicant."
                    ),
                    validate=_reason,
                ),
                AskChoice(
                    id="confirm",
                    prompt=_reject_prompt,
                    options=(Option("yes", N_("❌ Yes, do not approve")), CONFIRM_BACK),
                    store=False,
                    on_answer=_reject,
                ),
            ),
        ),
        Flow(
            id=RETURN,
            version=1,
            steps=(
                AskChoice(
                    id="item", prompt=_item_prompt, options=_item_options, store=False, on_answer=_item_chosen
                ),
                AskText(
                    id="comment",
                    prompt=_comment_prompt,
                    example=N_("For example: The photos are blurred; please send three sharp photos."),
                    validate=_comment,
                    store=False,
                    on_answer=_comment_written,
                ),
                AskText(
                    id="general",
                    label=N_("General comment"),
                    prompt=N_("Anything else to tell the owner about the dossier as a whole? (optional)"),
                    validate=_general,
                    optional=True,
                ),
                AskChoice(
                    id="confirm",
                    prompt=_return_prompt,
                    options=(Option("yes", N_("📨 Yes, return it")), CONFIRM_BACK),
                    store=False,
                    on_answer=_return,
                ),
            ),
        ),
    ]
