"""The checklist step's answers: a button (send this item, list, done, later, clear) or a file."""

from __future__ import annotations

from sqlalchemy import delete

from conversations.documents.intake import attach_pending, receive
from conversations.documents.items import (
    FileDrop,
    ask_for_file,
    find,
    refuse_locked,
    show,
    status,
)
from conversations.i18n import N_
from conversations.payloads import Doc
from conversations.run import Run
from conversations.steps import Checklist, EndFlow, Next, Transition
from storage.models import StoredDocument


async def handle(run: Run, step: Checklist) -> Transition:
    incoming = run.incoming
    if isinstance(step, FileDrop):
        if incoming.file is not None:
            return await step.receive(run, incoming.file)
        run.say(run.t(N_("Please send the file here, or send /cancel to stop.")))
        return None
    statuses = await status(run)
    if incoming.file is not None:
        return await receive(run, statuses)
    button = Doc.unpack(incoming.choice) or Doc("")
    if button.verb == "up":
        chosen = find(statuses, button.item)
        if chosen is None:
            await show(run)
            return None
        if chosen.locked:
            refuse_locked(run, chosen)
            await show(run)
            return None
        pending = run.pop_data("pending_file")
        if pending:
            return await attach_pending(run, chosen, pending, statuses)
        run.set_data("upload_for", chosen.item.id)
        await ask_for_file(run, chosen)
        return None
    if button.verb == "clear":
        chosen = find(statuses, button.item)
        if chosen is not None and chosen.locked:
            refuse_locked(run, chosen)
        elif chosen is not None:
            assert run.application is not None
            await run.session.execute(
                delete(StoredDocument).where(
                    StoredDocument.application_id == run.application.id,
                    StoredDocument.doc_type == chosen.item.id,
                )
            )
            run.say(run.t(N_("Removed the files sent for “{item}”."), item=run.t(chosen.item.label)))
        run.pop_data("upload_for")
        await show(run)
        return None
    if button.verb == "done":
        run.pop_data("upload_for")
        return Next()
    if button.verb == "later":
        run.say(run.t(N_("Your draft is saved. Send /apply whenever you want to continue.")))
        return EndFlow(keep=True)
    if button.verb == "list":
        run.pop_data("upload_for")
        await show(run)
        return None
    if run.incoming.has_buttons:
        run.say(run.t(N_("Please send the document as a file or photo, or tap one of the buttons.")))
    else:
        run.say(run.t(N_("Please send the document as a photo, or type the number of an option.")))
    await show(run)
    return None
