"""/staff/dossiers/<receipt code>: one dossier read in full, its files inline, and the decisions.

PDFs open in the browser's own viewer on demand (a lazy frame inside a closed <details>): three
viewers loading at once made the page slow to use on an office PC; photos show as thumbnails.

Reading never claims. The buttons post to the chat's own decision functions
(`conversations.staff.decisions`), which re-check that the member still holds the dossier and
queue the owner's notice in the same transaction; after each action the page is shown again
(POST, then redirect) so a reload never repeats a decision. A dossier outside the member's
provinces is 404, like one that does not exist.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from conversations.i18n import N_
from conversations.staff import decisions, dossier
from conversations.staff.access import REVIEW_ROLES
from conversations.staff.desk import claim, dossier_in_scope, release
from conversations.staff.review import status_label
from handlers.console.auth import desk_page
from handlers.console.common import Desk
from handlers.console.queue import level_options
from storage import review, staff
from storage.models import Application

INLINE_TYPES = ("application/pdf", "image/jpeg", "image/png", "image/webp", "image/gif")
DONE = {
    "claim": N_("You have taken this dossier for review: colleagues see that it is with you."),
    "release": N_("The dossier is back in the queue; any reviewer of the province can take it."),
    "approve": N_("Approved. The owner has been told; the dossier is now frozen."),
    "reject": N_("Recorded as not approved. The owner has been told, with your reason."),
    "return": N_("Returned to the owner, who has been told what to change."),
    "cert": N_("Certificate recorded. The owner has been told."),
    "cert_refused": N_(
        "The certificate was not recorded: check the number (not already recorded), the issuing body "
        "and the date (not in the future)."
    ),
}
NOT_HELD = N_("You no longer hold this dossier; nothing was changed.")
TAKEN = N_("Another reviewer holds this dossier: {who}.")
REASON_NEEDED = N_("Please write the reason (at least 10 characters): the owner will read it.")
FLAG_NEEDED = N_("Tick at least one answer or document and write what should change.")


async def _dossier(desk: Desk) -> Application:
    application = await dossier_in_scope(desk.session, desk.member, desk.request.match_info["code"])
    if application is None:
        raise web.HTTPNotFound(
            text=desk.t(N_("There is no dossier with that number among those you can see."))
        )
    return application


async def _history(desk: Desk, application: Application) -> list[dict[str, Any]]:
    rows = []
    for event in application.events:
        who = (
            desk.t(N_("owner")) if event.actor == "owner" else await staff.describe(desk.session, event.actor)
        )
        detail = event.detail or {}
        notes = []
        if detail.get("reason"):
            notes.append(str(detail["reason"]))
        for key, text in (detail.get("answers") or {}).items():
            notes.append(f"{dossier.answer_label(desk.run, key)}: {text}")
        for key, text in (detail.get("documents") or {}).items():
            notes.append(f"📎 {key}: {text}")
        if detail.get("comment"):
            notes.append(str(detail["comment"]))
        rows.append(
            {
                "when": desk.when(event.at),
                "what": desk.t(dossier.ACTION_LABELS.get(event.action, event.action)),
                "who": who,
                "notes": notes,
            }
        )
    return rows


def _documents(desk: Desk, application: Application) -> list[dict[str, Any]]:
    labels = {item.id: desk.t(item.label) for item in dossier.checklist_of(desk.run, application)}
    base = f"/staff/dossiers/{application.receipt_code}/files/"
    return [
        {
            "id": d.id,
            "label": labels.get(d.doc_type, d.doc_type),
            "filename": d.filename,
            "url": f"{base}{d.id}",
            "pdf": d.content_type == "application/pdf",
            "image": d.content_type.startswith("image/"),
            "size_kb": max(1, d.size // 1024),
            "when": desk.when(d.uploaded_at),
        }
        for d in application.documents
    ]


def _requested(desk: Desk, application: Application) -> list[str]:
    """While returned: what the owner was asked to change, labelled as on the page."""
    requested = application.requested_changes if application.status == "returned" else None
    if not requested:
        return []
    labels = {item.id: desk.t(item.label) for item in dossier.checklist_of(desk.run, application)}
    lines = [f"{dossier.answer_label(desk.run, k)}: {v}" for k, v in (requested.get("answers") or {}).items()]
    lines += [f"📎 {labels.get(k, k)}: {v}" for k, v in (requested.get("documents") or {}).items()]
    if requested.get("comment"):
        lines.append(str(requested["comment"]))
    return lines


async def _page(desk: Desk, *, note: str | None = None, error: str | None = None) -> web.StreamResponse:
    application = await _dossier(desk)
    run = desk.run
    holder = await staff.describe(desk.session, application.reviewer) if application.reviewer else None
    held_by_me = application.status == "under_review" and application.reviewer == desk.member.actor
    claimable = application.status in review.CLAIMABLE or (
        application.status == "under_review" and application.reviewer is None
    )
    may_release = (
        application.status == "under_review"
        and application.reviewer is not None
        and (held_by_me or desk.member.covers(("admin",), application.facility.province))
    )
    answers = [
        (
            step_id,
            dossier.answer_label(run, step_id),
            dossier.answer_value(run, step_id, application.answers[step_id]),
        )
        for step_id in dossier.questions(run)
        if step_id in application.answers
    ]
    done = desk.request.query.get("done", "")
    return desk.render(
        "dossier.html",
        status=422 if error else 200,
        app=application,
        title=dossier.title(application),
        status_label=status_label(run, application.status),
        holder=holder,
        held_by_me=held_by_me,
        claimable=claimable,
        may_release=may_release,
        profile=[line.removeprefix("• ") for line in dossier.profile_lines(run, application.facility)],
        answers=answers,
        verdict=dossier.verdict_lines(run, application),
        documents=_documents(desk, application),
        missing=[line for line in dossier.document_lines(run, application) if not line.startswith("📎")],
        changes=dossier.change_lines(run, application),
        requested=_requested(desk, application),
        levels=level_options(desk),
        history=await _history(desk, application),
        flaggable=decisions.flaggable(run, application, buttons=False) if held_by_me else [],
        submitted=desk.when(application.submitted_at),
        note=note or (desk.t(DONE[done]) if done in DONE else None),
        error=error,
    )


show = desk_page(REVIEW_ROLES)(_page)


@desk_page(REVIEW_ROLES)
async def act(desk: Desk) -> web.StreamResponse:
    application = await _dossier(desk)
    action = desk.request.match_info["action"]
    form = await desk.request.post()
    run, member = desk.run, desk.member
    back = f"/staff/dossiers/{application.receipt_code}"
    if action == "claim":
        result = await claim(run, member, application)
        if not result.taken:
            who = await staff.describe(desk.session, result.holder) if result.holder else "—"
            return await _again(desk, error=desk.t(TAKEN, who=who))
    elif action == "release":
        if not await release(run, member, application):
            return await _again(desk, error=desk.t(NOT_HELD))
    elif action in ("approve", "reject", "return"):
        if application.status != "under_review" or application.reviewer != member.actor:
            return await _again(desk, error=desk.t(NOT_HELD))
        if action == "approve":
            event = await decisions.approve(run, member, application)
        elif action == "reject":
            reason = str(form.get("reason", "")).strip()
            if len(reason) < 10:
                return await _again(desk, error=desk.t(REASON_NEEDED))
            event = await decisions.reject(run, member, application, reason[:1000])
        else:
            answers: dict[str, str] = {}
            documents: dict[str, str] = {}
            for flag in form.getall("flag", []):
                value = str(flag)
                comment = str(form.get(f"comment:{value}", "")).strip()[:500]
                kind, _, key = value.partition(":")
                if comment and kind in ("a", "d"):
                    (answers if kind == "a" else documents)[key] = comment
            if not answers and not documents:
                return await _again(desk, error=desk.t(FLAG_NEEDED))
            general = str(form.get("general", "")).strip()[:1000] or None
            event = await decisions.return_for_changes(
                run, member, application, answers=answers, documents=documents, comment=general
            )
        if event is None:
            return await _again(desk, error=desk.t(NOT_HELD))
    else:
        raise web.HTTPNotFound()
    raise web.HTTPSeeOther(f"{back}?done={action}")


async def _again(desk: Desk, *, error: str) -> web.StreamResponse:
    """The dossier page again with what went wrong (nothing was changed)."""
    return await _page(desk, error=error)


@desk_page(REVIEW_ROLES)
async def document(desk: Desk) -> web.StreamResponse:
    """A file of the dossier, shown in the browser (PDF viewer, image) rather than downloaded."""
    application = await _dossier(desk)
    wanted = desk.request.match_info["doc"]
    found = next((d for d in application.documents if str(d.id) == wanted), None)
    if found is None:
        raise web.HTTPNotFound()
    path = desk.run.files.path(found.storage_key)
    if not path.exists():
        raise web.HTTPNotFound()
    inline = found.content_type in INLINE_TYPES
    response = web.FileResponse(path)
    response.content_type = found.content_type if inline else "application/octet-stream"
    disposition = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(found.filename)}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/staff/dossiers/{code}", show)
    router.add_post("/staff/dossiers/{code}/{action:claim|release|approve|reject|return}", act)
    router.add_get("/staff/dossiers/{code}/files/{doc}", document)
