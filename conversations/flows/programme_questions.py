"""Steps built from a programme's questions in `conversations/programmes/*.yaml`.

The eligibility check and the application ask the same questions, so a province that adds a
condition to the YAML gets it asked in both without a code change.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from conversations import rules
from conversations.i18n import N_
from conversations.matching import aliases_of, number_in_phrase
from conversations.programmes import Programme, Question, placeholders
from conversations.run import Run
from conversations.steps import AskChoice, AskText, Condition, Option, Step, Transition, TypedAnswer
from conversations.validators import Result


def _condition(programme: Programme, question: Question) -> Condition:
    def holds(run: Run) -> bool:
        return run.answers.get("programme") == programme.id and rules.matches(question.when, run.facts())

    return holds


def _money(run: Run, value: Any) -> str:
    return run.t.money(int(value))


def _positive_amount(text: str) -> Result:
    return number_in_phrase(text, minimum=1)  # "khoảng 350 triệu", "300 triệu đồng"


def _year(text: str) -> Result:
    return number_in_phrase(text, minimum=1990, maximum=date.today().year)  # "năm 2021"


def _plain(run: Run, value: Any) -> str:
    return str(int(value))  # 2021, not 2.021


def _prompt(programme: Programme, question: Question) -> str | Callable[[Run], str]:
    """A prompt naming the level below the chosen round fills it in ("... cấp tỉnh ...")."""
    if "lower_level" not in placeholders(question.prompt):
        return question.prompt

    def text(run: Run) -> str:
        levels = programme.raw["levels"]
        chosen = levels.get(run.answers.get("level"), {}).get("order", 0)
        below = next((lv for lv in levels.values() if lv["order"] == chosen - 1), None)
        name = run.t(below["label"]).lower() if below else "?"
        return run.t(question.prompt, lower_level=name)

    return text


def _together(programme: Programme) -> AskChoice | None:
    """Conditions nearly everyone meets (`asked_together` in the YAML) as one question: "yes"
    answers each of them 'yes' (shown one by one on the summary, where any can be changed);
    "no" asks them one by one. Only those still unanswered and relevant are shown."""
    spec = programme.raw.get("asked_together")
    if not spec:
        return None
    by_id = {q.id: q for q in programme.questions}
    grouped = [by_id[qid] for qid in spec["questions"]]
    step_id = f"all_{programme.id}"

    def pending(run: Run) -> list[Question]:
        facts = run.facts()
        return [q for q in grouped if q.id not in run.answers and rules.matches(q.when, facts)]

    def holds(run: Run) -> bool:
        return run.answers.get("programme") == programme.id and len(pending(run)) >= 2

    def prompt(run: Run) -> str:
        return "\n".join([run.t(spec["prompt"]), *(f"• {run.t(q.label or q.prompt)}" for q in pending(run))])

    async def answered(run: Run, value: Any) -> Transition:
        if value == "yes":
            for q in pending(run):
                run.set_answer(q.id, "yes")
        return None

    return AskChoice(
        id=step_id,
        prompt=prompt,
        options=(Option("yes", N_("Yes, all of it")), Option("no", N_("No, not all of it"))),
        store=False,
        on_answer=answered,
        when=holds,
        help=N_(
            "If even one of these is not true of your product, choose “No, not all of it”: I will then "
            "ask about each of them."
        ),
    )


def _typed_year(programme: Programme, q: Question) -> tuple[TypedAnswer, str | Callable[[Run], str]] | None:
    """A year question asked only after one option of `q` ("has the certificate" -> "which
    year?") is asked in its place: the owner types the year, or taps one of the other options
    ("Not recognised yet"). One message instead of two; "yes" typed still asks the year after."""
    for y in programme.questions:
        when = y.when or {}
        if y.kind == "year" and set(when) == {"fact", "is"} and when["fact"] == q.id:
            asked = _prompt(programme, y)

            def prompt(run: Run, asked: str | Callable[[Run], str] = asked, y: Question = y) -> str:
                text = asked(run) if callable(asked) else run.t(asked)
                return text + ("\n" + run.t(y.example) if y.example else "")

            return TypedAnswer(str(when["is"]), y.id, _year), prompt
    return None


def steps_for(programme: Programme) -> list[Step]:
    steps: list[Step] = []
    together = _together(programme)
    first_grouped = programme.raw["asked_together"]["questions"][0] if together else None
    for q in programme.questions:
        if together is not None and q.id == first_grouped:
            steps.append(together)
        if q.kind == "choice":
            typed = _typed_year(programme, q)
            steps.append(
                AskChoice(
                    id=q.id,
                    prompt=typed[1] if typed else _prompt(programme, q),
                    typed=typed[0] if typed else None,
                    label=q.label,
                    options=tuple(
                        Option(o.value, o.label) for o in q.options
                    ),  # aliases: matching.aliases_of
                    help=q.help,
                    when=_condition(programme, q),
                )
            )
        else:
            steps.append(
                AskText(
                    id=q.id,
                    prompt=_prompt(programme, q),
                    label=q.label,
                    validate=_year if q.kind == "year" else _positive_amount,
                    example=q.example,
                    help=q.help,
                    when=_condition(programme, q),
                    display=_plain if q.kind == "year" else _money,
                )
            )
    return steps


# The question a programme menu offers directly: the selection programme's round level, so one
# tap ("Provincial level") says both the programme and the level.
FOLDED = "level"


def _folded(programme: Programme) -> Question | None:
    first = programme.questions[0] if programme.questions else None
    if first is not None and first.id == FOLDED and first.kind == "choice" and first.when is None:
        return first
    return None


def programme_options(programmes: dict[str, Programme]) -> tuple[Option, ...]:
    """The programmes to choose from: a programme asking the level first offers its levels here
    ("selection.province"), one option each, unambiguous; the others are offered by name."""
    options: list[Option] = []
    for p in programmes.values():
        level = _folded(p)
        if level is None:
            options.append(Option(p.id, p.name))
            continue
        options += [
            Option(f"{p.id}.{o.value}", o.label, aliases=aliases_of(FOLDED, o.value)) for o in level.options
        ]
    return tuple(options)


def programme_prompt(msgid: str, programmes: dict[str, Programme]) -> Callable[[Run], str]:
    """`msgid` names, as {programme}, the programme whose levels the menu shows."""
    folded = next((p for p in programmes.values() if _folded(p) is not None), None)

    def prompt(run: Run) -> str:
        return run.t(msgid, programme=run.t(folded.name) if folded else "")

    return prompt


def chosen(value: str) -> tuple[str, dict[str, str]]:
    """The programme of a menu option and the answers it gives besides (the level)."""
    programme, _, level = value.partition(".")
    return programme, ({FOLDED: level} if level else {})
