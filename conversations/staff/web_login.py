"""/web: a staff member asks for a one-time link that signs them in to the web console.

Holding the chat identity is the proof: the link goes only to the chat it was asked from (or is
printed on the server by an admin, `python -m bot staff login-link`). It works once, within 15
minutes; any staff role may have one, and the console then shows only what their roles allow.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from conversations.i18n import N_
from conversations.run import Run
from conversations.staff.access import ANY_ROLE, require
from storage import console_auth, staff

if TYPE_CHECKING:
    from conversations.dialogue import Dialogue

LOGIN_PATH = "/staff/login/"


async def login_link(
    session: AsyncSession, channel: str, external_id: str, base_url: str, now: datetime
) -> str | None:
    """A fresh sign-in link for this identity, or None when it holds no active staff role."""
    if not await staff.roles_of(session, channel, external_id):
        return None
    token = await console_auth.issue_link(session, channel, external_id, now)
    return base_url.rstrip("/") + LOGIN_PATH + token


async def cmd_web(run: Run, args: str, dialogue: Dialogue) -> None:
    member = await require(run, dialogue, ANY_ROLE)
    if member is None:
        return
    link = await login_link(
        run.session, run.incoming.channel, run.incoming.user_id, run.settings.public_base_url, run.now
    )
    if link is None:
        return
    run.say(
        run.t(
            N_(
                "Your link to the staff console. It works once, within 15 minutes; open it on the "
                "computer you work at and do not pass it on.\n\n{link}"
            ),
            link=link,
        ),
        url=link,
        url_label=run.t(N_("🖥 Open the staff console")),
    )
