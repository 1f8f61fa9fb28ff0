"""The web chat's transcript: what a bot message becomes when it is kept, and what the page is shown.

A web user has no app to push to: everything the bot says (answers, and reminders, broadcasts
and staff replies sent through `WebSender`) is a row of storage/transcripts.py, and the open page
picks new rows up by polling. Only web links leave for the page, and a document's path on disk
never leaves the server (the page gets a download link instead).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.messages import WEB, Outgoing
from storage import transcripts


async def deliver_to_web(session: AsyncSession, web_user: str, messages: list[Outgoing]) -> list[int]:
    """Put messages the bot sends on its own (reminders, broadcasts, staff replies) in a web user's
    transcript, inside the caller's transaction; the open page picks them up by polling."""
    return [
        await transcripts.append(session, web_user, transcripts.OUT, outgoing_payload(m)) for m in messages
    ]


class WebSender:
    """The web chat as a channel for proactive messages: they land in the transcript, and the
    open page (or the next visit) shows them."""

    channel = WEB

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def send(self, external_id: str, messages: list[Outgoing]) -> None:
        async with self.sessions() as session, session.begin():
            await deliver_to_web(session, external_id, messages)


def _safe_url(url: str | None) -> str | None:
    """Only web links leave the engine for the page: http(s) or a path on this server."""
    if not url:
        return None
    if url.lower().startswith(("https://", "http://")) or (url.startswith("/") and not url.startswith("//")):
        return url
    return None


def outgoing_payload(out: Outgoing) -> dict[str, Any]:
    """How an `Outgoing` is kept in the transcript (what the page needs, and the document's path)."""
    payload: dict[str, Any] = {
        "text": out.text,
        "choices": [{"label": c.label, "payload": c.payload} for c in out.choices],
    }
    url = _safe_url(out.url)
    if url:
        payload["url"] = url
        payload["url_label"] = out.url_label
    if out.document is not None:
        path = Path(out.document.path)
        payload["document"] = {
            "path": out.document.path,
            "filename": out.document.filename,
            "content_type": out.document.content_type,
            "size": path.stat().st_size if path.is_file() else None,
        }
    return payload


def page_message(row: dict[str, Any]) -> dict[str, Any]:
    """A transcript row as the page gets it; a document's path on disk never leaves the server."""
    payload = row["payload"]
    file = payload.get("file")
    document = payload.get("document")
    if document:
        file = {
            "name": document["filename"],
            "size": document.get("size"),
            "href": f"api/chat/files/{row['id']}",
        }
    return {
        "id": row["id"],
        "dir": row["dir"],
        "text": payload.get("text") or "",
        "choices": payload.get("choices") or [],
        "url": payload.get("url"),
        "url_label": payload.get("url_label"),
        "file": file,
        "more_files": payload.get("more_files") or [],
    }


def label_of(recent: list[dict[str, Any]], payload: str) -> str | None:
    """The label of the button with this payload in the bot's latest messages."""
    for message in reversed(recent):
        if message["dir"] == transcripts.OUT:
            for choice in message["payload"].get("choices") or []:
                if choice.get("payload") == payload:
                    return choice.get("label")
    return None
