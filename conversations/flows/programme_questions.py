"""Steps built from a programme's questions in `conversations/programmes/*.yaml`.

The eligibility check and the application ask the same questions, so a province that adds a
condition to the YAML gets it asked in both without a code change.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from conversations import rules
from conversations.matching import number_in_phrase
from conversations.programmes import Programme, Question, placeholders
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


def steps_for(programme: Programme) -> list[Step]:
    steps: list[Step] = []
    for q in programme.questions:
        if q.kind == "choice":
            steps.append(
                AskChoice(
                    id=q.id,
                    prompt=_prompt(programme, q),
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


def programme_options(programmes: dict[str, Programme]) -> tuple[Option, ...]:
    return tuple(Option(p.id, p.name) for p in programmes.values())
