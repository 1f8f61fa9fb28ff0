"""Reading an OA webhook request: the signature first, then the event's parts we use.

Every field name below comes second-hand from platforms.md D4; the ones marked UNCONFIRMED are
read in exactly one function each, so a live event that differs is fixed in one place.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

SIGNATURE_HEADER = "X-ZEvent-Signature"
MAX_UPDATE_ID = 64  # the processed_updates column

TEXT = "user_send_text"
IMAGE = "user_send_image"
FILE = "user_send_file"
STICKER = "user_send_sticker"
FOLLOW = "follow"
UNFOLLOW = "unfollow"
RECEIVED = "user_received_message"  # also a ZNS delivery receipt, carrying our tracking_id


def expected_mac(app_id: str, raw: bytes, timestamp: str, secret_key: str) -> str:
    """sha256(app_id + raw body + timestamp + OA secret key), plain SHA-256, not HMAC (CONFIRMED
    secondary, platforms.md D4: several implementations, one checked against live events; also
    chatwoot's app/jobs/webhooks/zalo_events_job.rb @314d9922)."""
    digest = hashlib.sha256()
    digest.update(app_id.encode("utf-8") + raw + timestamp.encode("utf-8") + secret_key.encode("utf-8"))
    return digest.hexdigest()


def verified_event(header: str, app_id: str, raw: bytes, secret_key: str) -> dict[str, Any] | None:
    """The event when the signature matches (compared in constant time), else None.

    The timestamp the signature covers is inside the body, so the JSON is parsed to find it; no
    other field is looked at before the comparison."""
    given = header.strip()
    if given.lower().startswith("mac="):
        given = given[4:]
    if not given:
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    timestamp = body.get("timestamp")
    if not isinstance(timestamp, str | int):
        return None
    mac = expected_mac(app_id, raw, str(timestamp), secret_key)
    if not hmac.compare_digest(given.lower().encode("ascii", "replace"), mac.encode("ascii")):
        return None
    return body


def user_of(event: dict[str, Any]) -> str | None:
    """The OA user the event is about: `sender.id` for messages; for follow/unfollow UNCONFIRMED
    (`follower.id` in the SDK type lists; `sender.id` accepted too)."""
    for key in ("sender", "follower", "user"):
        part = event.get(key)
        if isinstance(part, dict) and isinstance(part.get("id"), str | int) and str(part["id"]):
            return str(part["id"])[:64]
    return None


def update_id_of(event: dict[str, Any]) -> str:
    """`message.msg_id` for messages; an event without one (follow) is known by its name, user
    and timestamp, which a redelivery repeats."""
    message = event.get("message") if isinstance(event.get("message"), dict) else {}
    msg_id = message.get("msg_id")
    if isinstance(msg_id, str | int) and 0 < len(str(msg_id)) <= MAX_UPDATE_ID:
        return str(msg_id)
    basis = json.dumps([event.get("event_name"), user_of(event), event.get("timestamp")], default=str)
    return "sha256:" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:48]


def text_of(event: dict[str, Any]) -> str | None:
    message = event.get("message") if isinstance(event.get("message"), dict) else {}
    text = message.get("text")
    return text.strip() if isinstance(text, str) and text.strip() else None


@dataclass(frozen=True)
class Attachment:
    url: str
    name: str | None
    size: int
    content_type: str | None


def attachment_of(event: dict[str, Any]) -> Attachment | None:
    """`message.attachments[0]` with `type` and `payload.url`, for files also `payload.name`,
    `size` and `type` (CONFIRMED secondary: chatwoot's app/services/zalo/incoming_message_service.rb
    @087eda39 reads exactly these; `thumbnail` for images is a fallback of ours)."""
    message = event.get("message") if isinstance(event.get("message"), dict) else {}
    items = message.get("attachments")
    if not isinstance(items, list) or not items or not isinstance(items[0], dict):
        return None
    payload = items[0].get("payload") if isinstance(items[0].get("payload"), dict) else {}
    url = payload.get("url") or payload.get("thumbnail")
    if not isinstance(url, str) or not url.lower().startswith(("https://", "http://")):
        return None
    name = payload.get("name")
    try:
        size = int(payload.get("size") or 0)
    except (TypeError, ValueError):
        size = 0
    kind = payload.get("type")
    return Attachment(
        url=url,
        name=name if isinstance(name, str) and name else None,
        size=max(size, 0),
        content_type=kind if isinstance(kind, str) and "/" in kind else None,
    )


def tracking_id_of(event: dict[str, Any]) -> int | None:
    """The outbox row a ZNS delivery receipt is about: `message.tracking_id` (CONFIRMED secondary:
    chatwoot's app/services/zalo/zns_delivery_service.rb @13258479 reads it from this event)."""
    message = event.get("message") if isinstance(event.get("message"), dict) else {}
    tracking = message.get("tracking_id")
    return int(tracking) if isinstance(tracking, str | int) and str(tracking).isdigit() else None
