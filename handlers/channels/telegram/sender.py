"""Telegram for the delivery worker: broadcasts, reminders and notices, on a Bot of its own.

The interactive channel (handlers/channels/telegram/adapter.py) answers people who are waiting; this sender works
through the outbox. It gets its own `telegram.Bot` (same token, same configured `base_url` and
`base_file_url`) with its own HTTP connection pool, so thousands of broadcast requests never queue
in front of a reply, and a 429 earned by a broadcast is handled by the worker for the broadcast
alone (PTB's AIORateLimiter would instead hold back every request of the bot after any 429).

Messages look exactly as the adapter renders them (`handlers.channels.telegram.render.send_outgoing`: the same
inline keyboards, the same splitting). Errors are told in the worker's vocabulary
(handlers/senders.py): a 429 is `RetryAfter`; a 403 saying the user blocked the bot or the
account is deactivated is `Unreachable` (only those: other 403s such as "bot can't send messages
to the user" have been seen to pass within minutes, so they are `Refused`, a `Transient`); "chat not found" is
`Unreachable`; network errors and 5xx are `Transient`; any other refusal (a 400 on this message)
is a plain `SendError`, which the worker treats as final for this message. It neither waits nor
retries: the worker decides, with the outbox row in hand.

`send` returns the ids of the messages it created, so the worker can later `edit` a broadcast's
progress message in place (editMessageText).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol

from telegram import Bot, Message
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError

from conversations.messages import TELEGRAM, Outgoing
from handlers import senders
from handlers.channels.telegram.render import edit_text, keyboard, send_outgoing
from handlers.channels.telegram.request import AiohttpRequest, env_proxy
from storage.files import FileStore

log = logging.getLogger(__name__)

# Requests in flight at once; the worker keeps well under this.
POOL_SIZE = 64
# Only these 403s mean the user is gone ("bot was blocked by the user", "user is deactivated",
# "bot was kicked"); others have been seen to pass within minutes.
GONE = ("blocked", "deactivated", "kicked")


class SenderConfig(Protocol):
    @property
    def telegram_token(self) -> str | None: ...
    @property
    def telegram_api_base_url(self) -> str: ...
    @property
    def telegram_file_base_url(self) -> str: ...


def classify(exc: TelegramError) -> senders.SendError:
    """A Bot API error as the delivery worker and the runtime (for replies) understand it: the
    one place Telegram's "retry after" and "permanently gone" are read."""
    if isinstance(exc, RetryAfter):
        with warnings.catch_warnings():  # PTB 22 warns that the attribute becomes a timedelta
            warnings.simplefilter("ignore")
            value = exc.retry_after
        seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
        return senders.RetryAfter(seconds)
    if isinstance(exc, Forbidden):
        text = exc.message.lower()
        if any(gone in text for gone in GONE):
            return senders.Unreachable(exc.message)
        return senders.Refused(exc.message)
    if isinstance(exc, BadRequest) and "chat not found" in exc.message.lower():
        return senders.Unreachable(exc.message)
    if isinstance(exc, ChatMigrated):
        return senders.SendError("the chat moved to a supergroup")
    if isinstance(exc, NetworkError) and not isinstance(exc, BadRequest):
        return senders.Transient(str(exc))  # includes TimedOut and 5xx answers
    return senders.SendError(exc.message if hasattr(exc, "message") else str(exc))


def classify_any(exc: Exception) -> senders.SendError | None:
    """`classify` for any exception the runtime catches; None when it is not Telegram's."""
    return classify(exc) if isinstance(exc, TelegramError) else None


class TelegramSender:
    channel = TELEGRAM

    def __init__(self, bot: Bot, files: FileStore | None = None) -> None:
        self.bot = bot
        self.files = files

    @classmethod
    def from_config(cls, config: SenderConfig, files: FileStore | None = None) -> TelegramSender:
        if not config.telegram_token:
            raise ValueError("TELEGRAM_BOT_TOKEN is not set")
        request = AiohttpRequest(
            POOL_SIZE, read_timeout=20.0, connect_timeout=10.0, proxy=env_proxy(config.telegram_api_base_url)
        )
        bot = Bot(
            config.telegram_token,
            base_url=config.telegram_api_base_url,
            base_file_url=config.telegram_file_base_url,
            request=request,
        )
        return cls(bot, files)

    async def start(self) -> None:
        await self.bot.initialize()

    async def stop(self) -> None:
        await self.bot.shutdown()

    async def send(self, external_id: str, messages: list[Outgoing]) -> list[str]:
        """Deliver in order; the ids of the messages created, for `edit`."""
        created: list[str] = []

        async def call(make: Callable[[], Awaitable[Any]]) -> Any:
            try:
                result = await make()
            except TelegramError as exc:
                raise classify(exc) from exc
            if isinstance(result, Message):  # a document
                created.append(str(result.message_id))
            elif isinstance(result, dict) and "message_id" in result:  # a text: render.send_text
                created.append(str(result["message_id"]))
            return result

        for out in messages:
            await send_outgoing(self.bot, int(external_id), out, call=call, files=self.files)
        return created

    async def edit(self, external_id: str, message_ref: str, out: Outgoing) -> None:
        """Replace a message's text and keyboard (a broadcast's progress)."""
        try:
            await edit_text(self.bot, int(external_id), int(message_ref), out.text[:4096], keyboard(out))
        except BadRequest as exc:
            if "not modified" in exc.message.lower():
                return
            raise classify(exc) from exc
        except TelegramError as exc:
            raise classify(exc) from exc


class _Component:
    """Starts and stops the sender's Bot with the system."""

    def __init__(self, sender: TelegramSender) -> None:
        self.sender = sender

    def attach_routes(self, app: Any) -> None:
        """No routes: it only sends."""

    async def start(self) -> None:
        await self.sender.start()

    async def stop(self) -> None:
        await self.sender.stop()


class SenderContext(Protocol):
    @property
    def config(self) -> SenderConfig: ...
    @property
    def files(self) -> FileStore: ...
    @property
    def senders(self) -> dict[str, Any]: ...


def telegram_sender_component(context: SenderContext) -> _Component | None:
    """The factory for bot.components.FACTORIES: when Telegram is configured, outbox messages go
    through this sender (it replaces a sender sharing the interactive bot, if one was set)."""
    if not context.config.telegram_token:
        return None
    sender = TelegramSender.from_config(context.config, context.files)
    context.senders[TELEGRAM] = sender
    return _Component(sender)
