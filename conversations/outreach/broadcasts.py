"""/broadcast: staff (broadcaster or admin) announce something to the facilities they choose.

The composer asks for the audience (province, commune, product group, certification level, fair),
then the text; it shows how many people will receive it and on which apps, and the message exactly
as they will see it (rendered by the delivery worker's own renderer), then asks to confirm.
Confirming queues one outbox row per person in the same transaction as the broadcast record; the
delivery worker sends them and the scheduler keeps one progress message up to date, with pause
and cancel buttons, then reports. A broadcaster reaches only their own province(s).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conversations.i18n import N_
from conversations.messages import Choice
from conversations.outreach import audience as audiences
from conversations.outreach.common import (
    GROUP_LABELS,
    LEVEL_LABELS,
    fair_facts,
    local_today,
    refuse_unless_staff,
    scope,
    text_block,
)
from conversations.outreach.render import render_payload
from conversations.payloads import go
from conversations.places import province_validator
from conversations.record_ids import record_id
from conversations.run import Run
from conversations.steps import Action, AskChoice, AskText, EndFlow, Flow, Goto, Option, Transition
from conversations.validators import Result, Valid, fold
from storage import outbox, outreach
from storage.outreach import Broadcast, Fair

if TYPE_CHECKING:
    from conversations.dialogue import Dialogue

FLOW_ID = "broadcast"
ALL = "all"
ANY = "any"
MAX_TEXT = 3500  # leaves room in Telegram's 4096 for nothing else to be cut
REGISTER_LABEL = N_("📝 Register for this fair")


def _scope(run: Run) -> list[str] | None:
    return run.state.data.get("bc_scope")


def _national(run: Run) -> bool:
    return _scope(run) is None


def _several(run: Run) -> bool:
    scope_list = _scope(run)
    return scope_list is not None and len(scope_list) > 1


def _province_or_all(text: str) -> Result:
    if fold(text).strip(" .") in ("all", "tat ca", "toan quoc", "ca nuoc"):
        return Valid(ALL)
    return province_validator(text)


def _provinces(run: Run) -> tuple[str, ...] | None:
    scope_list = _scope(run)
    answers = run.answers
    chosen = answers.get("bc_province") or answers.get("bc_province_pick")
    if scope_list is not None and len(scope_list) == 1:
        return (scope_list[0],)
    if chosen in (None, ALL):
        return tuple(scope_list) if scope_list is not None else None
    return (chosen,)


def _audience(run: Run) -> audiences.Audience:
    answers = run.answers
    fair = answers.get("bc_fair")
    return audiences.Audience(
        provinces=_provinces(run),
        commune=answers.get("bc_commune") or None,
        product_group=None if answers.get("bc_group") in (None, ANY) else answers["bc_group"],
        cert_level=None if answers.get("bc_level") in (None, ANY) else answers["bc_level"],
        fair_id=None if fair in (None, ANY) else int(fair),
    )


def payload_for(text: str, fair_id: int | None) -> dict[str, Any]:
    """What every recipient gets: the text as written, the fair's register button, one-tap opt-out."""
    choices = [{"label": REGISTER_LABEL, "payload": go("fairs", "reg", fair_id)}] if fair_id else []
    return {"text": text, "choices": choices, "optout": True, "announcement": True}


async def _load(run: Run) -> Any:
    """Fairs to choose from (open ones of the staff member's provinces)."""
    provinces = _scope(run)
    fairs = await outreach.open_fairs(run.session, local_today(run), None)
    if provinces is not None:
        fairs = [f for f in fairs if f.province is None or f.province in provinces]
    run.set_data("bc_fairs", [[f.id, f.name[:50]] for f in fairs[:8]])
    return None


def _fair_options(run: Run) -> list[Option]:
    options = [
        Option(str(fair_id), name, literal=True) for fair_id, name in run.state.data.get("bc_fairs", [])
    ]
    return [*options, Option(ANY, N_("Not limited to a fair"))]


async def _use_suggestion(run: Run, value: Any) -> Any:
    if value == "use":
        run.set_answer("bc_text", run.state.data.get("bc_suggest", ""))
    return None


async def _preview(run: Run) -> Transition:
    audience = _audience(run)
    found = await audiences.recipients(run.session, audience, local_today(run))
    run.set_data("bc_count", found.count)
    fair_id = run.state.data.get("bc_fair_id")
    payload = payload_for(run.answers.get("bc_text", ""), fair_id)
    run.say(run.t(N_("This is how the message will look:")))
    for message in render_payload(payload, run.t):
        run.say(message.text, list(message.choices), apart=True)  # exactly as recipients see it
    if found.count == 0:
        run.say(run.t(N_("Nobody matches this audience (or everyone in it opted out).")))
        return None
    channels = ", ".join(
        f"{name} {run.t.number(n)}"
        for name, n in sorted(found.channels.items(), key=lambda kv: -kv[1])
        for name in [{"telegram": "Telegram", "zalo": "Zalo", "web": "Web"}.get(name, name)]
    )
    run.set_data("bc_channels", channels)
    return None


def _confirm_prompt(run: Run) -> str:
    count = run.state.data.get("bc_count", 0)
    if not count:
        return run.t(N_("What would you like to do?"))
    return run.t(
        N_("It will go to {count} people ({channels}). Send it now?"),
        count=run.t.number(count),
        channels=run.state.data.get("bc_channels", ""),
    )


def _confirm_options(run: Run) -> list[Option]:
    options = []
    if run.state.data.get("bc_count"):
        options.append(Option("send", N_("📣 Send now")))
    return [
        *options,
        Option("text", N_("✏️ Change the text")),
        Option("audience", N_("👥 Change the audience")),
        Option("cancel", N_("✖ Cancel")),
    ]


AUDIENCE_KEYS = (
    "bc_province",
    "bc_province_pick",
    "bc_commune",
    "bc_group",
    "bc_level",
    "bc_fair",
    "bc_text",
)


async def start_broadcast(
    run: Run, audience: audiences.Audience, text: str, fair_id: int | None
) -> Broadcast | None:
    """Record a broadcast and queue one outbox row per recipient, in this transaction; None when
    nobody matches. The chat's composer and the web console both start broadcasts here."""
    found = await audiences.recipients(run.session, audience, local_today(run))
    if not found.count:
        return None
    provinces = audience.provinces
    broadcast = Broadcast(
        staff_channel=run.incoming.channel,
        staff_external_id=run.incoming.user_id,
        staff_locale=run.t.locale,
        province=provinces[0] if provinces and len(provinces) == 1 else None,
        audience=audience.to_json(),
        payload=payload_for(text, fair_id),
        fair_id=fair_id,
        status="running",
        total=found.count,
        channels=found.channels,
        created_at=run.now,
    )
    run.session.add(broadcast)
    await run.session.flush()
    await outbox.enqueue_many(
        run.session,
        found.identities,
        purpose=broadcast.batch,
        payload=broadcast.payload,
        not_before=run.now,
        batch=broadcast.batch,
        priority=outbox.PRIORITY_BULK,
    )
    return broadcast


async def _confirmed(run: Run, value: Any) -> Transition:
    if value == "text":
        run.drop_answer("bc_text")
        run.drop_answer("bc_use")
        run.pop_data("bc_suggest")
        return Goto("bc_text")
    if value == "audience":
        run.replace_answers({k: v for k, v in run.answers.items() if k in ("bc_text", "bc_use")})
        return Goto("bc_load")
    if value == "cancel":
        run.say(run.t(N_("Cancelled: nothing was sent.")))
        return EndFlow()
    broadcast = await start_broadcast(
        run, _audience(run), run.answers["bc_text"], run.state.data.get("bc_fair_id")
    )
    if broadcast is None:
        run.say(run.t(N_("Nobody matches this audience (or everyone in it opted out).")))
        return EndFlow()
    run.say(
        run.t(
            N_(
                "Broadcast #{id} started for {count} people. Its progress will show below and update as it goes."
            ),
            id=broadcast.id,
            count=run.t.number(broadcast.total),
        )
    )
    return EndFlow(show_menu=False)


def build() -> Flow:
    any_group = Option(ANY, N_("Any product group"))
    any_level = Option(ANY, N_("Certified or not"))
    return Flow(
        id=FLOW_ID,
        version=1,
        steps=[
            Action(id="bc_load", run=_load),
            AskText(
                id="bc_province",
                when=_national,
                prompt=N_("Which province should receive it? Type its name, or “all” for every province."),
                label=N_("Province"),
                validate=_province_or_all,
                example=N_("For example: Hưng Yên, or all"),
            ),
            AskChoice(
                id="bc_province_pick",
                when=_several,
                prompt=N_("Which province should receive it?"),
                label=N_("Province"),
                options=lambda run: (
                    [Option(p, p, literal=True) for p in _scope(run) or []]
                    + [Option(ALL, N_("All my provinces"))]
                ),
            ),
            AskText(
                id="bc_commune",
                when=lambda run: (
                    ALL not in (run.answers.get("bc_province"), run.answers.get("bc_province_pick"))
                ),
                prompt=N_(
                    "Only one commune or ward? Type its name, or choose Skip to reach the whole province."
                ),
                label=N_("Commune"),
                optional=True,
                validate=text_block(2, 120),
            ),
            AskChoice(
                id="bc_group",
                prompt=N_("Which product group?"),
                label=N_("Product group"),
                options=[*(Option(k, v) for k, v in GROUP_LABELS.items()), any_group],
            ),
            AskChoice(
                id="bc_level",
                prompt=N_("Only facilities holding a valid certificate of a level?"),
                label=N_("Certification"),
                options=[*(Option(k, v) for k, v in LEVEL_LABELS.items()), any_level],
            ),
            AskChoice(
                id="bc_fair",
                when=lambda run: bool(run.state.data.get("bc_fairs")),
                prompt=N_("Only facilities registered for a fair?"),
                label=N_("Fair"),
                options=_fair_options,
            ),
            AskChoice(
                id="bc_use",
                when=lambda run: bool(run.state.data.get("bc_suggest")),
                prompt=lambda run: (
                    run.t(N_("Suggested text:"))
                    + "\n\n"
                    + run.state.data.get("bc_suggest", "")
                    + "\n\n"
                    + run.t(N_("Use it, or write your own?"))
                ),
                options=[Option("use", N_("✅ Use this text")), Option("own", N_("✏️ Write my own"))],
                on_answer=_use_suggestion,
            ),
            AskText(
                id="bc_text",
                prompt=N_("Type the message exactly as the facilities should read it."),
                label=N_("Message"),
                validate=text_block(10, MAX_TEXT),
            ),
            Action(id="bc_preview", run=_preview),
            AskChoice(
                id="bc_confirm",
                prompt=_confirm_prompt,
                options=_confirm_options,
                store=False,
                on_answer=_confirmed,
            ),
        ],
    )


# --- the command -------------------------------------------------------------------------------


async def cmd_broadcast(run: Run, args: str, dialogue: Dialogue) -> None:
    """/broadcast starts the composer; the progress message's buttons come back here as
    "pause:7", "resume:7", "cancel:7" (then "stop:7" to confirm); "fair:3" announces a fair."""
    if await refuse_unless_staff(run, dialogue):
        return
    provinces = await scope(run)
    action, _, ident = args.partition(":")
    ident_id = record_id(ident)
    if action in ("pause", "resume", "cancel", "stop") and ident_id is not None:
        await _control(run, action, ident_id, provinces)
        return
    options: dict[str, Any] = {"bc_scope": sorted(provinces) if provinces is not None else None}
    if action == "fair" and ident_id is not None:
        fair = await run.session.get(Fair, ident_id)
        if fair is not None:
            options["bc_fair_id"] = fair.id
            options["bc_suggest"] = _fair_text(run, fair)
    dialogue.engine.leave(run, keep=False)
    await dialogue.engine.start(run, FLOW_ID, options)


def _fair_text(run: Run, fair: Fair) -> str:
    t = run.t
    lines = [
        t(N_("🏪 Trade fair: {name}"), name=fair.name),
        *fair_facts(run, fair),
    ]
    if fair.conditions:
        lines.append(fair.conditions)
    lines.append(t(N_("Choose the option below to register your facility.")))
    return "\n".join(lines)


async def _control(run: Run, action: str, broadcast_id: int, provinces: set[str] | None) -> None:
    b = await run.session.get(Broadcast, broadcast_id)
    if b is None or not may_see(run, b, provinces):
        run.say(run.t(N_("There is no such broadcast.")))
        return
    if b.status not in ("running", "paused"):
        run.say(run.t(N_("Broadcast #{id} has already ended."), id=b.id))
        return
    if action == "pause":
        held = await control(run, b, "pause")
        run.say(
            run.t(N_("Broadcast #{id} paused; {count} messages wait."), id=b.id, count=run.t.number(held)),
            [Choice(run.t(N_("▶️ Resume")), go("broadcast", "resume", b.id))],
        )
    elif action == "resume":
        await control(run, b, "resume")
        run.say(run.t(N_("Broadcast #{id} goes on."), id=b.id))
    elif action == "cancel":
        # Nothing more goes out while the broadcaster reads the question: the rows wait, held,
        # and "Keep sending" releases them.
        await outbox.hold_batch(run.session, b.batch)
        b.status = "paused"
        run.say(
            run.t(N_("Cancel broadcast #{id}? Messages not sent yet will not be sent."), id=b.id),
            [
                Choice(run.t(N_("✖ Yes, cancel it")), go("broadcast", "stop", b.id)),
                Choice(run.t(N_("Keep sending")), go("broadcast", "resume", b.id)),
            ],
        )
    else:
        cancelled = await control(run, b, "stop")
        run.say(
            run.t(
                N_("Broadcast #{id} cancelled; {count} messages will not be sent."),
                id=b.id,
                count=run.t.number(cancelled),
            )
        )


def may_see(run: Run, b: Broadcast | None, provinces: set[str] | None) -> bool:
    """A broadcast of one's own, of one's provinces, or any for a national admin."""
    return b is not None and (
        provinces is None
        or (b.staff_channel, b.staff_external_id) == (run.incoming.channel, run.incoming.user_id)
        or b.province in provinces
    )


async def control(run: Run, b: Broadcast, action: str) -> int:
    """Pause, resume or stop (cancel) a running or paused broadcast; how many messages that
    touched. The chat's buttons and the web console both come here."""
    if b.status not in ("running", "paused"):
        return 0
    if action == "pause":
        b.status = "paused"
        return await outbox.hold_batch(run.session, b.batch)
    if action == "resume":
        b.status = "running"
        return await outbox.resume_batch(run.session, b.batch, run.now)
    if action == "stop":
        b.status = "cancelled"
        return await outbox.cancel_batch(run.session, b.batch)
    raise ValueError(f"not a broadcast action: {action}")
