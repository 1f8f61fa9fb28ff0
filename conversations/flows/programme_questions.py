"""Steps built from a programme's questions in `conversations/programmes/*.yaml`.

The eligibility check and the application ask the same questions, so a province that adds a
condition to the YAML gets it asked in both without a code change.
"""

from __future__ import annotations

from typing import Any

from conversations import rules
from conversations.matching import number_in_phrase
from conversations.programmes import Programme, Question
from conversations.run import Run
from conversations.steps import AskChoice, AskText, Option, Step
from conversations.validators import Result


def _condition(programme: Programme, question: Question):  # type: ignore[no-untyped-def]
    def holds(run: Run) -> bool:
        return run.answers.get("programme") == programme.id and rules.matches(question.when, run.facts())

    return holds


def _money(run: Run, value: Any) -> str:
    return run.t.money(int(value))


def _positive_amount(text: str) -> Result:
    return number_in_phrase(text, minimum=1)  # "khoảng 350 triệu", "300 triệu đồng"


def steps_for(programme: Programme) -> list[Step]:
    steps: list[Step] = []
    for q in programme.questions:
        if q.kind == "choice":
            steps.append(
                AskChoice(
                    id=q.id,
                    prompt=q.prompt,
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
                    prompt=q.prompt,
                    label=q.label,
                    validate=_positive_amount,
                    example=q.example,
                    help=q.help,
                    when=_condition(programme, q),
                    display=_money,
                )
            )
    return steps


def programme_options(programmes: dict[str, Programme]) -> tuple[Option, ...]:
    return tuple(Option(p.id, p.name) for p in programmes.values())
