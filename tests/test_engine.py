"""The flow engine on small flows of its own: branching, validation, strikes, resume, stale buttons."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.engine import MAX_STRIKES, Engine, payload
from conversations.i18n import translator
from conversations.messages import Incoming
from conversations.run import Run, Settings
from conversations.steps import Action, AskChoice, AskText, EndFlow, Flow, Option, Say, Summary, Transition
from conversations.validators import bounded_text, phone
from storage.files import FileStore
from storage.models import Account, ConversationState

FINISHED: list[dict[str, Any]] = []


async def _finish(run: Run) -> Transition:
    FINISHED.append(dict(run.answers))
    run.say("finished")
    return EndFlow(show_menu=False)


FLOW = Flow(
    id="t",
    version=1,
    steps=(
        Say(id="hello", text="Hello"),
        AskChoice(
            id="kind",
            prompt="Which kind?",
            options=(Option("food", "Food"), Option("craft", "Handicraft")),
            help="Kind means what you make.",
        ),
        AskChoice(
            id="food_cert",
            prompt="Food-safety certificate?",
            options=(Option("yes", "Yes"), Option("no", "No")),
            when=lambda run: run.answers.get("kind") == "food",
        ),
        AskText(id="phone", prompt="Phone?", validate=phone, example="e.g. 0912345678"),
        AskText(
            id="note",
            prompt="Any note?",
            validate=lambda text: bounded_text(text, min_len=2, max_len=20),
            optional=True,
        ),
        Summary(id="summary", title="Check:", confirm_label="Send", on_confirm=_finish),
    ),
)


class Harness:
    def __init__(self, session: AsyncSession, tmp: Path) -> None:
        self.session = session
        self.engine = Engine({"t": FLOW})
        self.account = Account(locale="en")
        self.state = ConversationState(data={})
        self.tmp = tmp
        self.n = 0
        self.out: list = []

    def run(self, **incoming: Any) -> Run:
        self.n += 1
        return Run(
            session=self.session,
            account=self.account,
            state=self.state,
            incoming=Incoming(channel="web", user_id="x", update_id=str(self.n), **incoming),
            t=translator("en"),
            now=datetime(2026, 11, 22, tzinfo=UTC),
            files=FileStore(self.tmp),
            programmes={},
            settings=Settings(),
            engine=self.engine,
        )

    async def start(self) -> str:
        run = self.run()
        await self.engine.start(run, "t")
        self.out = run.out
        return "\n".join(m.text for m in run.out)

    async def send(self, **incoming: Any) -> str:
        run = self.run(**incoming)
        await self.engine.answer(run)
        self.out = run.out
        return "\n".join(m.text for m in run.out)


@pytest.fixture
async def h(sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> AsyncIterator[Harness]:
    async with sessions() as session:
        account = Account(locale="en")
        session.add(account)
        await session.flush()
        harness = Harness(session, tmp_path)
        harness.account = account
        harness.state = ConversationState(account_id=account.id, data={})
        session.add(harness.state)
        yield harness


async def test_start_says_then_asks_first_question_in_one_message(h: Harness) -> None:
    await h.start()
    assert h.out[-1].text == "Hello\n\nWhich kind?"  # information and question read as one
    assert [c.label for c in h.out[-1].choices] == ["Food", "Handicraft"]
    assert h.state.step == "kind"


async def test_branch_asks_food_question_only_for_food(h: Harness) -> None:
    await h.start()
    assert await h.send(choice=payload("kind", "craft")) == "Phone?\ne.g. 0912345678"
    h2_text = await h.send(text="/x")  # wrong phone, not a command here
    assert "Phone?" not in h2_text

    h.state.step, h.state.data = None, {}
    await h.start()
    assert await h.send(choice=payload("kind", "food")) == "Food-safety certificate?"


async def test_typed_number_and_words_answer_a_choice(h: Harness) -> None:
    await h.start()
    await h.send(text="2")
    assert h.state.data["answers"]["kind"] == "craft"
    h.state.data = {"store": "state", "answers": {}}
    h.state.step = "kind"
    await h.send(text="FOOD")
    assert h.state.data["answers"]["kind"] == "food"


async def test_wrong_answer_gets_one_message_with_example_and_no_repeat(h: Harness) -> None:
    await h.start()
    await h.send(text="1")
    await h.send(text="no")
    text = await h.send(text="12345")
    assert len(h.out) == 1
    assert "0912" in text  # the example of a right answer
    assert "Phone?" not in text  # the question is not asked again
    assert h.state.step == "phone"


async def test_three_strikes_rephrase_and_offer_staff_and_stop(h: Harness) -> None:
    await h.start()
    for _ in range(MAX_STRIKES - 1):
        await h.send(text="something else")
        assert "Talk to staff" not in [c.label for c in h.out[-1].choices]
    text = await h.send(text="still not")
    labels = [c.label for c in h.out[-1].choices]
    assert "Kind means what you make." in text
    assert {"Food", "Handicraft", "Talk to staff", "Stop for now"} <= set(labels)
    assert "Skip this question" not in labels  # not optional
    assert h.state.strikes == 0


async def test_optional_question_can_be_skipped(h: Harness) -> None:
    await h.start()
    await h.send(text="2")
    await h.send(text="0912345678")
    assert "Skip" in [c.label for c in h.out[-1].choices]
    await h.send(choice="sys:skip")
    assert h.state.step == "summary"
    assert h.state.data["answers"]["note"] is None


async def test_stale_button_is_not_applied(h: Harness) -> None:
    await h.start()
    await h.send(text="2")
    text = await h.send(choice=payload("kind", "food"))
    assert "earlier question" in text
    assert h.state.data["answers"]["kind"] == "craft"
    assert h.state.step == "phone"


async def test_summary_edit_reasks_and_new_branch_questions_then_returns(h: Harness) -> None:
    await h.start()
    await h.send(text="2")
    await h.send(text="+84 912 345 678")
    await h.send(text="ok note")
    assert h.state.step == "summary"
    assert "0912345678" in h.out[-1].text
    await h.send(choice="summary:edit")
    await h.send(choice="summary:e:kind")
    assert h.state.step == "kind"
    await h.send(text="Food")
    # the change made a new question relevant: asked before coming back to the summary
    assert h.state.step == "food_cert"
    await h.send(text="yes")
    assert h.state.step == "summary"
    await h.send(choice="summary:confirm")
    assert FINISHED[-1]["kind"] == "food" and FINISHED[-1]["food_cert"] == "yes"
    assert h.state.flow is None


async def test_resume_lands_on_first_unanswered_without_replaying_info(h: Harness) -> None:
    await h.start()
    await h.send(text="2")
    h.engine.leave(h.run(), keep=True)
    run = h.run()
    await h.engine.start(run, "t")
    assert "Hello" not in "\n".join(m.text for m in run.out)
    assert h.state.step == "phone"


async def test_payload_over_64_bytes_is_refused() -> None:
    with pytest.raises(ValueError):
        payload("s" * 40, "v" * 30)


async def test_action_can_end_the_flow(h: Harness, sessions: async_sessionmaker[AsyncSession]) -> None:
    async def stop(run: Run) -> Transition:
        run.say("stopped early")
        return EndFlow(show_menu=False)

    h.engine.flows["t2"] = Flow(id="t2", version=1, steps=(Action(id="a", run=stop), FLOW.steps[1]))
    run = h.run()
    await h.engine.start(run, "t2")
    assert [m.text for m in run.out] == ["stopped early"]
    assert h.state.flow is None


def test_a_flow_with_a_step_id_used_twice_is_refused_when_built() -> None:
    from conversations.steps import Flow, FlowError, Say

    with pytest.raises(FlowError, match="used twice: hello"):
        Flow(id="f", version=1, steps=(Say(id="hello", text="a"), Say(id="hello", text="b")))


def test_a_flow_going_to_a_step_that_does_not_exist_is_refused_when_built() -> None:
    from conversations.steps import Flow, FlowError, Say

    with pytest.raises(FlowError, match="'a' goes to unknown step"):
        Flow(id="f", version=1, steps=(Say(id="a", text="a", exits=("sumary",)), Say(id="summary", text="b")))


def test_a_goto_written_in_a_steps_code_is_checked_when_built() -> None:
    """A misspelt `Goto("...")` in a callback (or a helper it calls) stops the start-up, with no
    `exits=` needed for the check to see it."""
    from conversations.steps import FlowError, Goto

    async def helper(run: Run) -> Transition:
        return Goto("sumary")

    async def jump(run: Run) -> Transition:
        return await helper(run)

    with pytest.raises(FlowError, match=r"'a' goes to unknown step.*sumary"):
        Flow(id="f", version=1, steps=(Action(id="a", run=jump), Say(id="summary", text="b")))
    flow = Flow(id="f", version=1, steps=(Action(id="a", run=_finish), Say(id="summary", text="b")))
    assert flow.targets["a"] == {"a"}


async def test_a_computed_goto_the_start_up_check_did_not_see_is_refused(h: Harness) -> None:
    """A target computed at run time must be declared in `exits`; otherwise the jump fails
    loudly (dead letter and apology) instead of going somewhere unchecked."""
    from conversations.steps import FlowError, Goto

    target = "food" + "_cert"

    async def jump(run: Run) -> Transition:
        return Goto(target)

    h.engine.flows["t3"] = Flow(id="t3", version=1, steps=(Action(id="a", run=jump), *FLOW.steps))
    with pytest.raises(FlowError, match="not declared"):
        await h.engine.start(h.run(), "t3")


def test_every_real_flow_builds() -> None:
    """The dialogue builds every flow at start-up: none repeats an id or leads nowhere."""
    from conversations.dialogue import Dialogue
    from conversations.programmes import load_programmes
    from storage.files import FileStore

    dialogue = Dialogue(programmes=load_programmes(), files=FileStore(Path("/nonexistent")))
    assert {"onboarding", "check", "apply"} <= set(dialogue.engine.flows)
