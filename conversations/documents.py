"""The document checklist step: what the dossier needs for this case, what is in, and uploads.

The list comes from the programme data (`rules.checklist`) for the draft's programme, level and
product group. A file that arrives before the user said which document it is, is kept and the
user is asked which item it belongs to: nothing they send is thrown away.

A channel that cannot carry a PDF (`Incoming.can_send_documents` False: Zalo) gets a one-time
upload link when the user picks an item; the upload page hands the file to `receive_upload`,
which checks and files it exactly as a file sent in the chat is (`_store_file`, `_add_document`).

A dossier returned for changes (`storage.review.open_items`) unlocks only the items the reviewer
flagged: the others are listed but take no files, and a flagged item counts as done only once a
file was sent after the return, so the owner cannot resubmit without acting on it. A required
item the dossier did not have when it was returned (a flagged answer changed the product group)
is open too: otherwise the owner could never complete it.

`FileDrop` is the same step for flows that are not a dossier (a staff member sending a list of
certificates): the engine hands every checklist step to this module, which passes the file on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import delete, select

from conversations import filecheck, rules
from conversations.i18n import N_
from conversations.messages import Choice, FileRef
from conversations.programmes import ChecklistItem
from conversations.run import Run
from conversations.steps import Checklist, EndFlow, Next, Transition
from storage import accounts, upload_links
from storage.models import StoredDocument
from storage.review import open_items

STEP_ID = "documents"


@dataclass(frozen=True, kw_only=True)
class FileDrop(Checklist):
    """Wait for one file and hand it to `receive` (a staff import), outside any dossier."""

    prompt: str
    receive: Callable[[Run, FileRef], Awaitable[Transition]]


@dataclass(frozen=True)
class ItemStatus:
    item: ChecklistItem
    count: int
    # On a returned dossier: `flagged` items are open for changes, `renewed` once a file came
    # after the return; the other items are `locked`.
    flagged: bool = False
    renewed: bool = True
    locked: bool = False
    comment: str | None = None

    @property
    def complete(self) -> bool:
        return self.count >= max(1, self.item.min_files) and self.renewed


def open_item_ids(run: Run) -> set[str] | None:
    """On a returned dossier, the checklist items the owner may send files for; None otherwise
    (every item is open)."""
    changes = open_items(run.application)
    if changes is None or run.application is None:
        return None
    had = {d["doc_type"] for d in changes.get("documents_before", [])}
    items = rules.checklist(run.programmes[run.application.programme], run.facts())
    newly_required = {item.id for item in items if item.required and item.id not in had}
    return set(changes.get("documents", {})) | newly_required


async def status(run: Run) -> list[ItemStatus]:
    """Every checklist item of the draft with how many files it has."""
    if run.application is None:
        return []  # a FileDrop: no dossier behind it
    programme = run.programmes[run.application.programme]
    items = rules.checklist(programme, run.facts())
    changes = open_items(run.application)
    open_ids = open_item_ids(run)
    flagged: dict[str, str] = changes.get("documents", {}) if changes else {}
    watermark = changes.get("document_watermark", 0) if changes else 0
    counts: dict[str, int] = defaultdict(int)
    fresh: dict[str, int] = defaultdict(int)
    rows = await run.session.execute(
        select(StoredDocument.doc_type, StoredDocument.id).where(
            StoredDocument.application_id == run.application.id
        )
    )
    for doc_type, doc_id in rows:
        counts[doc_type] += 1
        fresh[doc_type] += doc_id > watermark
    return [
        ItemStatus(
            item,
            counts[item.id],
            flagged=item.id in flagged,
            renewed=item.id not in flagged or fresh[item.id] > 0,
            locked=open_ids is not None and item.id not in open_ids,
            comment=flagged.get(item.id),
        )
        for item in items
    ]


def missing_required(statuses: list[ItemStatus]) -> list[ItemStatus]:
    return [s for s in statuses if (s.item.required or s.flagged) and not s.complete]


def progress_line(run: Run, statuses: list[ItemStatus]) -> str:
    required = [s for s in statuses if s.item.required]
    done = sum(1 for s in required if s.complete)
    return run.t(N_("Required documents: {done}/{total} ready"), done=done, total=len(required))


def item_line(run: Run, s: ItemStatus) -> str:
    mark = "✅" if s.complete else ("⬜" if s.item.required else "▫️")
    line = f"{mark} {run.t(s.item.label)}"
    if s.item.min_files > 1:
        line += " " + run.t(N_("({count}/{needed} files)"), count=s.count, needed=s.item.min_files)
    elif s.count == 1:
        line += " " + run.t(N_("(1 file)"))
    elif s.count:
        line += " " + run.t(N_("({count} files)"), count=s.count)
    if not s.item.required:
        line += " " + run.t(N_("(if you have it)"))
    if s.comment:
        line += "\n   💬 " + s.comment
    return line


def _current_drop(run: Run) -> FileDrop | None:
    found = run.engine.current(run)
    return found[1] if found is not None and isinstance(found[1], FileDrop) else None


async def show(run: Run, head: str = "") -> None:
    drop = _current_drop(run)
    if drop is not None:
        run.say(head + run.t(drop.prompt))
        return
    statuses = await status(run)
    lines = [head + run.t(N_("Documents for your dossier")), progress_line(run, statuses), ""]
    lines += [item_line(run, s) for s in statuses]
    if any(s.locked for s in statuses):
        lines += [
            "",
            run.t(
                N_(
                    "The centre asked for new files only for the documents marked 💬; the others stay "
                    "as you sent them."
                )
            ),
        ]
    if run.incoming.has_buttons:
        lines += ["", run.t(N_("Tap a document to send it: a PDF file or a clear photo."))]
    else:
        lines += ["", run.t(N_("Type the number of a document to send it: a PDF file or a clear photo."))]
    choices = [
        Choice(("📎 " if not s.complete else "🔁 ") + run.t(s.item.label), f"{STEP_ID}:up:{s.item.id}")
        for s in statuses
        if not s.locked
    ]
    choices.append(Choice(run.t(N_("Continue to the summary")), f"{STEP_ID}:done"))
    choices.append(Choice(run.t(N_("Save and finish later")), f"{STEP_ID}:later"))
    run.say("\n".join(lines), choices)


def _find(statuses: list[ItemStatus], item_id: str) -> ItemStatus | None:
    return next((s for s in statuses if s.item.id == item_id), None)


def _refuse_locked(run: Run, s: ItemStatus) -> None:
    run.say(
        run.t(
            N_("The centre did not ask for changes to “{item}”, so it stays as you sent it."),
            item=run.t(s.item.label),
        )
    )


async def handle(run: Run, step: Checklist) -> Transition:
    incoming = run.incoming
    if isinstance(step, FileDrop):
        if incoming.file is not None:
            return await step.receive(run, incoming.file)
        run.say(run.t(N_("Please send the file here, or send /cancel to stop.")))
        return None
    statuses = await status(run)
    if incoming.file is not None:
        return await _receive(run, statuses)
    action = (incoming.choice or "").removeprefix(f"{STEP_ID}:")
    if action.startswith("up:"):
        chosen = _find(statuses, action[3:])
        if chosen is None:
            await show(run)
            return None
        if chosen.locked:
            _refuse_locked(run, chosen)
            await show(run)
            return None
        pending = run.pop_data("pending_file")
        if pending:
            return await _attach_pending(run, chosen, pending, statuses)
        run.set_data("upload_for", chosen.item.id)
        await _ask_for_file(run, chosen)
        return None
    if action.startswith("clear:"):
        chosen = _find(statuses, action[6:])
        if chosen is not None and chosen.locked:
            _refuse_locked(run, chosen)
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
    if action == "done":
        run.pop_data("upload_for")
        return Next()
    if action == "later":
        run.say(run.t(N_("Your draft is saved. Send /apply whenever you want to continue.")))
        return EndFlow(keep=True)
    if action == "list":
        run.pop_data("upload_for")
        await show(run)
        return None
    if run.incoming.has_buttons:
        run.say(run.t(N_("Please send the document as a file or photo, or tap one of the buttons.")))
    else:
        run.say(run.t(N_("Please send the document as a photo, or type the number of an option.")))
    await show(run)
    return None


async def _ask_for_file(run: Run, s: ItemStatus) -> None:
    kinds = s.item.accept
    item = run.t(s.item.label)
    link: str | None = None
    if kinds == ("image",):
        what = run.t(N_("Please send a photo of “{item}”."), item=item)
    elif run.incoming.can_send_documents:
        what = run.t(N_("Please send “{item}” as a PDF file or a clear photo."), item=item)
    else:
        link = await _upload_link(run, s)
        if "image" in kinds:
            what = run.t(
                N_(
                    "Please send a clear photo of “{item}” here, or upload it as a PDF file with the link "
                    "below (it works once, within 24 hours)."
                ),
                item=item,
            )
        else:
            what = run.t(
                N_(
                    "Please upload “{item}” as a PDF file with the link below (it works once, within 24 hours)."
                ),
                item=item,
            )
    if s.item.hint:
        what += "\n" + run.t(s.item.hint)
    if s.item.min_files > 1:
        what += "\n" + run.t(
            N_("We need {needed} files for this item; {count} received so far."),
            needed=s.item.min_files,
            count=s.count,
        )
    choices = [Choice(run.t(N_("Back to the list")), f"{STEP_ID}:list")]
    if s.count:
        choices.insert(
            0, Choice(run.t(N_("Delete the files sent and start again")), f"{STEP_ID}:clear:{s.item.id}")
        )
    if link is None:
        run.say(what, choices)
    else:
        run.say(what, choices, url=link, url_label=run.t(N_("📤 Upload page")))


async def _upload_link(run: Run, s: ItemStatus) -> str:
    """A one-time link to the upload page for this item of this draft, shown to this identity.

    Relative ("/upload/<token>"): the channel that shows it knows the server's public address.
    """
    assert run.application is not None
    identity = await accounts.find_identity(run.session, run.incoming.channel, run.incoming.user_id)
    assert identity is not None  # the pipeline created it for this very update
    token = await upload_links.issue(
        run.session,
        account_id=run.account.id,
        identity_id=identity.id,
        application_id=run.application.id,
        item_id=s.item.id,
        now=run.now,
    )
    return "/upload/" + token


def _refusal(run: Run, accept: tuple[str, ...]) -> str:
    if accept == ("image",):
        return run.t(N_("This item takes photos only (JPG or PNG). Please take a photo and send it again."))
    return run.t(
        N_(
            "We can take PDF files and photos (JPG, PNG) only. Please save the document as PDF or take a "
            "clear photo of it, then send it again."
        )
    )


async def _store_file(run: Run, file: FileRef, accept: tuple[str, ...]) -> dict | None:
    """Check a file the way every upload is checked (size, type by name, then by its first bytes)
    and keep its bytes; None after telling the user why it was refused."""
    limit_mb = run.settings.max_file_bytes // (1024 * 1024)
    too_large = N_("This file is larger than {mb} MB. Please send a smaller file or a photo.")
    if file.size > run.settings.max_file_bytes:
        run.say(run.t(too_large, mb=limit_mb))
        return None
    if filecheck.kind_from_name(file.filename, file.content_type) is None:
        run.say(_refusal(run, accept))
        return None
    data = await file.read()
    if len(data) > run.settings.max_file_bytes:
        run.say(run.t(too_large, mb=limit_mb))
        return None
    sniffed = filecheck.sniff(data[: filecheck.HEAD_BYTES])
    if sniffed is None:
        run.say(_refusal(run, accept))
        return None
    stored = run.files.save(data, sniffed.suffix)
    return {
        "key": stored.key,
        "sha256": stored.sha256,
        "size": stored.size,
        "filename": _safe_name(file.filename, sniffed.suffix),
        "content_type": sniffed.content_type,
        "kind": sniffed.kind,
    }


def _add_document(run: Run, target: ItemStatus, record: dict) -> bool:
    """File a checked file under one checklist item of the draft; False (and why) when the item
    does not take this kind of file."""
    assert run.application is not None
    if record["kind"] not in target.item.accept:
        run.say(_refusal(run, target.item.accept))
        return False
    run.session.add(
        StoredDocument(
            application_id=run.application.id,
            doc_type=target.item.id,
            filename=record["filename"],
            content_type=record["content_type"],
            size=record["size"],
            sha256=record["sha256"],
            storage_key=record["key"],
            uploaded_at=run.now,
        )
    )
    run.application.last_activity_at = run.now
    return True


async def _receive(run: Run, statuses: list[ItemStatus]) -> Transition:
    file = run.incoming.file
    assert file is not None and run.application is not None
    target_id = run.state.data.get("upload_for")
    target = _find(statuses, target_id) if target_id else None
    record = await _store_file(run, file, target.item.accept if target else ("pdf", "image"))
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
                    Choice(run.t(s.item.label), f"{STEP_ID}:up:{s.item.id}")
                    for s in open_statuses
                    if record["kind"] in s.item.accept
                ],
            )
            return None
    return await _attach_pending(run, target, record, statuses)


async def _attach_pending(
    run: Run, target: ItemStatus, record: dict, statuses: list[ItemStatus]
) -> Transition:
    if not _add_document(run, target, record):
        return None
    await _after_added(run, target, target.count + 1)
    return None


async def _after_added(run: Run, target: ItemStatus, count: int) -> None:
    """What the user hears once files are filed under `target` at the checklist: the next file
    of the item, or the checklist again."""
    label = run.t(target.item.label)
    if count < target.item.min_files:
        run.set_data("upload_for", target.item.id)
        run.say(
            run.t(
                N_("Received for “{item}” ({count}/{needed}). Please send the next one."),
                item=label,
                count=count,
                needed=target.item.min_files,
            ),
            [Choice(run.t(N_("Back to the list")), f"{STEP_ID}:list")],
        )
        return
    run.pop_data("upload_for")
    run.say(run.t(N_("✅ Received “{item}”."), item=label))
    await run.session.flush()
    await show(run)


def at_checklist(run: Run) -> bool:
    """Whether the user's conversation is waiting at this draft's checklist right now."""
    return (
        run.application is not None
        and run.state.step == STEP_ID
        and run.state.data.get("application_id") == run.application.id
    )


async def receive_upload(run: Run, item_id: str, files: list[FileRef]) -> int:
    """Files from the upload page for one item of `run.application`: checked and filed as in
    the chat, in the caller's transaction. Returns how many were filed; what the user should
    hear (refusals, the confirmation, the checklist's progress) is in `run.out`.

    When the conversation waits at this draft's checklist, it continues from there as if the
    files had come through the chat; otherwise only the progress is told, without buttons, so
    the menu the user is answering stays as it was.
    """
    statuses = await status(run)
    target = _find(statuses, item_id)
    if target is None:
        run.say(run.t(N_("This document is no longer on your dossier's list.")))
        return 0
    if target.locked:
        _refuse_locked(run, target)
        return 0
    filed = 0
    for file in files:
        record = await _store_file(run, file, target.item.accept)
        if record is not None and _add_document(run, target, record):
            filed += 1
    if not filed:
        return 0
    if at_checklist(run):
        await _after_added(run, target, target.count + filed)
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


def _safe_name(filename: str, suffix: str) -> str:
    base = "".join(ch for ch in filename if ch.isprintable() and ch not in '/\\:*?"<>|').strip() or "file"
    base = base[:120]
    return base if base.lower().endswith(suffix) or "." in base[-6:] else base + suffix
