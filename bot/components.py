"""The optional parts of the running system (channels, workers), each started when configured.

A component attaches its web routes before the server starts, starts after it, and stops before
the database closes. Each is built by a factory listed in `FACTORIES`, which returns None when
the component is not configured (no token): adding a channel or a worker is one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Config
from conversations.dialogue import Dialogue
from handlers.channels.telegram.adapter import telegram_component
from handlers.channels.telegram.sender import telegram_sender_component
from handlers.channels.zalo.adapter import zalo_component
from handlers.channels.zalo_oa import zalo_oa_component
from handlers.file_links import FileLinks
from handlers.runtime import Pipeline
from handlers.senders import Sender
from handlers.workers.delivery import delivery_component
from handlers.workers.scheduler import scheduler_component
from storage.files import FileStore


class Component(Protocol):
    def attach_routes(self, app: web.Application) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Context:
    """What components share: configuration, the database, the pipeline, the channels' senders."""

    config: Config
    sessions: async_sessionmaker[AsyncSession]
    pipeline: Pipeline
    dialogue: Dialogue
    files: FileStore
    senders: dict[str, Sender] = field(default_factory=dict)
    # Signed download links for channels that cannot carry a document (Zalo).
    file_links: FileLinks | None = None
    # `run --take-over`: a polling channel deletes a webhook registered by another deployment.
    take_over: bool = False


Factory = Callable[[Context], Component | None]

# Channels first (the Telegram channel before the Telegram sender for broadcasts), then the
# workers that use their senders.
FACTORIES: list[Factory] = [
    telegram_component,
    zalo_component,
    zalo_oa_component,
    telegram_sender_component,
    delivery_component,
    scheduler_component,
]
