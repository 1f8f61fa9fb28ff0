"""Dossiers returned for changes: what the reviewer flagged, what the owner may change, and what
the owner changed before sending it back.

A returned dossier keeps `Application.requested_changes`:
    {"answers": {question_id: comment}, "documents": {checklist_item_id: comment},
     "comment": general comment or None, "by": actor, "at": ISO time,
     "answers_before": every answer as it was returned, "documents_before": [document snapshot],
     "document_watermark": highest document id at the time}
The flagged answers are removed from `answers` so the owner's flow asks exactly those again;
documents uploaded after the watermark count as the owner's new files for a flagged item.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Application, ApplicationEvent, StoredDocument
from storage.review import decide


def open_items(application: Application | None) -> dict[str, Any] | None:
    """The requested changes while the owner may act on them (the dossier is returned), else None:
    then every answer and document of a dossier in progress is the owner's to change."""
    if application is None or application.status != "returned":
        return None
    return application.requested_changes or None


async def document_snapshot(session: AsyncSession, application_id: int) -> list[dict[str, Any]]:
    """The dossier's files as they are now: enough to tell later what was added or removed."""
    rows = await session.scalars(
        select(StoredDocument)
        .where(StoredDocument.application_id == application_id)
        .order_by(StoredDocument.id)
    )
    return [
        {"id": d.id, "doc_type": d.doc_type, "filename": d.filename, "sha256": d.sha256, "key": d.storage_key}
        for d in rows
    ]


async def return_for_changes(
    session: AsyncSession,
    application: Application,
    *,
    reviewer: str,
    now: datetime,
    answers: dict[str, str],
    documents: dict[str, str],
    comment: str | None,
) -> ApplicationEvent | None:
    """Send the dossier back with comments on some answers and documents, unlocking only those;
    None when this reviewer no longer holds it."""
    if not answers and not documents:
        raise ValueError("a returned dossier names at least one item to change")
    before = dict(application.answers)
    snapshot = await document_snapshot(session, application.id)
    detail = {
        "answers": answers,
        "documents": documents,
        "comment": comment,
        "answers_before": {key: before.get(key) for key in answers},
    }
    event = await decide(
        session, application, reviewer=reviewer, to_status="returned", now=now, detail=detail
    )
    if event is None:
        return None
    application.requested_changes = {
        "answers": answers,
        "documents": documents,
        "comment": comment,
        "by": reviewer,
        "at": now.isoformat(),
        "answers_before": before,
        "documents_before": snapshot,
        "document_watermark": max((d["id"] for d in snapshot), default=0),
    }
    application.answers = {k: v for k, v in before.items() if k not in answers}
    return event


async def changes_since_return(session: AsyncSession, application: Application) -> dict[str, Any]:
    """What the owner changed after the dossier came back: answers before and after, files added and
    removed. Recorded on the resubmission event, where reviewers read it."""
    requested = application.requested_changes or {}
    before: dict[str, Any] = requested.get("answers_before", {})
    after = application.answers
    answers = {
        key: {"before": before.get(key), "after": after.get(key)}
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }
    old = {d["id"]: d for d in requested.get("documents_before", [])}
    now = await document_snapshot(session, application.id)
    current = {d["id"] for d in now}
    return {
        "answers": answers,
        "documents_added": [d for d in now if d["id"] not in old],
        "documents_removed": [d for d in old.values() if d["id"] not in current],
        "flagged": {"answers": requested.get("answers", {}), "documents": requested.get("documents", {})},
    }
