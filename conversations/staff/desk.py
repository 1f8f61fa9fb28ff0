"""A staff member at the web console, seen by the same staff logic as in chat.

The console is another way in, not another set of rules: it builds the same `Run` a chat
message would (the staff member's channel identity, their language, the dialogue's programmes and
flows), so roles, province scope, the dossier's labels and the decisions
(`conversations.staff.decisions`) are the chat's own, and a decision taken in one shows in the
other at once. Nothing is said to anyone through this `Run`: the console reads what it needs and
renders its own pages; owners hear of decisions through the outbox, as from the chat.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from conversations.i18n import translator
from conversations.messages import Incoming
from conversations.run import Run
from conversations.staff.access import REVIEW_ROLES, Staff
from storage import review, staff
from storage.models import Account, Application, ConversationState

if TYPE_CHECKING:
    from conversations.dialogue import Dialogue


async def staff_member(session: AsyncSession, channel: str, external_id: str) -> Staff | None:
    """The active staff roles of a chat identity, or None: checked on every console request, so a
    removed member loses the console at once."""
    members = await staff.roles_of(session, channel, external_id)
    if not members:
        return None
    return Staff(tuple(members), staff.actor_key(channel, external_id))


def desk_run(session: AsyncSession, dialogue: Dialogue, member: Staff, locale: str, now: datetime) -> Run:
    """A `Run` for one console request: no conversation, no messages out."""
    channel, _, external_id = member.actor.partition(":")
    return Run(
        session=session,
        account=Account(locale=locale),
        state=ConversationState(data={}),
        incoming=Incoming(channel=channel, user_id=external_id, update_id="console"),
        t=translator(locale),
        now=now,
        files=dialogue.files,
        programmes=dialogue.programmes,
        settings=dialogue.settings,
        engine=dialogue.engine,
    )


async def dossier_in_scope(session: AsyncSession, member: Staff, receipt_code: str) -> Application | None:
    """A sent dossier with its facility, documents and history, if this member's review provinces
    cover it; else None (the console answers 404: its existence is not revealed)."""
    found = await review.by_receipt_code(session, receipt_code)
    if found is None or found.status == "draft":
        return None
    application = await review.load(session, found.id)
    if application is None or not member.covers(REVIEW_ROLES, application.facility.province):
        return None
    return application


async def claim(run: Run, member: Staff, application: Application) -> review.Claim:
    return await review.claim(run.session, application, member.actor, run.now)


async def release(run: Run, member: Staff, application: Application) -> bool:
    """Put back in the queue: by its holder, or by an admin of its province (a stale claim)."""
    holder = application.reviewer
    allowed = holder == member.actor or member.covers(("admin",), application.facility.province)
    if application.status != "under_review" or holder is None or not allowed:
        return False
    return await review.release(run.session, application, holder=holder, actor=member.actor, now=run.now)
