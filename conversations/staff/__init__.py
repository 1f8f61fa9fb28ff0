"""Staff tools in the same bot: the review queue and decisions, certificates, statistics, staff.

Staff are channel identities with roles (`storage.staff`); everything they do goes through the
same dialogue, engine and pipeline as a facility owner's messages, from their phone. The owner's
side of it (the /certificates list, status notices, the returned-dossier journey) needs no role.

Commands: /review [programme] [status] [receipt code], /stats, /staff (admins), /certificates
[import], /web (a one-time sign-in link to the web console). Buttons of the staff screens come back as `go:rv:<verb>:<id>` (a dossier),
`go:review:...` (the queue) and `go:staff:...` (the staff list); each handler checks the role
and the province again, since a button can be tapped long after it was shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from conversations.feature import Feature
from conversations.i18n import N_
from conversations.messages import Choice
from conversations.payloads import go
from conversations.programmes import Programme
from conversations.record_ids import record_id
from conversations.run import Run
from conversations.staff import admin, certificates, decisions, review, stats, web_login
from conversations.staff.access import ADMIN_ROLES, REVIEW_ROLES, require, staff_of
from conversations.steps import Flow

if TYPE_CHECKING:
    from conversations.dialogue import Dialogue

_DECISIONS = {"ok": decisions.APPROVE, "no": decisions.REJECT, "ret": decisions.RETURN}


async def cmd_rv(run: Run, args: str, dialogue: Dialogue) -> None:
    """A button on a staff screen: `<verb>:<argument>`."""
    member = await require(run, dialogue, REVIEW_ROLES)
    if member is None:
        return
    verb, _, rest = args.partition(":")
    if verb == "fp":
        review.filter_programme(run, rest)
        return
    if verb == "fs":
        review.filter_status(run, rest)
        return
    run.engine.leave(run, keep=True)
    application_id = record_id(rest)
    if application_id is None:
        await review.show_queue(run, member, None, "open", 0)
        return
    if verb in _DECISIONS:
        await decisions.start(run, member, _DECISIONS[verb], application_id)
    elif verb == "rel":
        await review.release(run, member, application_id)
    elif verb == "cert":
        await certificates.start_record(run, member, application_id)
    else:
        await review.open_dossier(run, member, application_id, full=verb != "b")


async def menu(run: Run) -> list[Choice]:
    """Main-menu buttons: "my certificates" for owners; the tools their roles allow for staff."""
    choices: list[Choice] = []
    if run.facility is not None:
        choices.append(Choice(run.t(N_("🏅 My certificates")), go("certificates")))
    member = await staff_of(run)
    if member is not None:
        if member.has(REVIEW_ROLES):
            choices.append(Choice(run.t(N_("🗂 Review dossiers")), go("review")))
        choices.append(Choice(run.t(N_("📊 Statistics")), go("stats")))
        if member.has(ADMIN_ROLES):
            choices.append(Choice(run.t(N_("👥 Staff")), go("staff")))
    return choices


def flows(programmes: Mapping[str, Programme]) -> list[Flow]:
    return [*decisions.flows(), *certificates.flows(), *admin.flows()]


FEATURE = Feature(
    name="staff",
    commands={
        "review": review.cmd_review,
        "rv": cmd_rv,
        "stats": stats.cmd_stats,
        "staff": admin.cmd_staff,
        "certificates": certificates.cmd_certificates,
        "web": web_login.cmd_web,
    },
    flows=flows,
    menu=menu,
)
