"""/review: the queue of submitted dossiers of the reviewer's provinces, and one dossier opened.

The queue lists the oldest submission first (it has waited longest), filtered by programme and
status, eight to a page. Opening a dossier that waits for a decision takes it for review (a
claim, `storage.review.claim`), so a second reviewer opening it reads it but is told who holds
it; the holder's screen ends with the decisions, which `conversations.staff.decisions` carries
out.

Buttons: `go:review:<programme|all>:<status>:p<page>` for the queue, `go:rv:<verb>:<id>` for a
dossier (o open, b brief view, ok approve, no reject, ret return, rel release, cert certificate).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from conversations.i18n import N_
from conversations.messages import Choice
from conversations.payloads import go
from conversations.record_ids import ascii_number
from conversations.run import Run
from conversations.staff import dossier
from conversations.staff.access import REVIEW_ROLES, Staff, require, scope_label, staff_of
from storage import certificates, review, staff
from storage.models import Application

if TYPE_CHECKING:
    from conversations.dialogue import Dialogue

PAGE = 8
MAX_PAGE = 10_000  # a typed "/review p99999999999" is not a page
STATUS_FILTERS: dict[str, tuple[str, ...]] = {
    "open": review.AWAITING,
    "submitted": ("submitted",),
    "resubmitted": ("resubmitted",),
    "under_review": ("under_review",),
    "returned": ("returned",),
    "approved": ("approved",),
    "rejected": ("rejected",),
    "all": ("submitted", "resubmitted", "under_review", "returned", "approved", "rejected"),
}
FILTER_LABELS = {"open": N_("Waiting for a decision"), "all": N_("All statuses")}
NOT_FOUND = N_("There is no dossier with that number among those you can see.")


def status_label(run: Run, status: str) -> str:
    from conversations.owner.journey import STATUS_LABELS  # the dialogue imports the features

    return run.t(FILTER_LABELS.get(status) or STATUS_LABELS.get(status, status))


def parse_filters(run: Run, args: str) -> tuple[str | None, str, int, str | None]:
    """(programme or None, status filter, page, dossier to open) from typed or button arguments:
    "/review selection returned", "go:review:all:open:p2", "/review KC-2611-ABCDE"."""
    programme: str | None = None
    status = "open"
    page = 0
    wanted: str | None = None
    for token in args.replace(":", " ").split():
        low = token.lower()
        if low in run.programmes:
            programme = low
        elif low in STATUS_FILTERS:
            status = low
        elif low.startswith("p") and (number := ascii_number(low[1:], MAX_PAGE)) is not None:
            page = number
        elif low.upper().startswith("KC-") or low.lstrip("#").isdigit():
            wanted = token
    return programme, status, page, wanted


async def cmd_review(run: Run, args: str, dialogue: Dialogue) -> None:
    member = await require(run, dialogue, REVIEW_ROLES)
    if member is None:
        return
    run.engine.leave(run, keep=True)
    programme, status, page, wanted = parse_filters(run, args)
    if wanted is not None:
        found = (
            await review.by_receipt_code(run.session, wanted)
            if wanted.upper().startswith("KC-")
            else await run.session.get(Application, int(wanted.lstrip("#")))
        )
        if found is None:
            run.say(run.t(NOT_FOUND))
            return
        await open_dossier(run, member, found.id)
        return
    await show_queue(run, member, programme, status, page)


async def show_queue(run: Run, member: Staff, programme: str | None, status: str, page: int) -> None:
    scope = member.scope(REVIEW_ROLES)
    apps, total = await review.queue(
        run.session,
        provinces=scope,
        statuses=STATUS_FILTERS[status],
        programme=programme,
        limit=PAGE,
        offset=page * PAGE,
    )
    programme_name = run.t(run.programmes[programme].name) if programme else run.t(N_("all programmes"))
    head = run.t(
        N_("🗂 Dossiers of {scope} – {status} – {programme}: {total}"),
        scope=scope_label(run, scope),
        status=status_label(run, status),
        programme=programme_name,
        total=total,
    )
    blocks = []
    for n, app in enumerate(apps, start=page * PAGE + 1):
        facility = app.facility
        line = f"{n}. {dossier.title(app)}\n   {facility.name} – {facility.commune}, {facility.province}"
        line += "\n   " + run.t(
            N_("{programme} · sent {date} · {status}"),
            programme=run.t(run.programmes[app.programme].name),
            date=run.t.date(app.submitted_at),
            status=status_label(run, app.status),
        )
        if app.status == "under_review" and app.reviewer:
            line += "\n   " + run.t(N_("🔒 with {who}"), who=await staff.describe(run.session, app.reviewer))
        blocks.append(line)
    if not apps:
        blocks.append(run.t(N_("Nothing here right now.")))
    else:
        blocks.insert(0, run.t(N_("Oldest first. Tap a dossier to open it.")))
    prog_key = programme or "all"
    choices = [Choice(f"📄 {app.receipt_code or app.id}", go("rv", "o", app.id)) for app in apps]
    if total > (page + 1) * PAGE:
        choices.append(Choice(run.t(N_("⏭ More")), go("review", prog_key, status, f"p{page + 1}")))
    choices += [
        Choice(run.t(N_("🔎 Programme")), go("rv", "fp", status)),
        Choice(run.t(N_("🔎 Status")), go("rv", "fs", prog_key)),
        Choice(run.t(N_("📊 Statistics")), go("stats")),
    ]
    run.say(head + "\n\n" + "\n\n".join(blocks), choices)


def filter_programme(run: Run, status: str) -> None:
    status = status if status in STATUS_FILTERS else "open"
    choices = [Choice(run.t(N_("All programmes")), go("review", "all", status))]
    choices += [Choice(run.t(p.name), go("review", p.id, status)) for p in run.programmes.values()]
    run.say(run.t(N_("Show dossiers of which programme?")), choices)


def filter_status(run: Run, programme: str) -> None:
    programme = programme if programme in run.programmes else "all"
    run.say(
        run.t(N_("Show dossiers in which status?")),
        [Choice(status_label(run, key), go("review", programme, key)) for key in STATUS_FILTERS],
    )


# --- one dossier ----------------------------------------------------------------------------------------


async def in_scope(
    run: Run, member: Staff, application_id: int, *, drafts: bool = False
) -> Application | None:
    """The dossier with its facility, documents and history, if this reviewer's provinces cover it;
    otherwise "not found" is said (never "forbidden": its existence is not revealed)."""
    application = await review.load(run.session, application_id)
    if (
        application is None
        or (application.status == "draft" and not drafts)
        or not member.covers(REVIEW_ROLES, application.facility.province)
    ):
        run.say(run.t(NOT_FOUND))
        return None
    return application


async def visible(run: Run, member: Staff, application_id: int) -> Application | None:
    """A submitted dossier this reviewer may open (drafts are the owner's alone)."""
    return await in_scope(run, member, application_id)


async def flow_dossier(run: Run) -> tuple[Staff, Application] | None:
    """Inside a staff flow (decision, certificate): the reviewer now, and the flow's dossier if
    they still may act on it; otherwise "not found" is said."""
    member = await staff_of(run)
    if member is None or not member.has(REVIEW_ROLES):
        run.say(run.t(NOT_FOUND))
        return None
    application = await in_scope(run, member, run.state.data.get("app", 0), drafts=True)
    return None if application is None else (member, application)


async def open_dossier(run: Run, member: Staff, application_id: int, *, full: bool = True) -> None:
    application = await visible(run, member, application_id)
    if application is None:
        return
    claim_note: str | None = None
    if application.status in review.CLAIMABLE or (
        application.status == "under_review" and application.reviewer is None
    ):
        claim = await review.claim(run.session, application, member.actor, run.now)
        if claim.taken:
            claim_note = run.t(
                N_(
                    "You have taken this dossier for review: other reviewers see that it is with you until "
                    "you decide or put it back in the queue."
                )
            )
        reloaded = await review.load(run.session, application_id)
        assert reloaded is not None
        application = reloaded
    if full:
        await _show_full(run, application)
    await show_actions(run, member, application, note=claim_note)


async def _show_full(run: Run, application: Application) -> None:
    programme = run.programmes[application.programme]
    facility = application.facility
    parts = [
        f"📄 {dossier.title(application)}\n{run.t(programme.name)}",
        run.t(N_("Submitted: {date}"), date=run.t.date(application.submitted_at)),
        "🏭 " + run.t(N_("Facility")) + "\n" + "\n".join(dossier.profile_lines(run, facility)),
        "📝 " + run.t(N_("Answers")) + "\n" + "\n".join(dossier.answer_lines(run, application)),
        "\n".join(dossier.verdict_lines(run, application)),
        "📎 " + run.t(N_("Documents")) + "\n" + "\n".join(dossier.document_lines(run, application)),
    ]
    changes = dossier.change_lines(run, application)
    if changes:
        parts.append("\n".join(changes))
    parts.append(
        "🕓 " + run.t(N_("History")) + "\n" + "\n".join(await dossier.history_lines(run, application))
    )
    run.say("\n\n".join(p for p in parts if p))
    run.out.extend(dossier.document_messages(run, application))


async def show_actions(run: Run, member: Staff, application: Application, *, note: str | None = None) -> None:
    """The dossier's status and what this staff member can do with it now."""
    lines = [
        f"📄 {dossier.title(application)}",
        run.t(N_("Status: {status}"), status=status_label(run, application.status)),
    ]
    if note:
        lines.append(note)
    choices: list[Choice] = []
    mine = application.status == "under_review" and application.reviewer == member.actor
    if mine:
        choices += [
            Choice(run.t(N_("✅ Approve")), go("rv", "ok", application.id)),
            Choice(run.t(N_("↩️ Return for changes")), go("rv", "ret", application.id)),
            Choice(run.t(N_("❌ Do not approve")), go("rv", "no", application.id)),
            Choice(run.t(N_("🔓 Put back in the queue")), go("rv", "rel", application.id)),
        ]
    elif application.status == "under_review" and application.reviewer:
        lines.append(
            run.t(
                N_("{who} has been reviewing this dossier since {time}: you can read it, but not decide it."),
                who=await staff.describe(run.session, application.reviewer),
                time=run.t.datetime(application.claimed_at or application.updated_at, run.settings.timezone),
            )
        )
        if member.covers(("admin",), application.facility.province):
            choices.append(Choice(run.t(N_("🔓 Free this dossier")), go("rv", "rel", application.id)))
    elif application.status == "returned":
        lines.append(
            run.t(N_("The owner has it for changes; it comes back to the queue when they send it again."))
        )
    elif application.status in review.FINAL:
        lines.append(run.t(N_("It has been decided and can no longer be changed.")))
    if application.status == "approved" and application.programme == "selection":
        certificate = await certificates.of_application(run.session, application.id)
        if certificate is None:
            choices.append(Choice(run.t(N_("🏅 Record the certificate")), go("rv", "cert", application.id)))
        else:
            lines.append(
                run.t(
                    N_("🏅 Certificate {number}, valid until {date}."),
                    number=certificate.number,
                    date=run.t.date(certificate.valid_until),
                )
            )
    choices.append(Choice(run.t(N_("🗂 Back to the queue")), go("review")))
    run.say("\n".join(lines), choices)


async def release(run: Run, member: Staff, application_id: int) -> None:
    application = await visible(run, member, application_id)
    if application is None:
        return
    holder = application.reviewer
    allowed = holder == member.actor or member.covers(("admin",), application.facility.province)
    if application.status != "under_review" or holder is None or not allowed:
        await show_actions(run, member, application)
        return
    if await review.release(run.session, application, holder=holder, actor=member.actor, now=run.now):
        run.say(run.t(N_("The dossier is back in the queue; any reviewer of the province can take it.")))
    await show_actions(run, member, application)
