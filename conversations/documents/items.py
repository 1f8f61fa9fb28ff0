"""The checklist's items for a draft and how they are shown: what is needed, what is in.

The list comes from the programme data (`rules.checklist`) for the draft's programme, level and
product group. A dossier returned for changes (`storage.returned.open_items`) unlocks only the items
the reviewer flagged: the others are listed but take no files, and a flagged item counts as done
only once a file was sent after the return, so the owner cannot resubmit without acting on it. A
required item the dossier did not have when it was returned (a flagged answer changed the product
group) is open too: otherwise the owner could never complete it.

A channel that cannot carry a PDF (`Incoming.can_send_documents` False: Zalo) gets a one-time
upload link when the user picks an item.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import Select, bindparam, select

from conversations import rules
from conversations.i18n import N_
from conversations.messages import Choice, FileRef
from conversations.payloads import Doc
from conversations.programmes import ChecklistItem
from conversations.run import Run
from conversations.steps import Checklist, Transition
from storage import accounts, applications, upload_links
from storage.models import StoredDocument
from storage.returned import open_items

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


@functools.cache
def _files_of() -> Select[str, int]:
    """Built once: every checklist shown asks it (building it again cost more than running it)."""
    return select(StoredDocument.doc_type, StoredDocument.id).where(
        StoredDocument.application_id == bindparam("application_id")
    )


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
    with applications.unflushed(run.session, StoredDocument):
        rows = await run.session.execute(_files_of(), {"application_id": run.application.id})
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


def current_drop(run: Run) -> FileDrop | None:
    found = run.engine.current(run)
    return found[1] if found is not None and isinstance(found[1], FileDrop) else None


async def show(run: Run, head: str = "") -> None:
    drop = current_drop(run)
    if drop is not None:
        run.say(head + run.t(drop.prompt))
        return
    statuses = await status(run)
    lines = [head + run.t(N_("Documents for your dossier")), progress_line(run, statuses)]
    # Each open document is one button (or numbered line) carrying its state, so the list is not
    # written twice; only documents that take no files (a returned dossier's others) are text.
    locked = [s for s in statuses if s.locked]
    if locked:
        lines += ["", *(item_line(run, s) for s in locked)]
        lines += [
            "",
            run.t(
                N_(
                    "The centre asked for new files only for the documents marked 💬; the others stay "
                    "as you sent them."
                )
            ),
        ]
    lines += [f"💬 {s.comment} ({run.t(s.item.label)})" for s in statuses if s.comment and not s.locked]
    open_items_ = [s for s in statuses if not s.locked]
    if run.incoming.has_buttons:
        lines += ["", run.t(N_("Tap a document to send it: a PDF file or a clear photo."))]
    else:
        lines += ["", run.t(N_("Type the number of a document to send it: a PDF file or a clear photo."))]
    choices = [Choice(button_label(run, s), Doc("up", s.item.id).pack()) for s in open_items_]
    choices.append(Choice(run.t(N_("Continue to the summary")), Doc("done").pack()))
    choices.append(Choice(run.t(N_("Save and finish later")), Doc("later").pack()))
    run.say("\n".join(lines), choices)


async def start(run: Run, head: str = "") -> None:
    """Arriving at the checklist with nothing sent yet: the progress and the first document's
    request in one message, instead of the whole list and a tap to pick the first item (the
    list stays one button away)."""
    if current_drop(run) is None and run.incoming.can_send_documents:
        statuses = await status(run)
        missing = [s for s in missing_required(statuses) if not s.locked]
        if missing and not any(s.count or s.locked or s.comment for s in statuses):
            run.set_data("upload_for", missing[0].item.id)
            intro = head + progress_line(run, statuses) + "\n\n"
            await ask_for_file(run, missing[0], head=intro)
            return
    await show(run, head)


def button_label(run: Run, s: ItemStatus) -> str:
    """A document's button: ✅ done, 📎 still needed, ▫️ optional, with its file count if partial."""
    mark = "✅" if s.complete else ("📎" if s.item.required or s.flagged else "▫️")
    label = f"{mark} {run.t(s.item.label)}"
    if s.item.min_files > 1 and not s.complete:
        label += f" ({s.count}/{s.item.min_files})"
    return label


def find(statuses: list[ItemStatus], item_id: str) -> ItemStatus | None:
    return next((s for s in statuses if s.item.id == item_id), None)


def refuse_locked(run: Run, s: ItemStatus) -> None:
    run.say(
        run.t(
            N_("The centre did not ask for changes to “{item}”, so it stays as you sent it."),
            item=run.t(s.item.label),
        )
    )


async def ask_for_file(run: Run, s: ItemStatus, *, head: str = "") -> None:
    kinds = s.item.accept
    item = run.t(s.item.label)
    link: str | None = None
    if kinds == ("image",):
        what = run.t(N_("Please send a photo of “{item}”."), item=item)
    elif run.incoming.can_send_documents:
        what = run.t(N_("Please send “{item}” (a PDF file or a clear photo)."), item=item)
    else:
        link = await upload_link(run, s)
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
        what += "\n" + (
            run.t(
                N_("This item needs {needed} files; {count} received so far."),
                needed=s.item.min_files,
                count=s.count,
            )
            if s.count
            else run.t(N_("This item needs {needed} files."), needed=s.item.min_files)
        )
    what = head + what
    choices = [Choice(run.t(N_("Back to the list")), Doc("list").pack())]
    if s.count:
        choices.insert(
            0, Choice(run.t(N_("Delete the files sent and start again")), Doc("clear", s.item.id).pack())
        )
    if link is None:
        run.say(what, choices)
    else:
        run.say(what, choices, url=link, url_label=run.t(N_("📤 Upload page")))


async def upload_link(run: Run, s: ItemStatus) -> str:
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


def at_checklist(run: Run) -> bool:
    """Whether the user's conversation is waiting at this draft's checklist right now."""
    return (
        run.application is not None
        and run.state.step == STEP_ID
        and run.state.data.get("application_id") == run.application.id
    )
