"""The Telegram channel: Bot API updates -> `Incoming`, `Outgoing` -> messages and inline keyboards.

Everything Telegram-specific lives here and nowhere else. The conversation itself (state, answers,
drafts) is in our database through handlers/runtime.py, never in python-telegram-bot's
ConversationHandler or persistence: PTB keeps those in one process's memory (PTB #4452, #5225),
so a second worker or a restart would lose the thread. PTB is used for what it is good at: the
Bot API's methods, errors and types, long polling and running updates concurrently. Its HTTP
requests go through our aiohttp client (request.py) instead of httpx, which was a third of the
CPU per answered message.

How an update travels (CPU per update, 50 owners writing at once on SQLite, the whole process:
1.6 ms, 3.3 with PTB's httpx client and Message objects. About a quarter of it is Telegram's side:
aiohttp's requests and socket work 0.19 ms, getUpdates with PTB's `Update` 0.08, this adapter
0.07, PTB's dispatch and the per-user turn 0.04; the rest is the runtime, engine and database):
- Long polling or a webhook (registration.py says which and how). A webhook update is processed
  before the 200 goes back, so a crash before the answer makes Telegram deliver it again. Either
  way, `(telegram, update_id)` is recorded in the same transaction as the update's effects, so a
  redelivery is never applied twice.
- ordering.py's `PerUserProcessor` runs one user's updates one at a time in arrival order and
  different users concurrently, in the runtime's per-user turn, held while the replies go out
  (handling alone would not keep the order of a quick tap-then-type).
- Replies (render.py): choices become an inline keyboard (one button per row, two when both are
  short), and a text goes out as the Bot API's JSON, keyboard included, without the PTB objects
  nobody reads; a tapped keyboard is answered (answerCallbackQuery) and removed, the choice
  appended as "✓ label", so an old button cannot be pressed twice into a finished step. Texts over
  4096 characters are split with the keyboard on the last part.
- What a Bot API error means is read once, in sender.py's `classify`; the runtime acts on it
  (429: wait and retry twice at most; 403 "blocked" or a `my_chat_member` "kicked": the identity
  is marked unreachable). Anything else that breaks is recorded as a dead letter and the user
  gets an apology: never silence. A malformed update (no chat, a number for text; updates.py's
  `well_formed`) is skipped with one log line.

Nothing here logs what a user wrote, their name or their Telegram id.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import CallbackQuery, Chat, ChatMemberUpdated, Message, Update
from telegram.constants import ChatMemberStatus, ChatType, MessageLimit
from telegram.error import BadRequest
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from conversations.i18n import N_, translator
from conversations.messages import TELEGRAM, Incoming, Outgoing, command_of
from handlers import webhooks
from handlers.channel_context import ChannelContext
from handlers.channels.telegram.albums import AlbumProcessor, Albums
from handlers.channels.telegram.lean_application import LeanApplication
from handlers.channels.telegram.ordering import MAX_RUNNING
from handlers.channels.telegram.registration import (
    SECRET_HEADER,
    TelegramConfig,
    register_webhook,
    set_commands,
    start_polling,
    webhook_path,
    webhook_target,
)
from handlers.channels.telegram.render import edit_text, remove_keyboard, send_outgoing
from handlers.channels.telegram.request import AiohttpRequest, env_proxy
from handlers.channels.telegram.sender import classify_any
from handlers.channels.telegram.updates import file_of, well_formed
from handlers.runtime import Gone, Malformed, Runtime, log_failure, skip_malformed
from storage.files import FileStore

log = logging.getLogger(__name__)

CONNECTIONS = 256  # PTB's default pool for Bot API calls (getUpdates has its own)
POOL_TIMEOUT = 30.0  # seconds a request may wait for a free connection under a burst (PTB: 1 s)
POLL_TIMEOUT = timedelta(seconds=30)  # long poll: Telegram answers at once when an update arrives
MAX_WEBHOOK_BODY = 1024 * 1024  # an update is a few kilobytes
STOP_GRACE = 10.0  # seconds stop() waits for webhook updates in hand
PRESSED = "✓"

UNSUPPORTED = N_(
    "I can read text messages, button taps, PDF files and photos. Please type your answer or tap a button."
)

T = TypeVar("T")


class TelegramChannel:
    """The Telegram side of `python -m bot run`.

    `attach_routes(web_app)` before the aiohttp server starts (the webhook route), `start()` once it
    runs, `stop()` first on shutdown (so no update is taken that could not be answered).
    """

    def __init__(
        self,
        config: TelegramConfig,
        pipeline: Runtime,
        sessions: async_sessionmaker[AsyncSession],
        files: FileStore | None = None,
        *,
        max_running: int = MAX_RUNNING,
        poll_timeout: timedelta = POLL_TIMEOUT,
        take_over: bool = False,
    ) -> None:
        token = config.telegram_token
        if not token:
            raise ValueError("TELEGRAM_BOT_TOKEN is not set")
        self.pipeline = pipeline
        self.sessions = sessions
        self.files = files
        self.webhook_url = config.telegram_webhook_url
        self.webhook_secret = config.telegram_webhook_secret
        if self.webhook_url and not self.webhook_secret:
            raise ValueError("TELEGRAM_WEBHOOK_SECRET is required when TELEGRAM_WEBHOOK_URL is set")
        self.path = webhook_path(token)
        self._target = webhook_target(self.webhook_url, token) if self.webhook_url else None
        self._poll_timeout = poll_timeout
        self._take_over = take_over
        self._accepting = False
        self._routes_attached = False
        self._in_flight = 0  # webhook updates being handled
        self._idle = asyncio.Event()
        self.albums = Albums()  # an album's photos are one message (albums.py)
        proxy = env_proxy(config.telegram_api_base_url)
        builder = (
            ApplicationBuilder()
            .application_class(LeanApplication)  # keeps nothing per user for ever (its docstring)
            .token(token)
            .base_url(config.telegram_api_base_url)
            .base_file_url(config.telegram_file_base_url)
            .concurrent_updates(AlbumProcessor(pipeline, self.albums, max_running))
            # aiohttp rather than PTB's httpx client: a third less CPU per reply (request.py)
            .request(AiohttpRequest(CONNECTIONS, pool_timeout=POOL_TIMEOUT, proxy=proxy))
            .get_updates_request(AiohttpRequest(1, proxy=proxy))
            .job_queue(None)  # reminders are database rows swept by the scheduler, not PTB jobs
        )
        if self.webhook_mode:
            builder = builder.updater(None)
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_error)

    @property
    def webhook_mode(self) -> bool:
        return bool(self.webhook_url)

    # --- lifecycle --------------------------------------------------------------------------------

    def attach_routes(self, web_app: web.Application) -> None:
        """Register the webhook route (webhook mode only); the app's router freezes when it starts."""
        if self.webhook_mode and not self._routes_attached:
            web_app.router.add_post(self.path, self._webhook, name="telegram.webhook")
            self._routes_attached = True

    async def start(self, web_app: web.Application | None = None) -> None:
        if self.webhook_mode and not self._routes_attached:
            if web_app is None or web_app.frozen:
                raise RuntimeError(
                    "TelegramChannel.attach_routes must be called before the web server starts"
                )
            self.attach_routes(web_app)
        app = self.application
        await app.initialize()  # getMe: fails here, loudly, on a wrong token
        try:
            await set_commands(app, self.pipeline.default_locale)
            await app.start()
            self._accepting = True
            if self.webhook_mode:
                assert self._target is not None and self.webhook_secret is not None
                await register_webhook(app, self._target, self.webhook_secret)
            else:
                await start_polling(app, self._poll_timeout, take_over=self._take_over)
        except BaseException:
            await self.stop()
            raise
        log.info(
            "telegram: @%s %s", app.bot.username, "webhook registered" if self.webhook_mode else "polling"
        )

    async def stop(self) -> None:
        """Stop taking updates, finish the ones in hand, close the HTTP client.

        The webhook stays registered: Telegram keeps updates while we restart, and another
        worker behind the same URL may still be serving.
        """
        self._accepting = False
        app = self.application
        if self._in_flight:  # webhook requests being answered: let them finish their replies
            try:
                async with asyncio.timeout(STOP_GRACE):
                    await self._idle.wait()
            except TimeoutError:
                log.warning("telegram: stopped with %d webhook updates still being handled", self._in_flight)
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()

    # --- webhook ------------------------------------------------------------------------------------

    async def _webhook(self, request: web.Request) -> web.Response:
        refused = webhooks.refuse(
            request,
            channel=TELEGRAM,
            header=SECRET_HEADER,
            secret=self.webhook_secret or "",
            accepting=self._accepting,
            max_body=MAX_WEBHOOK_BODY,
        )
        if refused is not None:
            return refused
        try:
            data = json.loads(await request.read())
            update = Update.de_json(data, self.application.bot)
        except Exception:
            log.warning("telegram webhook: unreadable update refused")
            return web.Response(status=400)
        if not well_formed(update):
            # Answered 200 so Telegram does not redeliver what can never be handled.
            log.info("telegram webhook: malformed update skipped")
            return web.Response(status=200)
        # Processed before answering: a crash midway leaves the update unanswered and Telegram
        # redelivers it; the pipeline's dedupe makes the second delivery harmless.
        app = self.application
        self._in_flight += 1
        self._idle.clear()
        try:
            await app.update_processor.process_update(update, app.process_update(update))
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()
        return web.Response(status=200)

    # --- updates ------------------------------------------------------------------------------------

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            if update.my_chat_member is not None:
                await self._member_changed(update.my_chat_member)
            elif update.callback_query is not None:
                await self._on_callback(update, update.callback_query)
            elif update.message is not None:
                await self._on_message(update, update.message)
        except Gone:
            pass  # nothing more can reach this user; already marked when permanent
        except Malformed as exc:
            skip_malformed(TELEGRAM, str(update.update_id), str(exc))
        except Exception as exc:
            await self._failed(update, exc)

    async def _on_message(self, update: Update, message: Message) -> None:
        user = message.from_user
        if not isinstance(message.chat, Chat) or not isinstance(message.chat.id, int):
            raise Malformed("a message without a chat")
        if message.text is not None and not isinstance(message.text, str):
            raise Malformed("a message whose text is not a string")
        if user is None or message.chat.type != ChatType.PRIVATE:
            return  # a facility talks to the bot in a private chat; groups are not served
        user_id = str(user.id)
        common: dict[str, Any] = {
            "channel": TELEGRAM,
            "user_id": user_id,
            "update_id": str(update.update_id),
            "locale_hint": user.language_code,
            # Shown to colleagues in staff lists ("who has this dossier"); never logged.
            "display_name": user.full_name or None,
        }
        if message.text is not None:
            command = command_of(message.text)
            incoming = Incoming(
                **common,
                text=None if command else message.text,
                command=command[0] if command else None,
                command_args=command[1] if command else "",
                # "Restart bot" after unblocking sends /start: marked reachable with the update.
                reachable_again=command is not None and command[0] == "start",
            )
        else:
            files = [f for m in await self.albums.gather(message) if (f := file_of(self.application.bot, m))]
            file = files[0] if files else None
            if file is None:  # a sticker, a location, a contact...: say what we can read
                locale = await self.pipeline.locale_of(TELEGRAM, user_id, user.language_code)
                await self._send(user_id, message.chat.id, Outgoing(text=translator(locale)(UNSUPPORTED)))
                return
            incoming = Incoming(**common, file=file, more_files=tuple(files[1:]))
        replies = await self._engine(incoming)
        for reply in replies:  # [] for a redelivered update: it was answered the first time
            await self._send(user_id, message.chat.id, reply)

    async def _on_callback(self, update: Update, query: CallbackQuery) -> None:
        user_id = str(query.from_user.id)
        message = query.message
        if query.data is not None and not isinstance(query.data, str):
            raise Malformed("a button tap whose data is not a string")
        if (message is not None and message.chat.type != ChatType.PRIVATE) or not query.data:
            await self._answer(user_id, query)
            return
        incoming = Incoming(
            channel=TELEGRAM,
            user_id=user_id,
            update_id=str(update.update_id),
            choice=query.data,
            locale_hint=query.from_user.language_code,
            display_name=query.from_user.full_name or None,
        )
        replies = await self._engine(incoming)
        if not replies:
            return  # a redelivery: the first delivery answered the query and removed the keyboard
        chat_id = message.chat.id if message is not None else query.from_user.id

        async def send_replies() -> None:
            for reply in replies:
                await self._send(user_id, chat_id, reply)

        # The spinner stops, the old keyboard goes and the reply comes, without waiting on each other.
        results = await asyncio.gather(
            self._answer(user_id, query),
            self._mark_pressed(user_id, query),
            send_replies(),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _member_changed(self, change: ChatMemberUpdated) -> None:
        """In a private chat Telegram reports exactly this: the user blocked or unblocked the bot."""
        if change.chat.type != ChatType.PRIVATE:
            return
        user_id = str(change.from_user.id)
        status = change.new_chat_member.status
        if status == ChatMemberStatus.BANNED:
            await self.pipeline.set_unreachable(TELEGRAM, user_id, "blocked the bot (my_chat_member: kicked)")
        elif status == ChatMemberStatus.MEMBER:
            await self.pipeline.set_reachable(TELEGRAM, user_id)

    async def _engine(self, incoming: Incoming) -> list[Outgoing]:
        return await self.pipeline.handle(incoming)

    # --- replies --------------------------------------------------------------------------------------

    async def _send(self, user_id: str, chat_id: int, out: Outgoing) -> None:
        async def call(make: Callable[[], Awaitable[T]]) -> T:
            return await self._api(user_id, make)

        await send_outgoing(self.application.bot, chat_id, out, call=call, files=self.files)

    async def _answer(self, user_id: str, query: CallbackQuery) -> None:
        """Every tap is answered, or the user's button keeps spinning."""
        try:
            await self._api(user_id, query.answer)
        except BadRequest as exc:  # too old (a slow redelivery): nothing left to stop
            log.info("telegram: callback query not answered: %s", exc)

    async def _mark_pressed(self, user_id: str, query: CallbackQuery) -> None:
        """Remove the tapped keyboard so a finished step cannot be answered twice, and keep the
        choice visible as "✓ label" under the question."""
        message = query.message
        if message is None:
            return
        bot, chat_id, message_id = self.application.bot, message.chat.id, message.message_id
        label = None
        if isinstance(message, Message) and message.reply_markup is not None:
            for row in message.reply_markup.inline_keyboard:
                for button in row:
                    if button.callback_data == query.data:
                        label = button.text
        text = message.text if isinstance(message, Message) else None
        try:
            if text and label and len(text) + len(label) + 4 <= MessageLimit.MAX_TEXT_LENGTH:
                new_text = f"{text}\n\n{PRESSED} {label}"
                await self._api(user_id, lambda: edit_text(bot, chat_id, message_id, new_text))
            else:
                await self._api(user_id, lambda: remove_keyboard(bot, chat_id, message_id))
        except BadRequest as exc:  # already edited ("not modified"), or too old to edit
            log.info("telegram: tapped keyboard not removed: %s", exc)

    async def _api(self, user_id: str, call: Callable[[], Awaitable[T]]) -> T:
        """One Bot API call for this user, through the runtime: a 429 waited out, a user who is
        gone marked and `Gone` raised."""
        return await self.pipeline.deliver(TELEGRAM, user_id, call, classify_any)

    # --- failures -----------------------------------------------------------------------------------

    async def _failed(self, update: Update, exc: Exception) -> None:
        """Record the update as a dead letter and apologise: the user is never left in silence,
        and the channel goes on with the next update."""
        await self.pipeline.failed(TELEGRAM, str(update.update_id), exc)
        user, chat = update.effective_user, update.effective_chat
        if user is None:
            return
        user_id = str(user.id)
        try:
            if update.callback_query is not None:
                await self._answer(user_id, update.callback_query)
            apology = await self.pipeline.apology(TELEGRAM, user_id, user.language_code)
            await self._api(
                user_id, lambda: self.application.bot.send_message(chat.id if chat else user.id, apology)
            )
        except Exception as second:
            log.warning(
                "telegram: could not apologise for update %s: %s", update.update_id, type(second).__name__
            )

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Errors PTB caught outside our handler; the type only (an update holds personal data)."""
        error = context.error
        if error is not None:
            log_failure(log, "telegram: PTB", error)


class TelegramContext(ChannelContext[TelegramConfig], Protocol):
    """What `telegram_component` reads from bot.components.Context beyond every channel's part."""

    @property
    def take_over(self) -> bool: ...
    @property
    def files(self) -> FileStore: ...


def telegram_component(context: TelegramContext) -> TelegramChannel | None:
    """The factory for bot.components.FACTORIES: Telegram runs when TELEGRAM_BOT_TOKEN is set.
    (Proactive messages have their own Bot: handlers/channels/telegram/sender.py.)"""
    if not context.config.telegram_token:
        return None
    return TelegramChannel(
        context.config, context.pipeline, context.sessions, context.files, take_over=context.take_over
    )
