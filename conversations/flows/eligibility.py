"""Eligibility check (/check): a few questions, then a verdict with its reasons and next steps.

The verdict is informative, never the authority's decision, and says so every time. Its answers
carry over to an application, so someone who checked first is not asked twice.
"""

from __future__ import annotations

from typing import Any

from conversations import rules
from conversations.flows.programme_questions import chosen, programme_options, programme_prompt, steps_for
from conversations.i18n import N_
from conversations.programmes import Programme
from conversations.run import Run
from conversations.steps import Action, AskChoice, EndFlow, Flow, Option, StartFlow, Step, Transition

OUTCOME_HEADLINES = {
    "eligible": N_("✅ Based on your answers, your facility appears to meet the conditions of {programme}."),
    "not_yet": N_("❌ Based on your answers, your facility does not yet meet the conditions of {programme}."),
    "needs_staff": N_(
        "⚠️ Based on your answers, the centre's staff need to confirm some points before I can say "
        "whether you meet the conditions of {programme}."
    ),
}
FINDING_MARKS = {"ok": "✅", "not_yet": "❌", "needs_staff": "⚠️"}
DISCLAIMER = N_(
    "This result is for your information only: it is not a decision of the Department of Industry "
    "and Trade or of the selection council."
)


# Support is granted by the province when a project is approved, not by a selection council.
SUPPORT_DISCLAIMER = N_(
    "This result is for your information only: it is not a decision of the Department of Industry "
    "and Trade or of the industrial extension centre. Support is decided when the project is approved."
)


def verdict_text(run: Run, programme: Programme, verdict: rules.Verdict) -> str:
    lines = [run.t(OUTCOME_HEADLINES[verdict.outcome], programme=run.t(programme.name)), ""]
    # The conditions met are the owner's own answers read back: for the selection they are one
    # count; what is not met, or needs staff, stays in full with what to do. (Support findings
    # that are met carry information, such as who sets the support level, and stay.)
    met = [f for f in verdict.findings if f.outcome == "ok"] if programme.id == "selection" else []
    if met:
        lines.append(
            run.t(N_("✅ {count} conditions met."), count=len(met))
            if len(met) < len(verdict.findings)
            else run.t(N_("✅ All {count} conditions checked are met."), count=len(met))
        )
    for finding in verdict.findings:
        if finding in met:
            continue
        values = dict(finding.values)
        line = f"{FINDING_MARKS[finding.outcome]} {run.t(finding.reason, **values)}"
        if finding.next and finding.outcome != "ok":
            line += "\n   → " + run.t(finding.next, **values)
        lines.append(line)
    if verdict.support_estimate_vnd and verdict.outcome != "not_yet":
        lines += [
            "",
            run.t(
                N_(
                    "Estimated maximum support: {amount} (the final level is set when the project is approved)."
                ),
                amount=run.t.money(verdict.support_estimate_vnd),
            ),
        ]
    lines += ["", run.t(SUPPORT_DISCLAIMER if programme.id == "support" else DISCLAIMER)]
    return "\n".join(lines)


async def _show_verdict(run: Run) -> Transition:
    programme = run.programmes[run.answers["programme"]]
    verdict = rules.evaluate(programme, run.facts())
    run.set_data("verdict", verdict.outcome)
    run.set_data("done", True)  # a later /check starts afresh instead of repeating this verdict
    # Kept past the check (in "saved", which outlives flows) so /apply typed later asks nothing twice.
    saved = dict(run.state.data.get("saved") or {})
    saved["checked"] = {k: v for k, v in run.answers.items() if k != "after_check"}
    run.set_data("saved", saved)
    run.say(verdict_text(run, programme, verdict))
    return None


def _next_options(run: Run) -> list[Option]:
    options = []
    if run.state.data.get("verdict") in ("eligible", "needs_staff"):
        options.append(Option("apply", N_("📝 Prepare the dossier now")))
    options += [Option("again", N_("🔁 Check another programme")), Option("menu", N_("🏠 Main menu"))]
    return options


async def _after_verdict(run: Run, value: Any) -> Transition:
    if value == "apply":
        answers = {k: v for k, v in run.answers.items() if k != "after_check"}
        return StartFlow("apply", {"prefill": answers})
    if value == "again":
        return StartFlow("check")
    return EndFlow()


async def _programme_chosen(run: Run, value: Any) -> Transition:
    """The stored "selection.province" becomes the programme and the level it names."""
    programme, given = chosen(value)
    run.set_answer("programme", programme)
    for key, answer in given.items():
        run.set_answer(key, answer)
    return None


def build(programmes: dict[str, Programme]) -> Flow:
    steps: list[Step] = [
        AskChoice(
            id="programme",
            prompt=programme_prompt(
                N_("Which programme do you want to check? For the {programme}, choose the round's level."),
                programmes,
            ),
            options=programme_options(programmes),
            on_answer=_programme_chosen,
            display=lambda run, value: run.t(run.programmes[chosen(value)[0]].name),
            help=N_(
                "“Typical rural industrial products” is the selection and recognition of outstanding "
                "products, with a certificate. “Industrial extension support” is funding for machinery, "
                "demonstration models, training, packaging design or fair booths."
            ),
        )
    ]
    for programme in programmes.values():
        steps += steps_for(programme)
    steps += [
        Action(id="verdict", run=_show_verdict),
        AskChoice(
            id="after_check",
            prompt=N_("What would you like to do next?"),
            options=_next_options,
            store=False,
            on_answer=_after_verdict,
        ),
    ]
    return Flow(id="check", version=1, steps=tuple(steps))
