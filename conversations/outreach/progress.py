"""A running broadcast as its staff member sees it: one progress message updated in place (sent,
remaining, blocked, failed, rate, expected finish; pause and cancel buttons), then a report.

`progress_updates` decides what to show from the outbox's counts; the caller (the scheduler in
handlers/workers/delivery.py) sends or edits it and records the result with `record_shown`. On a channel
that cannot edit a message (the web chat), a new progress message is added at most every
`append_every` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from conversations.i18n import N_, Translator, translator
from conversations.messages import Choice, Outgoing
from conversations.outreach.oa_window import OUTSIDE_WINDOW
from conversations.payloads import go
from storage import outbox, outreach, zalo_oa
from storage.outreach import Broadcast

STATE = {
    "running": N_("sending"),
    "paused": N_("paused"),
    "done": N_("finished"),
    "cancelled": N_("cancelled"),
}


@dataclass
class Update:
    broadcast_id: int
    channel: str
    external_id: str
    message: Outgoing
    edit_ref: str | None  # edit this message instead of sending a new one
    report: bool
    sent: int


def _n(t: Translator, value: int) -> str:
    return t.number(value)


def progress_message(
    b: Broadcast, counts: dict[str, int], rate: float | None, eta: datetime | None, t: Translator, tz: str
) -> Outgoing:
    sent = counts.get("sent", 0)
    remaining = sum(counts.get(s, 0) for s in outbox.OPEN_STATUSES)
    lines = [
        t(N_("📣 Broadcast #{id}: {state}"), id=b.id, state=t(STATE.get(b.status, b.status))),
        t(N_("Sent: {sent} of {total}"), sent=_n(t, sent), total=_n(t, b.total)),
        t(N_("Remaining: {remaining}"), remaining=_n(t, remaining)),
        t(
            N_("Blocked the bot: {blocked} · Failed: {failed}"),
            blocked=_n(t, counts.get("unreachable", 0)),
            failed=_n(t, counts.get("failed", 0)),
        ),
    ]
    if counts.get("skipped"):
        lines.append(t(N_("Opted out meanwhile: {skipped}"), skipped=_n(t, counts["skipped"])))
    if b.status == "running" and rate:
        line = t(N_("Rate: {rate} messages/s"), rate=t.number(round(rate, 1)))
        if eta is not None and remaining:
            line += " · " + t(N_("expected to finish at {time}"), time=t.datetime(eta, tz)[:5])
        lines.append(line)
    choices: list[Choice] = []
    if b.status == "running":
        choices = [Choice(t(N_("⏸ Pause")), go("broadcast", "pause", b.id))]
    elif b.status == "paused":
        choices = [Choice(t(N_("▶️ Resume")), go("broadcast", "resume", b.id))]
    if b.status in ("running", "paused"):
        choices.append(Choice(t(N_("✖ Cancel")), go("broadcast", "cancel", b.id)))
    return Outgoing(text="\n".join(lines), choices=choices)


def report_message(
    b: Broadcast, counts: dict[str, int], doubtful: int, now: datetime, t: Translator
) -> Outgoing:
    if b.status == "cancelled":
        head = t(N_("✖ Broadcast #{id} was cancelled. Report:"), id=b.id)
    else:
        minutes = max(int((now - b.created_at).total_seconds() // 60), 0)
        took = t(N_("less than a minute")) if minutes < 1 else t(N_("{minutes} min"), minutes=minutes)
        head = t(N_("✅ Broadcast #{id} finished in {took}. Report:"), id=b.id, took=took)
    lines = [
        head,
        t(N_("Recipients: {total}"), total=_n(t, b.total)),
        t(N_("Delivered: {sent}"), sent=_n(t, counts.get("sent", 0))),
        t(N_("Blocked the bot or account closed: {blocked}"), blocked=_n(t, counts.get("unreachable", 0))),
        t(N_("Could not be delivered: {failed}"), failed=_n(t, counts.get("failed", 0))),
    ]
    if counts.get("skipped"):
        lines.append(t(N_("Opted out before their turn: {skipped}"), skipped=_n(t, counts["skipped"])))
    if counts.get("outside_window"):
        lines.append(
            t(
                N_("Not sent, outside Zalo's 7-day window: {outside}"),
                outside=_n(t, counts["outside_window"]),
            )
        )
    if counts.get("cancelled"):
        lines.append(t(N_("Not sent (cancelled): {cancelled}"), cancelled=_n(t, counts["cancelled"])))
    if doubtful:
        lines.append(
            t(N_("Sent again after a restart, may have arrived twice: {doubtful}"), doubtful=doubtful)
        )
    return Outgoing(text="\n".join(lines), choices=[Choice(t(N_("📣 New broadcast")), go("broadcast"))])


async def progress_updates(
    session: AsyncSession,
    now: datetime,
    *,
    tz: str,
    can_edit: Callable[[str], bool],
    edit_every: timedelta = timedelta(seconds=2),
    append_every: timedelta = timedelta(seconds=30),
) -> list[Update]:
    """What each watched broadcast's staff member should see now (nothing when unchanged)."""
    updates: list[Update] = []
    for b in await outreach.broadcasts_to_watch(session):
        counts = await outbox.batch_counts(session, b.batch)
        if counts.get("skipped"):
            # Zalo OA users whose 7-day window had closed are not "opted out": counted apart.
            outside = await zalo_oa.skipped_for_reason(session, b.batch, OUTSIDE_WINDOW)
            if outside:
                counts["skipped"] -= outside
                counts["outside_window"] = outside
        open_rows = sum(counts.get(s, 0) for s in ("pending", "claimed", "sending"))
        if b.status == "running" and open_rows == 0 and not counts.get("held"):
            b.status = "done"
        if b.status in ("done", "cancelled") and open_rows == 0:
            if b.finished_at is None:
                b.finished_at = now
            t = translator(b.staff_locale)
            editable = can_edit(b.staff_channel) and b.progress_ref is not None
            if editable:
                final = progress_message(b, counts, None, None, t, tz)
                updates.append(
                    Update(b.id, b.staff_channel, b.staff_external_id, final, b.progress_ref, False, 0)
                )
            doubtful = await outbox.batch_doubtful(session, b.batch)
            report = report_message(b, counts, doubtful, now, t)
            updates.append(Update(b.id, b.staff_channel, b.staff_external_id, report, None, True, 0))
            continue
        sent = counts.get("sent", 0)
        rate = eta = None
        if b.progress_at is not None and now > b.progress_at:
            rate = (sent - b.progress_sent) / (now - b.progress_at).total_seconds()
            remaining = sum(counts.get(s, 0) for s in outbox.OPEN_STATUSES)
            if rate > 0:
                eta = now + timedelta(seconds=remaining / rate)
        message = progress_message(b, counts, rate, eta, translator(b.staff_locale), tz)
        if b.progress_text is not None and _same(b.progress_text, message.text):
            continue
        editable = can_edit(b.staff_channel)
        last = b.progress_at
        if last is not None and now - last < (edit_every if editable else append_every):
            continue
        ref = b.progress_ref if editable else None
        updates.append(Update(b.id, b.staff_channel, b.staff_external_id, message, ref, False, sent))
    return updates


def _same(old: str, new: str) -> bool:
    """Unchanged apart from the rate line (which moves with every tick)."""
    return old.split("\n")[:5] == new.split("\n")[:5] and len(old.split("\n")) == len(new.split("\n"))


async def record_shown(session: AsyncSession, update: Update, ref: str | None, now: datetime) -> None:
    b = await session.get(Broadcast, update.broadcast_id)
    if b is None:
        return
    if update.report:
        b.report_sent = True
        return
    if update.edit_ref is None and ref is not None:
        b.progress_ref = ref
    b.progress_text = update.message.text
    b.progress_at = now
    b.progress_sent = update.sent
