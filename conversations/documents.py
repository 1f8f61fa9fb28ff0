"""The document checklist step: what the dossier needs for this case, what is in, and uploads.

The list comes from the programme data (`rules.checklist`) for the draft's programme, level and
product group. A file that arrives before the user said which document it is, is kept and the
user is asked which item it belongs to: nothing they send is thrown away.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import delete, select

from conversations import filecheck, rules
from conversations.i18n import N_
from conversations.messages import Choice
from conversations.programmes import ChecklistItem
from conversations.run import Run
from conversations.steps import Checklist, EndFlow, Next, Transition
from storage.models import StoredDocument

STEP_ID = "documents"


@dataclass(frozen=True)
class ItemStatus:
    item: ChecklistItem
    count: int

    @property
    def complete(self) -> bool:
        return self.count >= max(1, self.item.min_files)


async def status(run: Run) -> list[ItemStatus]:
    """Every checklist item of the draft with how many files it has."""
    assert run.application is not None
    programme = run.programmes[run.application.programme]
    items = rules.checklist(programme, run.facts())
    counts: dict[str, int] = defaultdict(int)
    rows = await run.session.scalars(
        select(StoredDocument.doc_type).where(StoredDocument.application_id == run.application.id)
    )
    for doc_type in rows:
        counts[doc_type] += 1
    return [ItemStatus(item, counts[item.id]) for item in items]


def missing_required(statuses: list[ItemStatus]) -> list[ItemStatus]:
    return [s for s in statuses if s.item.required and not s.complete]


def progress_line(run: Run, statuses: list[ItemStatus]) -> str:
    required = [s for s in statuses if s.item.required]
    done = sum(1 for s in required if s.complete)
    return run.t(N_("Required documents: {done}/{total} ready"), done=done, total=len(required))


def item_line(run: Run, s: ItemStatus) -> str:
    mark = "✅" if s.complete else ("⬜" if s.item.required else "▫️")
    line = f"{mark} {run.t(s.item.label)}"
    if s.item.min_files > 1:
        line += " " + run.t(N_("({count}/{needed} files)"), count=s.count, needed=s.item.min_files)
    elif s.count:
        line += " " + run.t(N_("({count} files)"), count=s.count)
    if not s.item.required:
        line += " " + run.t(N_("(if you have it)"))
    return line


async def show(run: Run, head: str = "") -> None:
    statuses = await status(run)
    lines = [head + run.t(N_("Documents for your dossier")), progress_line(run, statuses), ""]
    lines += [item_line(run, s) for s in statuses]
    lines += ["", run.t(N_("Tap a document to send it: a PDF file or a clear photo."))]
    choices = [
        Choice(("📎 " if not s.complete else "🔁 ") + run.t(s.item.label), f"{STEP_ID}:up:{s.item.id}")
        for s in statuses
    ]
    choices.append(Choice(run.t(N_("Continue to the summary")), f"{STEP_ID}:done"))
    choices.append(Choice(run.t(N_("Save and finish later")), f"{STEP_ID}:later"))
    run.say("\n".join(lines), choices)


def _find(statuses: list[ItemStatus], item_id: str) -> ItemStatus | None:
    return next((s for s in statuses if s.item.id == item_id), None)


async def handle(run: Run, step: Checklist) -> Transition:
    incoming = run.incoming
    statuses = await status(run)
    if incoming.file is not None:
        return await _receive(run, statuses)
    action = (incoming.choice or "").removeprefix(f"{STEP_ID}:")
    if action.startswith("up:"):
        chosen = _find(statuses, action[3:])
        if chosen is None:
            await show(run)
            return None
        pending = run.pop_data("pending_file")
        if pending:
            return await _attach_pending(run, chosen, pending, statuses)
        run.set_data("upload_for", chosen.item.id)
        _ask_for_file(run, chosen)
        return None
    if action.startswith("clear:"):
        chosen = _find(statuses, action[6:])
        if chosen is not None:
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
    run.say(run.t(N_("Please send the document as a file or photo, or tap one of the buttons.")))
    await show(run)
    return None


def _ask_for_file(run: Run, s: ItemStatus) -> None:
    kinds = s.item.accept
    if kinds == ("image",):
        what = run.t(N_("Please send a photo of “{item}”."), item=run.t(s.item.label))
    else:
        what = run.t(N_("Please send “{item}” as a PDF file or a clear photo."), item=run.t(s.item.label))
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
    run.say(what, choices)


def _refusal(run: Run, accept: tuple[str, ...]) -> str:
    if accept == ("image",):
        return run.t(N_("This item takes photos only (JPG or PNG). Please take a photo and send it again."))
    return run.t(
        N_(
            "We can take PDF files and photos (JPG, PNG) only. Please save the document as PDF or take a "
            "clear photo of it, then send it again."
        )
    )


async def _receive(run: Run, statuses: list[ItemStatus]) -> Transition:
    file = run.incoming.file
    assert file is not None and run.application is not None
    limit_mb = run.settings.max_file_bytes // (1024 * 1024)
    if file.size > run.settings.max_file_bytes:
        run.say(
            run.t(N_("This file is larger than {mb} MB. Please send a smaller file or a photo."), mb=limit_mb)
        )
        return None
    target_id = run.state.data.get("upload_for")
    target = _find(statuses, target_id) if target_id else None
    guessed = filecheck.kind_from_name(file.filename, file.content_type)
    if guessed is None:
        run.say(_refusal(run, target.item.accept if target else ("pdf", "image")))
        return None
    data = await file.read()
    if len(data) > run.settings.max_file_bytes:
        run.say(
            run.t(N_("This file is larger than {mb} MB. Please send a smaller file or a photo."), mb=limit_mb)
        )
        return None
    sniffed = filecheck.sniff(data[:16])
    if sniffed is None:
        run.say(_refusal(run, target.item.accept if target else ("pdf", "image")))
        return None
    stored = run.files.save(data, sniffed.suffix)
    record = {
        "key": stored.key,
        "sha256": stored.sha256,
        "size": stored.size,
        "filename": _safe_name(file.filename, sniffed.suffix),
        "content_type": sniffed.content_type,
        "kind": sniffed.kind,
    }
    if target is None:
        candidates = [s for s in statuses if not s.complete and sniffed.kind in s.item.accept]
        if len(candidates) == 1:
            target = candidates[0]
        else:
            run.set_data("pending_file", record)
            run.say(
                run.t(N_("I have received the file. Which document is it?")),
                [
                    Choice(run.t(s.item.label), f"{STEP_ID}:up:{s.item.id}")
                    for s in statuses
                    if sniffed.kind in s.item.accept
                ],
            )
            return None
    return await _attach_pending(run, target, record, statuses)


async def _attach_pending(
    run: Run, target: ItemStatus, record: dict, statuses: list[ItemStatus]
) -> Transition:
    assert run.application is not None
    if record["kind"] not in target.item.accept:
        run.say(_refusal(run, target.item.accept))
        return None
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
    count = target.count + 1
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
        return None
    run.pop_data("upload_for")
    run.say(run.t(N_("✅ Received “{item}”."), item=label))
    await run.session.flush()
    await show(run)
    return None


def _safe_name(filename: str, suffix: str) -> str:
    base = "".join(ch for ch in filename if ch.isprintable() and ch not in '/\\:*?"<>|').strip() or "file"
    base = base[:120]
    return base if base.lower().endswith(suffix) or "." in base[-6:] else base + suffix
