"""The part of bot.components' Context a channel factory reads, declared once for every channel.

Typing only: `handlers/` may not import `bot/`, so each factory states what it needs from the
assembly as a Protocol; the channels differ only in their config's type.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.dialogue import Dialogue
from handlers.file_links import FileLinks
from handlers.runtime import Runtime
from handlers.senders import Sender

ConfigT_co = TypeVar("ConfigT_co", covariant=True)


class ChannelContext(Protocol[ConfigT_co]):
    @property
    def config(self) -> ConfigT_co: ...
    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]: ...
    @property
    def pipeline(self) -> Runtime: ...
    @property
    def dialogue(self) -> Dialogue: ...
    @property
    def senders(self) -> dict[str, Sender]: ...
    @property
    def file_links(self) -> FileLinks | None: ...
