"""Queue a notice for a dossier's owner, in the same transaction as the staff action it announces.

The notice goes to every channel the owner can be reached on (they may read Telegram on the
phone and the web chat at the office); its purpose names the dossier and the audit event, so a
retried transaction or a second worker cannot queue it twice, while a second return of the same
dossier is a new notice.
"""

from __future__ import annotations

from typing import Any

from conversations.run import Run
from storage import outbox
from storage.models import Application, ApplicationEvent


async def tell_owner(
    run: Run, application: Application, event: ApplicationEvent, payload: dict[str, Any]
) -> int:
    """Queue `payload` for the owner of `application`; returns how many channels it was queued for."""
    await run.session.flush()  # the event's id names the notice
    identities = await outbox.identities_for_account(run.session, application.facility.account_id)
    queued = 0
    for identity in identities:
        queued += await outbox.enqueue(
            run.session,
            purpose=f"status:{application.id}:{event.id}",
            identity=identity,
            payload=payload,
        )
    return queued
