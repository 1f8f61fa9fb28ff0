"""The document checklist step (a package: `items` what is needed and shown, `intake` files
checked and filed, `step` the answers): what the dossier needs for this case, what is in, and uploads.

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

from conversations.documents.intake import receive_upload
from conversations.documents.items import (
    STEP_ID,
    FileDrop,
    ItemStatus,
    at_checklist,
    item_line,
    missing_required,
    open_item_ids,
    progress_line,
    show,
    start,
    status,
)
from conversations.documents.step import handle

__all__ = [
    "STEP_ID",
    "FileDrop",
    "ItemStatus",
    "at_checklist",
    "handle",
    "item_line",
    "missing_required",
    "open_item_ids",
    "progress_line",
    "receive_upload",
    "show",
    "start",
    "status",
]
