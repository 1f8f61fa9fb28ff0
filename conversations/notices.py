"""What a facility owner is told when staff act on their dossier, as outbox payloads.

A notice is queued in the same transaction as the decision it announces and sent later by the
delivery worker, to a person whose language may change meanwhile: so a payload holds msgids and
values, never translated text, and is rendered in the recipient's language at delivery time.
The payload contract is the outbox's (module docstring of `storage/outbox.py`); `render_payload`
is the one renderer the delivery worker uses, re-exported here so status notices and their
tests go through exactly what will be sent.

Everything here is pure: building a payload reads the dossier and returns a dict; queueing it is
`conversations.staff.notify`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from conversations.i18n import N_
from conversations.outreach.render import render_payload
from conversations.payloads import Go
from conversations.programmes import Programme

__all__ = ["approved", "certificate_recorded", "msg", "rejected", "render_payload", "returned"]

MAX_PAYLOAD_BYTES = 64

APPROVED = N_(
    "✅ Good news: the Industrial Extension Centre has approved your dossier “{title}” (receipt code {code})."
)
APPROVED_NEXT = N_(
    "The centre's staff will contact you about the next steps. You can see the dossier's history "
    "at any time with /status."
)
REJECTED = N_(
    "Your dossier “{title}” (receipt code {code}) was not approved by the Industrial Extension Centre."
)
REJECTED_REASON = N_("The centre's reason: {reason}")
REJECTED_NEXT = N_(
    "If something is unclear, reply here and choose “Talk to staff”. You can prepare a new dossier for "
    "a later round at any time with /apply."
)
RETURNED = N_(
    "The Industrial Extension Centre has returned your dossier “{title}” (receipt code {code}) for "
    "some changes. The centre's comments:"
)
RETURNED_ITEM = N_("• {item}: {comment}")
RETURNED_COMMENT = N_("General comment: {comment}")
RETURNED_NEXT = N_(
    "Please choose “Fix the dossier”: I will ask you only about these items, everything else stays "
    "as you sent it. Then send the dossier again."
)
FIX_LABEL = N_("✏️ Fix the dossier")
STATUS_LABEL = N_("📋 My dossiers")
CERTIFICATE = N_(
    "🏅 The certificate for “{product}” has been recorded: {level}, number {number}, issued on "
    "{issued} by {body}. It is valid until {valid_until}."
)
CERTIFICATE_NEXT = N_("You can see your certificates and how long each is still valid with /certificates.")
CERTIFICATES_LABEL = N_("🏅 My certificates")


def msg(msgid: str, **values: Any) -> dict[str, Any]:
    """One paragraph: a msgid and its values (see the contract for translated and date values)."""
    return {"msgid": msgid, "values": values} if values else {"msgid": msgid}


def _choice(label: str, payload: str) -> dict[str, str]:
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"button payload over {MAX_PAYLOAD_BYTES} bytes: {payload!r}")
    return {"label": label, "payload": payload}


def title_value(answers: dict[str, Any], programme: Programme) -> Any:
    """How a dossier is named to its owner: the product's name, else the programme's (translated)."""
    name = answers.get("product_name")
    return name if isinstance(name, str) and name else {"msgid": programme.name}


def approved(*, title: Any, code: str) -> dict[str, Any]:
    return {
        **msg(APPROVED, title=title, code=code),
        "parts": [msg(APPROVED_NEXT)],
        "choices": [_choice(STATUS_LABEL, Go("status").pack())],
    }


def rejected(*, title: Any, code: str, reason: str) -> dict[str, Any]:
    return {
        **msg(REJECTED, title=title, code=code),
        "parts": [msg(REJECTED_REASON, reason=reason), msg(REJECTED_NEXT)],
        "choices": [_choice(STATUS_LABEL, Go("status").pack())],
    }


def returned(
    *, title: Any, code: str, application_id: int, items: list[tuple[Any, str]], comment: str | None
) -> dict[str, Any]:
    """`items` are (label, comment): a label is a msgid wrapped as {"msgid": ...} or literal text."""
    parts = [msg(RETURNED_ITEM, item=label, comment=text) for label, text in items]
    if comment:
        parts.append(msg(RETURNED_COMMENT, comment=comment))
    parts.append(msg(RETURNED_NEXT))
    return {
        **msg(RETURNED, title=title, code=code),
        "parts": parts,
        "choices": [_choice(FIX_LABEL, Go("apply", str(application_id)).pack())],
    }


def certificate_recorded(
    *, product: str, level_label: str, number: str, issued: date, body: str, valid_until: date
) -> dict[str, Any]:
    return {
        **msg(
            CERTIFICATE,
            product=product,
            level={"msgid": level_label},
            number=number,
            issued={"date": issued.isoformat()},
            body=body,
            valid_until={"date": valid_until.isoformat()},
        ),
        "parts": [msg(CERTIFICATE_NEXT)],
        "choices": [_choice(CERTIFICATES_LABEL, Go("certificates").pack())],
    }
