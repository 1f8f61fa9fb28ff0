"""/staff/broadcasts and /staff/fairs: announcements and fairs from the desk.

A broadcast is composed with the chat's audience filters (province, commune, product group,
certificate level, fair), previewed as recipients will see it with the count per channel, then
sent through the chat's own `start_broadcast` (one outbox row per recipient); the list shows each
broadcast's progress in the chat's words and refreshes itself while one runs, with pause, resume
and cancel (`broadcasts.control`), and the final report. Fairs and rounds are listed with their
deadlines; a fair's registrations export as XLSX. Creating and moving fairs and rounds stays in
the chat for now (/fairs, /rounds).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiMapping
from sqlalchemy import select

from conversations.i18n import N_
from conversations.outreach import audience as audiences
from conversations.outreach.broadcasts import MAX_TEXT, control, may_see, payload_for, start_broadcast
from conversations.outreach.common import GROUP_LABELS, LEVEL_LABELS, OUTREACH_ROLES, local_today
from conversations.outreach.progress import progress_message, report_message
from conversations.outreach.render import render_payload
from handlers.console.auth import desk_page
from handlers.console.common import Desk
from storage import outbox, outreach
from storage.outreach import Broadcast

CHANNEL_NAMES = {"telegram": "Telegram", "zalo": "Zalo", "web": "Web"}
NOBODY = N_("Nobody matches this audience (or everyone in it opted out).")
TEXT_NEEDED = N_("Please write the message (at most {limit} characters).")


def _audience(desk: Desk, form: MultiMapping[Any]) -> tuple[audiences.Audience, dict[str, str]]:
    """The audience from the form, never wider than the member's provinces."""
    shown = {k: str(form.get(k, "")).strip()[:200] for k in ("province", "commune", "group", "level", "fair")}
    scope = desk.member.scope(OUTREACH_ROLES)
    provinces: tuple[str, ...] | None
    if scope is None:
        provinces = (shown["province"],) if shown["province"] else None
    elif shown["province"] in scope:
        provinces = (shown["province"],)
    else:
        provinces = tuple(sorted(scope))
    found = audiences.Audience(
        provinces=provinces,
        commune=shown["commune"] or None,
        product_group=shown["group"] if shown["group"] in GROUP_LABELS else None,
        cert_level=shown["level"] if shown["level"] in LEVEL_LABELS else None,
        fair_id=int(shown["fair"]) if shown["fair"].isdigit() else None,
    )
    return found, shown


async def _listed(desk: Desk) -> list[dict[str, Any]]:
    scope = desk.member.scope(OUTREACH_ROLES)
    rows = await desk.session.scalars(select(Broadcast).order_by(Broadcast.id.desc()).limit(30))
    out = []
    for b in rows:
        if not may_see(desk.run, b, scope):
            continue
        counts = await outbox.batch_counts(desk.session, b.batch)
        if b.status in ("running", "paused"):
            text = progress_message(b, counts, None, None, desk.t, desk.console.timezone).text
        else:
            doubtful = await outbox.batch_doubtful(desk.session, b.batch)
            text = report_message(b, counts, doubtful, b.finished_at or desk.run.now, desk.t).text
        out.append(
            {"b": b, "text": text, "when": desk.when(b.created_at), "preview": b.payload.get("text", "")}
        )
    return out


async def _page(desk: Desk, **context: Any) -> web.StreamResponse:
    scope = desk.member.scope(OUTREACH_ROLES)
    fairs = await outreach.open_fairs(desk.session, local_today(desk.run), None)
    if scope is not None:
        fairs = [f for f in fairs if f.province is None or f.province in scope]
    listed = await _listed(desk)
    context.setdefault("shown", {})
    context.setdefault("text", "")
    return desk.render(
        "broadcasts.html",
        nav="broadcasts",
        broadcasts=listed,
        running=any(item["b"].status == "running" for item in listed),
        provinces=sorted(scope) if scope is not None else None,
        groups=[(k, desk.t(v)) for k, v in GROUP_LABELS.items()],
        levels=[(k, desk.t(v)) for k, v in LEVEL_LABELS.items()],
        fairs=[(f.id, f.name) for f in fairs],
        max_text=MAX_TEXT,
        **context,
    )


@desk_page(OUTREACH_ROLES)
async def broadcasts_page(desk: Desk) -> web.StreamResponse:
    return await _page(desk)


@desk_page(OUTREACH_ROLES)
async def preview_or_send(desk: Desk) -> web.StreamResponse:
    form = await desk.request.post()
    found_audience, shown = _audience(desk, form)
    text = str(form.get("text", "")).strip()
    if not text or len(text) > MAX_TEXT:
        return await _page(desk, shown=shown, text=text, error=desk.t(TEXT_NEEDED, limit=MAX_TEXT))
    if form.get("send") == "1":
        broadcast = await start_broadcast(desk.run, found_audience, text, found_audience.fair_id)
        if broadcast is None:
            return await _page(desk, shown=shown, text=text, error=desk.t(NOBODY))
        raise web.HTTPSeeOther("/staff/broadcasts")
    found = await audiences.recipients(desk.session, found_audience, local_today(desk.run))
    rendered = render_payload(payload_for(text, found_audience.fair_id), desk.t)
    return await _page(
        desk,
        shown=shown,
        text=text,
        preview=[(m.text, [c.label for c in m.choices]) for m in rendered],
        count=found.count,
        channels=[
            (CHANNEL_NAMES.get(c, c), n) for c, n in sorted(found.channels.items(), key=lambda kv: -kv[1])
        ],
        error=desk.t(NOBODY) if not found.count else None,
    )


@desk_page(OUTREACH_ROLES)
async def act(desk: Desk) -> web.StreamResponse:
    b = await desk.session.get(Broadcast, int(desk.request.match_info["id"]))
    if b is None or not may_see(desk.run, b, desk.member.scope(OUTREACH_ROLES)):
        raise web.HTTPNotFound()
    await control(desk.run, b, desk.request.match_info["action"])
    raise web.HTTPSeeOther("/staff/broadcasts")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/staff/broadcasts", broadcasts_page)
    router.add_post("/staff/broadcasts", preview_or_send)
    router.add_post(r"/staff/broadcasts/{id:\d+}/{action:pause|resume|stop}", act)
