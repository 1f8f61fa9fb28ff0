"""Small flows about the user themselves: changing the language, deleting their data."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from conversations.flows.onboarding import LANGUAGES
from conversations.i18n import N_, translator
from conversations.messages import WEB
from conversations.run import Run
from conversations.steps import AskChoice, EndFlow, Flow, Option, Transition
from storage import accounts, transcripts
from storage.models import Application


async def _language_chosen(run: Run, value: Any) -> Transition:
    run.account.locale = value
    run.t = translator(value)
    run.say(run.t(N_("Done. I will write to you in English from now on.")))
    return EndFlow()


async def _delete_confirmed(run: Run, value: Any) -> Transition:
    if value != "delete":
        run.say(run.t(N_("Nothing was deleted.")))
        return EndFlow()
    facility = run.facility
    kept_dossiers = 0
    if facility is not None:
        await run.session.execute(
            delete(Application).where(Application.facility_id == facility.id, Application.status == "draft")
        )
        kept_dossiers = len(
            list(
                await run.session.scalars(
                    select(Application.id).where(Application.facility_id == facility.id)
                )
            )
        )
        if kept_dossiers:
            # Submitted dossiers stay on the centre's record; the personal details in them go.
            facility.contact_name = ""
            facility.phone = ""
            if len(facility.tax_code) == 12:  # a personal identification number, not a tax code
                facility.tax_code = ""
    # The web chat transcript repeats what was typed (names, phone numbers): it goes too.
    for identity in await accounts.identities_of(run.session, run.account.id):
        if identity.channel == WEB:
            await transcripts.forget(run.session, identity.external_id)
    if kept_dossiers == 0:
        await accounts.delete_personal_data(run.session, run.account)
    else:
        run.account.consent_at = None
        run.account.consent_version = None
    run.facility = None if kept_dossiers == 0 else run.facility
    if kept_dossiers:
        run.say(
            run.t(
                N_(
                    "Your drafts, contact name and phone number have been deleted. The {count} dossiers "
                    "already sent stay on the centre's records as the rules require. Send /start if you "
                    "want to use the assistant again."
                ),
                count=kept_dossiers,
            )
        )
    else:
        run.say(
            run.t(N_("All your data has been deleted. Send /start if you want to use the assistant again."))
        )
    return EndFlow(show_menu=False)


LANGUAGE = Flow(
    id="language",
    version=1,
    steps=(
        AskChoice(
            id="language",
            prompt=N_("Which language do you prefer?"),
            options=LANGUAGES,
            store=False,
            on_answer=_language_chosen,
        ),
    ),
)

DELETE_DATA = Flow(
    id="delete_data",
    version=1,
    steps=(
        AskChoice(
            id="confirm_delete",
            prompt=N_(
                "This deletes your facility profile and your drafts, and withdraws your consent. It "
                "cannot be undone. Do you want to delete your data?"
            ),
            options=(Option("delete", N_("🗑 Yes, delete my data")), Option("keep", N_("No, keep it"))),
            store=False,
            on_answer=_delete_confirmed,
        ),
    ),
)
