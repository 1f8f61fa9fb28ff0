"""The staff console on the web: routes, templates and static files in one room.

Served by the same aiohttp application as the web chat, on the same database and through the
same staff logic (`conversations.staff`): this package only reads requests, checks the session
and renders pages. Pages are Jinja2 templates with autoescaping; every sentence comes from our
catalogs (`_` in the templates is the signed-in member's translator); no asset leaves the server
(no CDN: centres' servers may be offline). Charts are drawn here as SVG.

Routes, all under /staff/: login/{token}, logout, lang, "" (queue), dossiers/{code}[/...],
certificates, stats, broadcasts, fairs[/new, /N/edit], rounds/new, rounds/N/edit, export/*.xlsx,
static/*.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.dialogue import Dialogue
from handlers.console import auth, certificates, dossiers, exports, fairs, outreach, queue, stats, workbooks
from handlers.console.common import CONSOLE, Console

HERE = Path(__file__).resolve().parent


def setup_console(
    app: web.Application,
    *,
    sessions: async_sessionmaker[AsyncSession],
    dialogue: Dialogue,
    public_base_url: str,
) -> None:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=jinja2.select_autoescape(["html"], default=True),
    )
    env.trim_blocks = True
    env.lstrip_blocks = True
    app[CONSOLE] = Console(
        sessions=sessions,
        dialogue=dialogue,
        secure_cookies=public_base_url.lower().startswith("https://"),
        timezone=dialogue.settings.timezone,
    )
    app.on_cleanup.append(workbooks.close)
    app.router.add_static("/staff/static/", HERE / "static", name="console_static")
    for module in (auth, queue, dossiers, exports, certificates, stats, outreach, fairs):
        module.add_routes(app.router)
