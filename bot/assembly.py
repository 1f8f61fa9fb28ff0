"""Builds the running system from a `Config`: database, dialogue, pipeline, web server.

Kept separate from the command line so tests start exactly what `python -m bot run` starts.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.components import FACTORIES, Component, Context
from bot.config import Config
from conversations.dialogue import Dialogue
from conversations.i18n import set_display_timezone
from conversations.messages import WEB
from conversations.programmes import load_programmes
from conversations.run import Settings
from handlers.channels.webchat.chat import setup_webchat
from handlers.channels.webchat.transcript import WebSender
from handlers.console import setup_console
from handlers.file_links import FileLinks, load_secret
from handlers.runtime import Pipeline
from storage import staff
from storage.db import create_engine, is_sqlite, session_factory
from storage.files import FileStore
from storage.migrate import migrate

log = logging.getLogger(__name__)
MULTIPART_SLACK = 1024 * 1024  # headers and boundaries around an uploaded file


@dataclass
class System:
    config: Config
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    pipeline: Pipeline
    web_app: web.Application
    context: Context
    components: list[Component] = field(default_factory=list)
    runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The port actually bound (HTTP_PORT=0 picks a free one, as tests do)."""
        assert self.runner is not None
        for site in self.runner.sites:
            server = site._server
            if isinstance(server, asyncio.Server) and server.sockets:
                return int(server.sockets[0].getsockname()[1])
        return self.config.http_port

    async def start(self) -> None:
        self.runner = web.AppRunner(self.web_app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.config.http_host, self.config.http_port)
        await site.start()
        log.info("web chat on http://%s:%s", self.config.http_host, self.port)
        started: list[Component] = []
        try:
            for component in self.components:
                await component.start()
                started.append(component)
        except BaseException:
            # One refused to start (a registered webhook, a wrong token): stop what runs, close.
            self.components = started
            await self.stop()
            raise
        async with self.sessions() as session:
            if not await staff.listed(session):
                # "Talk to staff" then honestly says nobody is on duty; an operator should know.
                log.warning(
                    "no staff configured: owners asking for a person are told nobody is on duty; "
                    "add one with `python -m bot staff add` or STAFF_ADMINS"
                )

    async def stop(self) -> None:
        for component in reversed(self.components):
            try:
                await component.stop()
            except Exception:
                log.exception("stopping %s failed", type(component).__name__)
        if self.runner is not None:
            await self.runner.cleanup()
        await self.engine.dispose()


async def bootstrap_admins(sessions: async_sessionmaker[AsyncSession], config: Config) -> None:
    """STAFF_ADMINS are national admins from the first start, so someone can add the others."""
    async with sessions() as session, session.begin():
        for admin in config.staff_admins:
            await staff.add_staff(
                session,
                channel=admin.channel,
                external_id=admin.user_id,
                role="admin",
                province=None,
                added_by="STAFF_ADMINS",
            )


# Transactions at once (handlers/runtime.py): SQLite has one writer; PostgreSQL locks per user.
ENGINE_SLOTS_SQLITE = 1
ENGINE_SLOTS = 16


async def build_system(config: Config, *, take_over: bool = False) -> System:
    engine = create_engine(config.database_url)
    await migrate(engine)
    sessions = session_factory(engine)
    await bootstrap_admins(sessions, config)
    files = FileStore(config.files_dir)
    set_display_timezone(config.timezone)  # every date a person reads, on every channel
    settings = Settings(
        timezone=config.timezone,
        max_file_bytes=config.max_upload_mb * 1024 * 1024,
        public_base_url=config.public_base,
    )
    dialogue = Dialogue(programmes=load_programmes(), files=files, settings=settings)
    slots = ENGINE_SLOTS_SQLITE if is_sqlite(config.database_url) else ENGINE_SLOTS
    pipeline = Pipeline(sessions, dialogue, default_locale=config.default_locale, engine_slots=slots)
    app = web.Application(client_max_size=settings.max_file_bytes + MULTIPART_SLACK)
    setup_webchat(
        app,
        pipeline,
        sessions,
        max_upload_bytes=settings.max_file_bytes,
        public_base_url=config.public_base_url,
    )
    setup_console(app, sessions=sessions, dialogue=dialogue, public_base_url=config.public_base)
    file_links = FileLinks(files, load_secret(config.files_dir))
    file_links.attach(app)
    context = Context(
        config=config,
        sessions=sessions,
        pipeline=pipeline,
        dialogue=dialogue,
        files=files,
        senders={WEB: WebSender(sessions)},
        file_links=file_links,
        take_over=take_over,
    )
    components = [c for c in (factory(context) for factory in FACTORIES) if c is not None]
    for component in components:
        component.attach_routes(app)
    return System(
        config=config,
        engine=engine,
        sessions=sessions,
        pipeline=pipeline,
        web_app=app,
        context=context,
        components=components,
    )
