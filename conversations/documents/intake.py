"""File intake at the checklist: every file is checked (size, type by name, then by its first
bytes), kept, and filed under one item of the draft, whether it came in the chat or through the
upload page (`receive_upload`). A file that arrives before the user said which document it is,
is kept and the user is asked which item it belongs to: nothing they send is thrown away.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from conversations import filecheck
from conversations.documents.items import (
    ItemStatus,
    ask_for_file,
    at_checklist,
    find,
    missing_required,
    progress_line,
    refuse_locked,
    status,
)
from conversations.i18n import N_
from conversations.messages import Choice, FileRef
from conversations.payloads import Doc
from conversations.run import Run
from conversations.steps import Next, Transition
from storage.models import StoredDocument
from storage.returned import open_items


def refusal(run: Run, accept: tuple[str, ...]) -> str:
    if accept == ("image",):
        return run.t(N_("This item takes photos only (JPG or PNG). Please take a photo and send it again."))
    return run.t(
        N_(
            "I can take PDF files and photos (JPG, PNG) only. Please save the document as PDF or "
            "take a clear photo of it, then send it again."
        )
    )


async def store_file(run: Run, file: FileRef, accept: tuple[str, ...]) -> dict | None:
    """Check a file the way every upload is checked (size, type by name, then by its first bytes)
    and keep its bytes; None after telling the user why it was refused."""
    limit_mb = run.settings.max_file_bytes // (1024 * 1024)
    too_large = N_("This file is larger than {mb} MB. Please send a smaller file or a photo.")
    if file.size > run.settings.max_file_bytes:
        run.say(run.t(too_large, mb=limit_mb))
        return None
    if filecheck.kind_from_name(file.filename, file.content_type) is None:
        run.say(refusal(run, accept))
        return None
    data = await file.read()
    if len(data) > run.settings.max_file_bytes:
        run.say(run.t(too_large, mb=limit_mb))
        return None
    sniffed = filecheck.sniff(data[: filecheck.HEAD_BYTES])
    if sniffed is None:
        run.say(refusal(run, accept))
        return None
    stored = run.files.save(data, sniffed.suffix)
    return {
        "key": stored.key,
        "sha256": stored.sha256,
        "size": stored.size,
        "filename": safe_name(file.filename, sniffed.suffix),
        "content_type": sniffed.content_type,
        "kind": sniffed.kind,
    }


async def add_document(run: Run, target: ItemStatus, record: dict) -> bool:
    """File a checked file under one checklist item of the draft; False (and why) when the item
    does not take this kind of file, or already has this very file (the same photo sent twice
    counts once). On an item the centre sent back, the first file sent again replaces what was
    refused, for a multi-photo item too (all its old photos): the item then needs its full count
    of new files, so the refused ones never stay in the dossier beside the new."""
    assert run.application is not None
    if record["kind"] not in target.item.accept:
        run.say(refusal(run, target.item.accept))
        return False
    same = await run.session.scalar(
        select(StoredDocument.id).where(
            StoredDocument.application_id == run.application.id,
            StoredDocument.doc_type == target.item.id,
            StoredDocument.sha256 == record["sha256"],
        )
    )
    if same is not None:
        run.say(
            run.t(
                N_("This file was already received for “{item}”: it counts once."),
                item=run.t(target.item.label),
            )
        )
        return False
    document = StoredDocument(
        application_id=run.application.id,
        doc_type=target.item.id,
        filename=record["filename"],
        content_type=record["content_type"],
        size=record["size"],
        sha256=record["sha256"],
        storage_key=record["key"],
        uploaded_at=run.now,
    )
    run.session.add(document)
    changes = open_items(run.application)
    if target.flagged and changes is not None:
        # The new file first, then the refused ones out (ids are never reused since migration
        # 0005, so the new file's id is above the watermark whatever was deleted before).
        await run.session.flush()
        await run.session.execute(
            delete(StoredDocument).where(
                StoredDocument.application_id == run.application.id,
                StoredDocument.doc_type == target.item.id,
                StoredDocument.id <= changes.get("document_watermark", 0),
                StoredDocument.id != document.id,
            )
        )
    run.application.last_activity_at = run.now
    return True


async def receive(run: Run, statuses: list[ItemStatus]) -> Transition:
    file = run.incoming.file
    assert file is not None and run.application is not None
    target_id = run.state.data.get("upload_for")
    target = find(statuses, target_id) if target_id else None
    if run.incoming.more_files:
        return await receive_several(run, target, [file, *run.incoming.more_files], statuses)
    record = await store_file(run, file, target.item.accept if target else ("pdf", "image"))
    if record is None:
        return None
    open_statuses = [s for s in statuses if not s.locked]
    if target is None:
        candidates = [s for s in open_statuses if not s.complete and record["kind"] in s.item.accept]
        if len(candidates) == 1:
            target = candidates[0]
        else:
            run.set_data("pending_file", record)
            run.say(
                run.t(N_("I have received the file. Which document is it?")),
                [
                    Choice(run.t(s.item.label), Doc("up", s.item.id).pack())
                    for s in open_statuses
                    if record["kind"] in s.item.accept
                ],
            )
            return None
    return await attach_pending(run, target, record, statuses)


async def receive_several(
    run: Run, target: ItemStatus | None, files: list[FileRef], statuses: list[ItemStatus]
) -> Transition:
    """Files picked together (three photos of the product) are filed under the document asked
    for, each checked as one alone, and answered once: the progress and the next document."""
    if target is None or target.locked:
        run.say(
            run.t(N_("Which document are these files for? Tap it, then send them together again.")),
            [Choice(run.t(s.item.label), Doc("up", s.item.id).pack()) for s in statuses if not s.locked],
        )
        return None
    filed = 0
    for file in files:
        record = await store_file(run, file, target.item.accept)
        if record is not None and await add_document(run, target, record):
            filed += 1
    if not filed:
        return None
    return await after_added(run, target, target.count + filed, move_on=True)


async def attach_pending(
    run: Run, target: ItemStatus, record: dict, statuses: list[ItemStatus]
) -> Transition:
    if not await add_document(run, target, record):
        return None
    return await after_added(run, target, target.count + 1, move_on=True)


async def after_added(run: Run, target: ItemStatus, count: int, *, move_on: bool = False) -> Transition:
    """What the user hears once files are filed under `target` at the checklist: the next file
    of the item, or one line for the item and the progress with the next missing document asked
    for; the whole list only on request (it was re-sent after every file before). With `move_on`
    (a file sent in the chat), the last required document leads straight to the summary, where
    "Documents" still opens the list for optional ones: no "continue" step in between."""
    label = run.t(target.item.label)
    await run.session.flush()
    statuses = await status(run)
    now = find(statuses, target.item.id) or target
    if now.count < target.item.min_files:
        run.set_data("upload_for", target.item.id)
        run.say(
            run.t(
                N_("Received {count}/{needed} for “{item}”. Please send the next one."),
                item=label,
                count=now.count,
                needed=target.item.min_files,
            ),
            [Choice(run.t(N_("Back to the list")), Doc("list").pack())],
        )
        return None
    run.pop_data("upload_for")
    received = run.t(N_("✅ Received “{item}”."), item=label) + " " + progress_line(run, statuses)
    missing = [s for s in missing_required(statuses) if not s.locked]
    nxt = missing[0] if missing else None
    if nxt is not None and run.incoming.can_send_documents:
        # Guided: ask for the next missing document straight away, one message, no tap needed.
        run.set_data("upload_for", nxt.item.id)
        await ask_for_file(run, nxt, head=received + "\n" + run.t(N_("Next:")) + " ")
        return None
    if nxt is None and move_on:
        run.say(received)
        return Next()
    choices = [Choice("📎 " + run.t(s.item.label), Doc("up", s.item.id).pack()) for s in missing[:1]]
    choices.append(Choice(run.t(N_("📋 All documents")), Doc("list").pack()))
    done = Choice(run.t(N_("Continue to the summary")), Doc("done").pack())
    choices.insert(0 if not missing else len(choices), done)
    run.say(received, choices)
    return None


async def receive_upload(run: Run, item_id: str, files: list[FileRef]) -> int:
    """Files from the upload page for one item of `run.application`: checked and filed as in
    the chat, in the caller's transaction. Returns how many were filed; what the user should
    hear (refusals, the confirmation, the checklist's progress) is in `run.out`.

    When the conversation waits at this draft's checklist, it continues from there as if the
    files had come through the chat; otherwise only the progress is told, without buttons, so
    the menu the user is answering stays as it was.
    """
    statuses = await status(run)
    target = find(statuses, item_id)
    if target is None:
        run.say(run.t(N_("This document is no longer on your dossier's list.")))
        return 0
    if target.locked:
        refuse_locked(run, target)
        return 0
    filed = 0
    for file in files:
        record = await store_file(run, file, target.item.accept)
        if record is not None and await add_document(run, target, record):
            filed += 1
    if not filed:
        return 0
    if at_checklist(run):
        await after_added(run, target, target.count + filed)
        return filed
    await run.session.flush()
    count = target.count + filed
    label = run.t(target.item.label)
    if count < target.item.min_files:
        text = run.t(
            N_("Received for “{item}” ({count}/{needed})."),
            item=label,
            count=count,
            needed=target.item.min_files,
        )
    else:
        text = run.t(N_("✅ Received “{item}”."), item=label)
    text += "\n" + progress_line(run, await status(run))
    text += "\n\n" + run.t(N_("Send /apply to continue your dossier."))
    run.say(text)
    return filed


def safe_name(filename: str, suffix: str) -> str:
    base = "".join(ch for ch in filename if ch.isprintable() and ch not in '/\\:*?"<>|').strip() or "file"
    base = base[:120]
    return base if base.lower().endswith(suffix) or "." in base[-6:] else base + suffix
