"""The Zalo channel (Zalo Bot Platform): events -> `Incoming`, `Outgoing` -> plain text messages.

Everything Zalo-specific lives here and in handlers/channels/zalo/client.py. The platform is Telegram-like
but smaller, and this adapter bridges the gaps:
- No buttons: choices are sent as a numbered menu ("1. Có"), and the dialogue takes "1" or the
  option's words back (`Incoming.has_buttons` False). Only the last menu of a reply is numbered,
  since it is the one the dialogue resolves numbers against; earlier ones are bullet lists.
- Texts over 2,000 characters are split at paragraphs, lines or words (handlers/render.py).
- Photos arrive as a URL: the `FileRef` downloads it only if the engine wants it, reading at most
  one byte more than the size limit. No PDFs either way (`Incoming.can_send_documents` False): the
  checklist answers with a one-time link to our upload page (handlers/channels/webchat/upload_page.py), attached
  here, whose links are made absolute with PUBLIC_BASE_URL.
- No update id: events are deduplicated on `message_id` by the pipeline, like Telegram's.
- Photos picked together arrive one event each, with no album id: consecutive images of a chat
  are gathered into one `Incoming` (handlers/bursts.py, `BURST_QUIET`), one reply for all.
- Stickers, voice and withheld content ("message.unsupported.received", sent instead of what a
  protected user wrote) get a short reply saying what the bot can read.

How an event arrives: with ZALO_WEBHOOK_URL set, Zalo POSTs each event to
`/zalo/<sha256(token)[:32]>` on our aiohttp server; handlers/webhooks.py checks the
`X-Bot-Api-Secret-Token` header before anything is read (401 otherwise), and the event is handled
before the 200 goes back. Without it, one loop long-polls getUpdates (one event per call). One
user's events are handled in the runtime's per-user turn, replies included; different users
side by side.

Ordering, dedupe, dead letters, apologies and unreachable marking are handlers/runtime.py's;
what a Zalo error means is client.py's `send_error`, read once for replies and the outbox.
Nothing here logs what a user wrote, their name, their Zalo id, or the token.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Coroutine
from typing import Any, Protocol

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.dialogue import Dialogue
from conversations.i18n import N_, translator
from conversations.messages import ZALO, FileRef, Incoming, Outgoing, command_of
from handlers import webhooks
from handlers.bursts import BURST_QUIET, Bursts
from handlers.channel_context import ChannelContext
from handlers.channels.webchat.upload_page import UploadPage
from handlers.channels.zalo.client import ZaloClient, ZaloError, ZaloSender, render, send_error
from handlers.file_links import FileLinks
from handlers.runtime import Gone, Runtime, skip_malformed
from handlers.senders import Sender, SendError
from storage import accounts

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Bot-Api-Secret-Token"
MAX_WEBHOOK_BODY = 256 * 1024  # one event is a few hundred bytes
MAX_RUNNING = 32  # events of different users in the engine at once (polling)
POLL_WAIT = 30  # seconds a getUpdates call waits for an event
MAX_BACKOFF = 30.0  # seconds between failed getUpdates calls, at most
MAX_UPDATE_ID = 64  # the pipeline's processed_updates column

TEXT = "message.text.received"
IMAGE = "message.image.received"
STICKER = "message.sticker.received"
VOICE = "message.voice.received"
WITHHELD = "message.unsupported.received"

CANNOT_READ = N_("I can read text and photos only. Please type your answer, or the number of an option.")
VOICE_REPLY = N_("I cannot listen to voice messages. Please type your answer, or the number of an option.")
WITHHELD_REPLY = N_(
    "Zalo did not pass the content of this message on to me. Please type your answer as text, or send /menu."
)


class ZaloConfig(Protocol):
    """What the channel reads from bot.config.Config (handlers/ does not import bot/)."""

    @property
    def zalo_token(self) -> str | None: ...
    @property
    def zalo_api_base_url(self) -> str: ...
    @property
    def zalo_webhook_url(self) -> str | None: ...
    @property
    def zalo_webhook_secret(self) -> str | None: ...
    @property
    def public_base(self) -> str: ...


def zalo_component(context: ChannelContext[ZaloConfig]) -> ZaloChannel | None:
    """bot.components' factory: the channel when ZALO_BOT_TOKEN is set, its sender registered."""
    if not context.config.zalo_token:
        return None
    channel = ZaloChannel(
        context.config,
        context.pipeline,
        context.sessions,
        context.dialogue,
        context.senders,
        links=context.file_links,
    )
    context.senders[ZALO] = channel.sender
    return channel


def webhook_path(token: str) -> str:
    return webhooks.webhook_path(ZALO, token)


def webhook_target(public_url: str, token: str) -> str:
    """ZALO_WEBHOOK_URL is where Zalo reaches this server; the path is ours to add."""
    return webhooks.webhook_target(public_url, webhook_path(token))


def _classify(exc: Exception) -> SendError | None:
    return send_error(exc) if isinstance(exc, ZaloError) else None


class ZaloChannel:
    """The Zalo side of `python -m bot run`: `attach_routes` before the web server starts (webhook
    and upload page), `start()` once it runs, `stop()` first on shutdown."""

    def __init__(
        self,
        config: ZaloConfig,
        pipeline: Runtime,
        sessions: async_sessionmaker[AsyncSession],
        dialogue: Dialogue,
        senders: dict[str, Sender],
        *,
        poll_wait: int = POLL_WAIT,
        max_running: int = MAX_RUNNING,
        links: FileLinks | None = None,
    ) -> None:
        token = config.zalo_token
        if not token:
            raise ValueError("ZALO_BOT_TOKEN is not set")
        self.webhook_url = config.zalo_webhook_url
        self.webhook_secret = config.zalo_webhook_secret or ""
        if self.webhook_url and not 8 <= len(self.webhook_secret) <= 256:
            raise ValueError("ZALO_WEBHOOK_SECRET must be 8 to 256 characters when ZALO_WEBHOOK_URL is set")
        self.pipeline = pipeline
        self.sessions = sessions
        self.settings = dialogue.settings
        self.client = ZaloClient(token, config.zalo_api_base_url)
        self.sender = ZaloSender(self.client, config.public_base, links)
        self.upload_page = UploadPage(sessions, dialogue, senders)
        self.path = webhook_path(token)
        self._target = webhook_target(self.webhook_url, token) if self.webhook_url else None
        self._poll_wait = poll_wait
        self._slots = asyncio.Semaphore(max_running)
        self._tasks: set[asyncio.Task[None]] = set()
        self._poller: asyncio.Task[None] | None = None
        self._accepting = False
        self.bursts: Bursts[str, dict[str, Any]] = Bursts(BURST_QUIET)  # images sent together
        self.received = 0  # events taken from getUpdates so far (tests wait on it)

    @property
    def webhook_mode(self) -> bool:
        return bool(self.webhook_url)

    # --- lifecycle --------------------------------------------------------------------------------

    def attach_routes(self, web_app: web.Application) -> None:
        if self.webhook_mode:
            web_app.router.add_post(self.path, self._webhook, name="zalo.webhook")
        self.upload_page.attach(web_app)

    async def start(self) -> None:
        await self.client.open()
        await self.client.get_me()  # a wrong token fails here, loudly, not at the first message
        if self.webhook_mode:
            assert self._target is not None
            await self.client.set_webhook(self._target, self.webhook_secret)
        elif (await self.client.get_webhook_info()).get("url"):
            # getUpdates answers nothing while a webhook is set (left from an earlier deployment).
            await self.client.delete_webhook()
            log.info("zalo: removed the webhook of an earlier deployment to poll instead")
        self._accepting = True
        if not self.webhook_mode:
            self._poller = asyncio.create_task(self._poll(), name="zalo-poll")
        log.info("zalo: %s", "webhook registered" if self.webhook_mode else "polling")

    async def stop(self) -> None:
        """Stop taking events, finish the ones in hand, close the HTTP client."""
        self._accepting = False
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None
        await self.drain()
        await self.client.close()

    async def drain(self) -> None:
        """Wait until every event taken so far is handled and answered."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- receiving --------------------------------------------------------------------------------

    async def _webhook(self, request: web.Request) -> web.StreamResponse:
        refused = webhooks.refuse(
            request,
            channel=ZALO,
            header=SECRET_HEADER,
            secret=self.webhook_secret,
            accepting=self._accepting,
            max_body=MAX_WEBHOOK_BODY,
        )
        if refused is not None:
            return refused
        raw = await request.content.read(MAX_WEBHOOK_BODY + 1)
        try:
            body = json.loads(raw) if len(raw) <= MAX_WEBHOOK_BODY else None
        except ValueError:
            body = None
        event = body.get("result", body) if isinstance(body, dict) else None
        if not isinstance(event, dict) or not isinstance(event.get("event_name"), str):
            log.warning("zalo webhook: unreadable event refused")
            return web.Response(status=400)
        # Handled before answering: the pipeline's dedupe makes a redelivery harmless.
        await self._track(self._dispatch(event))
        return web.json_response({"ok": True})

    async def _poll(self) -> None:
        backoff = 1.0
        while True:
            try:
                event = await self.client.get_update(self._poll_wait)
            except ZaloError as exc:
                log.warning("zalo: getUpdates failed (%s); retrying in %.0f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            backoff = 1.0
            if event is None:
                continue
            await self._slots.acquire()  # a backlog waits at Zalo, not in our memory
            self.received += 1
            self._track(self._dispatch(event)).add_done_callback(lambda _: self._slots.release())

    def _track(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run an event's handling as a task `drain()` (and so `stop()`) waits for."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _dispatch(self, event: dict[str, Any]) -> None:
        """One event, in its user's turn; never raises."""
        message = event.get("message")
        name = str(event.get("event_name"))
        if not isinstance(message, dict):
            skip_malformed(ZALO, "?", f"a {name[:40]} event without a message")
            return
        update_id = _update_id(name, message)
        raw_chat = message.get("chat")
        chat = raw_chat if isinstance(raw_chat, dict) else {}
        chat_id = chat.get("id")
        if not isinstance(chat_id, str | int) or isinstance(chat_id, bool) or not str(chat_id):
            skip_malformed(ZALO, update_id, "a message without a chat")
            return
        chat_id = str(chat_id)
        if str(chat.get("chat_type") or "PRIVATE").upper() != "PRIVATE":
            return  # a facility talks to the bot in a private chat; groups (beta) are not served
        if self.bursts.arrive(chat_id, message, joins=name == IMAGE):
            return  # handled with the burst's first image
        async with self.pipeline.turn(ZALO, chat_id), self.bursts.held(chat_id, message):
            try:
                await self._handle(name, message, chat_id, update_id)
            except Gone:
                pass
            except Exception as exc:
                await self._failed(update_id, chat_id, exc)

    async def _handle(self, name: str, message: dict[str, Any], chat_id: str, update_id: str) -> None:
        async with self.sessions() as session:
            first_time = await accounts.find_identity(session, ZALO, chat_id) is None
        # A sticker is how many people say hello on Zalo: the first one gets the greeting.
        burst = await self.bursts.gather(chat_id, message) if name == IMAGE else [message]
        incoming = self._incoming(name, message, chat_id, update_id, greet=first_time, burst=burst)
        if incoming is None:
            await self.pipeline.set_reachable(ZALO, chat_id)  # they wrote: we may write back
            await self._cannot_read(name, chat_id, update_id)
            return
        typing = asyncio.create_task(self._typing(chat_id))
        replies = await self.pipeline.handle(incoming)
        await typing
        await self._reply(chat_id, replies)  # [] for a redelivered event: answered the first time

    def _incoming(
        self,
        name: str,
        message: dict[str, Any],
        chat_id: str,
        update_id: str,
        *,
        greet: bool = False,
        burst: list[dict[str, Any]] | None = None,
    ) -> Incoming | None:
        raw_sender = message.get("from")
        sender = raw_sender if isinstance(raw_sender, dict) else {}
        common: dict[str, Any] = {
            "channel": ZALO,
            "user_id": chat_id,  # in a private chat the chat is the user, and it is what we send to
            "update_id": update_id,
            "display_name": sender.get("display_name")
            if isinstance(sender.get("display_name"), str)
            else None,
            "can_send_documents": False,
            "has_buttons": False,
            "reachable_again": True,  # they wrote: we may write back (marked with the update)
        }
        text = message.get("text")
        if name == TEXT and isinstance(text, str) and text.strip():
            command = command_of(text)
            return Incoming(
                **common,
                text=None if command else text.strip(),
                command=command[0] if command else None,
                command_args=command[1] if command else "",
            )
        photos = [
            self._photo(url, _update_id(IMAGE, part))
            for part in burst or [message]
            if isinstance(url := part.get("photo"), str) and url.lower().startswith(("https://", "http://"))
        ]
        if name == IMAGE and photos:
            return Incoming(**common, file=photos[0], more_files=tuple(photos[1:]))
        if name == STICKER and greet:
            return Incoming(**common, command="start")
        return None

    def _photo(self, url: str, update_id: str) -> FileRef:
        client, settings = self.client, self.settings

        async def read() -> bytes:
            return await client.download(url, settings.max_file_bytes)

        # The size is unknown until downloaded; the engine checks the bytes it reads.
        safe = "".join(ch for ch in update_id if ch.isalnum())[:40] or "photo"
        return FileRef(filename=f"zalo_{safe}.jpg", content_type="image/jpeg", size=0, read=read)

    async def _cannot_read(self, name: str, chat_id: str, update_id: str) -> None:
        if not await self.pipeline.first_delivery(ZALO, update_id):
            return
        t = translator(await self.pipeline.locale_of(ZALO, chat_id))
        msgid = {VOICE: VOICE_REPLY, WITHHELD: WITHHELD_REPLY}.get(name, CANNOT_READ)
        await self._reply(chat_id, [Outgoing(text=t(msgid))])

    # --- replying ---------------------------------------------------------------------------------

    async def _reply(self, chat_id: str, replies: list[Outgoing]) -> None:
        for text in render(replies, self.sender.public_base, self.sender.links):
            await self._send_text(chat_id, text)

    async def _send_text(self, chat_id: str, text: str) -> None:
        """One message, through the runtime: a 429 waited out, a user who is gone marked."""
        await self.pipeline.deliver(ZALO, chat_id, lambda: self.client.send_message(chat_id, text), _classify)

    async def _typing(self, chat_id: str) -> None:
        try:
            await self.client.send_chat_action(chat_id)
        except ZaloError as exc:  # only a nicety
            log.info("zalo: typing indicator not sent (%s)", type(exc).__name__)

    # --- failures --------------------------------------------------------------------------------

    async def _failed(self, update_id: str, chat_id: str, exc: Exception) -> None:
        """Record the event as a dead letter and apologise; the channel goes on with the next."""
        await self.pipeline.failed(ZALO, update_id, exc)
        try:
            await self._send_text(chat_id, await self.pipeline.apology(ZALO, chat_id))
        except Exception as second:
            log.warning("zalo: could not apologise for event %s: %s", update_id, type(second).__name__)


def _update_id(name: str, message: dict[str, Any]) -> str:
    """`message_id` is the only id an event has; an event without one (never seen, not promised
    otherwise) is known by a digest of its content, which a redelivery repeats."""
    message_id = message.get("message_id")
    if isinstance(message_id, str | int) and 0 < len(str(message_id)) <= MAX_UPDATE_ID:
        return str(message_id)
    digest = hashlib.sha256(json.dumps([name, message], sort_keys=True, default=str).encode("utf-8"))
    return "sha256:" + digest.hexdigest()[:48]
