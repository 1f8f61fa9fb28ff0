"""A submitted dossier as a reviewer reads it: profile, answers, verdict, documents, changes, history.

The owner's answers are labelled and displayed by the same steps that asked them (the "apply"
flow), so a reviewer reads "Number of workers: 25" exactly as the owner confirmed it; only the
language is the reviewer's. Nothing here changes the dossier.
"""

from __future__ import annotations

from typing import Any

from conversations import rules, summary
from conversations.flows.eligibility import FINDING_MARKS
from conversations.flows.onboarding import profile_answers
from conversations.i18n import N_
from conversations.messages import Document, Outgoing
from conversations.places import province_by_name
from conversations.programmes import ChecklistItem
from conversations.run import Run
from conversations.steps import Question
from storage import staff
from storage.models import Application, Facility

VERDICT_LABELS = {
    "eligible": N_("✅ meets the conditions"),
    "not_yet": N_("❌ does not meet the conditions yet"),
    "needs_staff": N_("⚠️ some points need a check by staff"),
}
ACTION_LABELS = {
    "submitted": N_("submitted"),
    "claimed": N_("taken for review"),
    "released": N_("put back in the queue"),
    "returned": N_("returned for changes"),
    "resubmitted": N_("submitted again"),
    "approved": N_("approved"),
    "rejected": N_("not approved"),
    "certificate_recorded": N_("certificate recorded"),
}


def title(application: Application) -> str:
    """The receipt code and the product: how staff name a dossier in lists and headings."""
    name = application.answers.get("product_name")
    if not name and application.requested_changes:  # flagged while returned
        name = application.requested_changes.get("answers_before", {}).get("product_name")
    return f"{application.receipt_code or '#' + str(application.id)} · {name or '—'}"


def facts_of(application: Application, facility: Facility) -> dict[str, Any]:
    """The facts the programme rules read for this dossier (as `Run.facts` does for its owner)."""
    facts: dict[str, Any] = dict(application.answers)
    facts.update(
        facility_kind=facility.kind,
        commune_kind=facility.commune_kind,
        craft_village=facility.craft_village,
        province=facility.province,
    )
    try:
        province = province_by_name(facility.province)
    except KeyError:
        pass
    else:
        facts.update(province_is_city=province.is_city, province_region=province.region)
    return facts


def checklist_of(run: Run, application: Application) -> list[ChecklistItem]:
    return rules.checklist(run.programmes[application.programme], facts_of(application, application.facility))


def questions(run: Run) -> dict[str, Question]:
    """The application flow's questions by id: what labels and displays an answer."""
    return {s.id: s for s in run.engine.flows["apply"].steps if isinstance(s, Question) and s.store}


def answer_label(run: Run, step_id: str) -> str:
    step = questions(run).get(step_id)
    return summary.label_of(run, step) if step is not None else step_id


def answer_label_msgid(run: Run, step_id: str) -> Any:
    """The label as an outbox value, translated in the owner's language when it is sent."""
    step = questions(run).get(step_id)
    if step is not None and step.label:
        return {"msgid": step.label}
    prompt = getattr(step.prompt, "__wrapped__", step.prompt) if step is not None else None
    if isinstance(prompt, str):
        return {"msgid": prompt}
    return answer_label(run, step_id)


def answer_value(run: Run, step_id: str, value: Any) -> str:
    step = questions(run).get(step_id)
    return summary.display(run, step, value) if step is not None else str(value)


def answer_lines(run: Run, application: Application) -> list[str]:
    qs = questions(run)
    return [
        f"• {answer_label(run, step_id)}: {answer_value(run, step_id, application.answers[step_id])}"
        for step_id in qs
        if step_id in application.answers
    ]


def profile_lines(run: Run, facility: Facility) -> list[str]:
    flow = run.engine.flows["onboarding"]
    answers = profile_answers(facility)
    return [
        f"• {summary.label_of(run, step)}: {summary.display(run, step, answers[step.id])}"
        for step in flow.steps
        if isinstance(step, Question) and step.id in answers
    ]


def verdict_lines(run: Run, application: Application) -> list[str]:
    if not application.verdict:
        return []
    verdict = rules.Verdict.from_json(application.verdict)
    lines = [
        run.t(
            N_("Assistant's check: {outcome} (rules {version})"),
            outcome=run.t(VERDICT_LABELS[verdict.outcome]),
            version=application.rules_version or verdict.rules_version,
        )
    ]
    for finding in verdict.findings:
        if finding.outcome != "ok":
            lines.append(f"{FINDING_MARKS[finding.outcome]} {run.t(finding.reason, **dict(finding.values))}")
    passed = sum(1 for f in verdict.findings if f.outcome == "ok")
    if passed:
        lines.append(run.t(N_("✅ {count} conditions met"), count=passed))
    return lines


def document_lines(run: Run, application: Application) -> list[str]:
    labels = {item.id: run.t(item.label) for item in checklist_of(run, application)}
    counts: dict[str, int] = {}
    for document in application.documents:
        counts[document.doc_type] = counts.get(document.doc_type, 0) + 1
    lines = [f"📎 {labels.get(doc_type, doc_type)}: {count}" for doc_type, count in counts.items()]
    missing = [label for item_id, label in labels.items() if item_id not in counts]
    if missing:
        lines.append(run.t(N_("Not sent: {items}"), items="; ".join(missing)))
    return lines or [run.t(N_("No documents."))]


def document_messages(run: Run, application: Application) -> list[Outgoing]:
    """Each file of the dossier as a message of its own, captioned with its checklist item."""
    labels = {item.id: run.t(item.label) for item in checklist_of(run, application)}
    out = []
    for document in application.documents:
        out.append(
            Outgoing(
                text=f"📎 {labels.get(document.doc_type, document.doc_type)} – {document.filename}",
                document=Document(
                    path=str(run.files.path(document.storage_key)),
                    filename=document.filename,
                    content_type=document.content_type,
                ),
            )
        )
    return out


def change_lines(run: Run, application: Application) -> list[str]:
    """What the owner changed in their latest resubmission, if the latest submission was one."""
    latest = next((e for e in reversed(application.events) if e.action in ("submitted", "resubmitted")), None)
    if latest is None or latest.action != "resubmitted":
        return []
    changes = latest.detail.get("changes") or {}
    labels = {item.id: run.t(item.label) for item in checklist_of(run, application)}
    lines = [run.t(N_("🔁 Changed since it was returned:"))]
    for step_id, change in (changes.get("answers") or {}).items():
        before = change.get("before")
        after = change.get("after")
        lines.append(
            f"• {answer_label(run, step_id)}: "
            + (answer_value(run, step_id, before) if before is not None else "—")
            + " → "
            + (answer_value(run, step_id, after) if after is not None else "—")
        )
    for document in changes.get("documents_added") or []:
        label = labels.get(document["doc_type"], document["doc_type"])
        lines.append(
            "• " + run.t(N_("📎 {item}: new file {filename}"), item=label, filename=document["filename"])
        )
    for document in changes.get("documents_removed") or []:
        label = labels.get(document["doc_type"], document["doc_type"])
        lines.append(
            "• " + run.t(N_("📎 {item}: removed {filename}"), item=label, filename=document["filename"])
        )
    if len(lines) == 1:
        lines.append(run.t(N_("Nothing was changed.")))
    return lines


async def history_lines(run: Run, application: Application) -> list[str]:
    lines = []
    for event in application.events:
        who = run.t(N_("owner")) if event.actor == "owner" else await staff.describe(run.session, event.actor)
        what = run.t(ACTION_LABELS.get(event.action, event.action))
        lines.append(f"· {run.t.datetime(event.at, run.settings.timezone)} – {what} ({who})")
    return lines
