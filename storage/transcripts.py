"""The web chat's transcript: what each browser said and was told, so a reload shows it again.

A web user is the random id in the browser's `kc_web` cookie. Each row is one message in one
direction: "in" (the user to the bot) or "out" (the bot to the user). The payload is JSON that
the web chat adapter (handlers/channels/webchat/chat.py) writes and reads; this module keeps rows in order and
knows nothing of what is inside them. Callers own the transaction: `append` only flushes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import WebMessage

IN = "in"
OUT = "out"
DIRECTIONS = (IN, OUT)


async def append(session: AsyncSession, web_user: str, direction: str, payload: dict[str, Any]) -> int:
    """Add one message to the end of the user's transcript; returns its id (ids grow in order)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
    row = WebMessage(web_user=web_user, direction=direction, payload=payload)
    session.add(row)
    await session.flush()
    return row.id


async def history(
    session: AsyncSession, web_user: str, limit: int = 300, *, after: int | None = None
) -> list[dict[str, Any]]:
    """The user's last `limit` messages (only those with an id above `after`, if given), oldest first.

    Each is `{"id", "dir", "payload", "at"}`.
    """
    stmt = select(WebMessage.id, WebMessage.direction, WebMessage.payload, WebMessage.at).where(
        WebMessage.web_user == web_user
    )
    if after is not None:
        stmt = stmt.where(WebMessage.id > after)
    rows = (await session.execute(stmt.order_by(WebMessage.id.desc()).limit(limit))).all()
    return [_as_dict(row.id, row.direction, row.payload, row.at) for row in reversed(rows)]


async def get(session: AsyncSession, web_user: str, message_id: int) -> dict[str, Any] | None:
    """One message of this user's transcript; None when it does not exist or belongs to someone else."""
    row = (
        await session.execute(
            select(WebMessage.id, WebMessage.direction, WebMessage.payload, WebMessage.at).where(
                WebMessage.id == message_id, WebMessage.web_user == web_user
            )
        )
    ).first()
    return _as_dict(row.id, row.direction, row.payload, row.at) if row else None


async def forget(session: AsyncSession, web_user: str) -> int:
    """Delete the user's whole transcript ("delete my data"); returns how many messages went."""
    result = await session.execute(delete(WebMessage).where(WebMessage.web_user == web_user))
    return int(getattr(result, "rowcount", 0) or 0)


def _as_dict(message_id: int, direction: str, payload: dict[str, Any] | None, at: datetime) -> dict[str, Any]:
    return {"id": message_id, "dir": direction, "payload": payload or {}, "at": at}
