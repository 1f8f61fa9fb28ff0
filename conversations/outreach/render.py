"""Turning an outbox payload into what its recipient reads, in their language, when it is sent.

The payload contract is written down in storage/outbox.py. Rendering happens at send time, not
when the row is queued, so a reminder reads in the language the person chose last, and a staff
member's broadcast arrives exactly as previewed: the preview is made by this same function.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from conversations.i18n import N_, Translator
from conversations.messages import Choice, Outgoing
from conversations.payloads import go

OPT_OUT_LABEL = N_("🔕 Stop announcements")
OPT_OUT_PAYLOAD = go("optout")


def _value(value: Any, t: Translator) -> Any:
    if isinstance(value, dict):
        if "msgid" in value:
            values = {k: _value(v, t) for k, v in (value.get("values") or {}).items()}
            return t(value["msgid"], **values)
        if "date" in value:
            return t.date(date.fromisoformat(value["date"]))
        if "number" in value:
            return t.number(value["number"])
    return value


def _paragraph(part: dict[str, Any], t: Translator) -> str:
    if "text" in part:
        return str(part["text"])
    values = {k: _value(v, t) for k, v in (part.get("values") or {}).items()}
    return t(part["msgid"], **values)


def render_payload(payload: dict[str, Any], t: Translator) -> list[Outgoing]:
    """One `Outgoing` (text and buttons) for a payload; an empty payload renders nothing."""
    paragraphs = []
    if "text" in payload or "msgid" in payload:
        paragraphs.append(_paragraph(payload, t))
    paragraphs += [_paragraph(p, t) for p in payload.get("parts") or []]
    if not paragraphs:
        return []
    choices = [Choice(t(c["label"]), c["payload"]) for c in payload.get("choices") or []]
    if payload.get("optout"):
        choices.append(Choice(t(OPT_OUT_LABEL), OPT_OUT_PAYLOAD))
    # apart: a preview must look exactly like what recipients get, not joined to other text.
    return [Outgoing(text="\n\n".join(paragraphs), choices=choices, apart=True)]
