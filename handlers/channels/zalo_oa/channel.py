"""The Zalo Official Account channel: signed webhook events -> `Incoming`, replies as
consultation messages, and the component `python -m bot run` starts when ZALO_OA_APP_ID and
ZALO_OA_SECRET_KEY are set.

The OA console, not the API, sets the webhook URL: the start-up log prints the one to paste,
`PUBLIC_BASE_URL/zalo-oa/<digest>`, a path nobody guesses without the app id and the secret key.
Each request is checked (`X-ZEvent-Signature`, constant time) before any field is used; a wrong
or missing signature gets 401 and nothing happens. An event is handled before the 200 goes back,
and a redelivery is dropped by the pipeline's dedupe on `message.msg_id`.

Events: text (commands too), image and file (a PDF lands in the checklist as a Telegram document
does; images sent together, one event each, are gathered into one message by handlers/bursts.py),
sticker and anything unknown (a short hint), follow (the greeting, and how to link an
existing profile) and unfollow (the user becomes unreachable). Every event a user makes restarts
their 7-day consultation window (storage.zalo_oa). Nothing here logs a user id, text or token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations import filecheck
from conversations.dialogue import Dialogue
from conversations.i18n import N_, translator
from conversations.messages import ZALO_OA, FileRef, Incoming, Outgoing, command_of
from handlers import webhooks
from handlers.bursts import BURST_QUIET, Bursts
from handlers.channel_context import ChannelContext
from handlers.channels.zalo_oa import webhook
from handlers.channels.zalo_oa.client import OaApiError, OaClient, OaError
from handlers.channels.zalo_oa.render import render
from handlers.channels.zalo_oa.sender import IN_DOUBT, OaSender, send_error
from handlers.channels.zalo_oa.tokens import NoRefreshToken, TokenKeeper
from handlers.file_links import FileLinks
from handlers.runtime import Gone, Runtime
from handlers.senders import SendError
from handlers.startup import StartRefused
from storage import accounts, zalo_oa

log = logging.getLogger(__name__)

MAX_WEBHOOK_BODY = 256 * 1024
USER_EVENTS = ("user_send", "user_submit", "follow")  # what a user does; not receipts, not the OA's own
INTERACTION_STEP = timedelta(minutes=10)

CANNOT_READ = N_(
    "I can read text, photos and PDF files. Please type your answer, or the number of an option."
)
FOLLOW_LINK = N_(
    "Already talking with us on Telegram, Zalo or the web chat? Send /phone to find your profile by "
    "the mobile number you gave there, or /link in both apps to use the same profile and dossiers."
)


class OaConfig(Protocol):
    @property
    def zalo_oa_app_id(self) -> str | None: ...
    @property
    def zalo_oa_secret_key(self) -> str | None: ...
    @property
    def zalo_oa_app_secret(self) -> str | None: ...
    @property
    def zalo_oa_refresh_token(self) -> str | None: ...
    @property
    def zalo_oa_api_base_url(self) -> str: ...
    @property
    def zalo_oauth_base_url(self) -> str: ...
    @property
    def zalo_zns_api_base_url(self) -> str: ...
    @property
    def public_base(self) -> str: ...


def zalo_oa_component(context: ChannelContext[OaConfig]) -> ZaloOaChannel | None:
    """bot.components' factory: the channel when ZALO_OA_APP_ID and ZALO_OA_SECRET_KEY are set."""
    config = context.config
    if not (config.zalo_oa_app_id and config.zalo_oa_secret_key):
        return None
    channel = ZaloOaChannel(
        config, context.pipeline, context.sessions, context.dialogue, links=context.file_links
    )
    context.senders[ZALO_OA] = channel.sender
    return channel


def webhook_path(app_id: str, secret_key: str) -> str:
    """Unguessable without the secret key, stable across restarts and workers."""
    return webhooks.webhook_path("zalo-oa", f"{app_id}:{secret_key}")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ZaloOaChannel:
    def __init__(
        self,
        config: OaConfig,
        pipeline: Runtime,
        sessions: async_sessionmaker[AsyncSession],
        dialogue: Dialogue,
        *,
        links: FileLinks | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        app_id, secret_key = config.zalo_oa_app_id, config.zalo_oa_secret_key
        if not app_id or not secret_key:
            raise ValueError("ZALO_OA_APP_ID and ZALO_OA_SECRET_KEY are required")
        self.app_id, self.secret_key = app_id, secret_key
        self.pipeline = pipeline
        self.sessions = sessions
        self.settings = dialogue.settings
        self.clock = clock
        self.client = OaClient(
            app_id=app_id,
            app_secret=config.zalo_oa_app_secret,
            api_base=config.zalo_oa_api_base_url,
            oauth_base=config.zalo_oauth_base_url,
            zns_base=config.zalo_zns_api_base_url,
        )
        self.tokens = TokenKeeper(sessions, self.client, config.zalo_oa_refresh_token, clock=clock)
        self.sender = OaSender(
            self.client, self.tokens, sessions, public_base=config.public_base, links=links, clock=clock
        )
        self.path = webhook_path(app_id, secret_key)
        self.webhook_url = config.public_base.rstrip("/") + self.path
        self._accepting = False
        self.bursts: Bursts[str, dict[str, Any]] = Bursts(BURST_QUIET)  # images sent together

    def attach_routes(self, web_app: web.Application) -> None:
        web_app.router.add_post(self.path, self._webhook, name="zalo_oa.webhook")

    async def start(self) -> None:
        await self.client.open()
        try:
            await self.tokens.access_token()  # a wrong app secret or a spent token fails here
        except NoRefreshToken:
            await self.client.close()
            raise StartRefused(
                "ZALO_OA_REFRESH_TOKEN: no refresh token is stored or set; expected the refresh "
                "token from the OA's OAuth authorisation"
            ) from None
        except OaApiError as exc:
            await self.client.close()
            raise StartRefused(
                f"ZALO_OA_APP_SECRET / ZALO_OA_REFRESH_TOKEN: Zalo refused the token refresh "
                f"(error {exc.code}); expected the secret of app ZALO_OA_APP_ID and an unused "
                "refresh token"
            ) from None
        self._accepting = True
        log.info("zalo oa: paste this webhook URL into the OA console: %s", self.webhook_url)

    async def stop(self) -> None:
        self._accepting = False
        await self.client.close()

    # --- receiving --------------------------------------------------------------------------------

    async def _webhook(self, request: web.Request) -> web.StreamResponse:
        if (request.content_length or 0) > MAX_WEBHOOK_BODY:
            return web.Response(status=413)
        raw = await request.content.read(MAX_WEBHOOK_BODY + 1)
        header = request.headers.get(webhook.SIGNATURE_HEADER, "")
        event = webhook.verified_event(header, self.app_id, raw, self.secret_key)
        if len(raw) > MAX_WEBHOOK_BODY or event is None:
            log.warning("zalo oa webhook: request with a wrong or missing signature refused")
            return web.Response(status=401)
        if not self._accepting:
            return web.Response(status=503, headers={"Retry-After": "5"})
        await self.dispatch(event)  # handled before answering; a redelivery is deduplicated
        return web.json_response({"error": 0})

    async def dispatch(self, event: dict[str, Any]) -> None:
        """One verified event, in its user's turn; never raises."""
        user_id = webhook.user_of(event)
        name = event.get("event_name")
        if user_id is None or not isinstance(name, str):
            return
        update_id = webhook.update_id_of(event)
        if name.startswith(USER_EVENTS) and self.bursts.arrive(user_id, event, joins=name == webhook.IMAGE):
            return  # handled with the burst's first image
        # across_processes: the interaction record and the replies are transactions of their own
        turn = self.pipeline.turn(ZALO_OA, user_id, across_processes=True)
        async with turn, self.bursts.held(user_id, event):
            try:
                await self._handle(name, event, user_id, update_id)
            except Gone:
                pass
            except Exception as exc:
                await self._failed(update_id, user_id, exc)

    async def _handle(self, name: str, event: dict[str, Any], user_id: str, update_id: str) -> None:
        if name == webhook.RECEIVED:
            await self._receipt(event)
            return
        if name == webhook.UNFOLLOW:
            async with self.sessions() as session, session.begin():
                await zalo_oa.record_interaction(session, user_id, self.clock(), following=False)
            await self.pipeline.set_unreachable(ZALO_OA, user_id, "unfollowed the OA")
            return
        if not name.startswith(USER_EVENTS):
            return  # seen / received receipts and the OA's own messages: nothing to answer
        await self._interacted(user_id, follow=name == webhook.FOLLOW)
        burst = await self.bursts.gather(user_id, event) if name == webhook.IMAGE else [event]
        incoming = self._incoming(name, event, user_id, update_id, burst)
        if incoming is None:
            await self._cannot_read(user_id, update_id)
            return
        replies = await self.pipeline.handle(incoming)
        if name == webhook.FOLLOW and replies:
            t = translator(await self.pipeline.locale_of(ZALO_OA, user_id))
            replies = [*replies, Outgoing(text=t(FOLLOW_LINK))]
        await self._reply(user_id, replies)

    async def _receipt(self, event: dict[str, Any]) -> None:
        """A ZNS message arrived: settle its outbox row if a crash left it in doubt (the row was
        failed "in doubt" rather than sent twice; now we know it went)."""
        row_id = webhook.tracking_id_of(event)
        if row_id is None:
            return
        async with self.sessions() as session, session.begin():
            costs = {t.key: t.cost for t in self.sender.templates}
            await zalo_oa.settle_in_doubt(session, row_id, IN_DOUBT, self.clock(), costs)

    async def _interacted(self, user_id: str, *, follow: bool) -> None:
        """Restart the user's 7-day window. Written at most every `INTERACTION_STEP`: a write per
        event would queue every event behind SQLite's one writer, and a record up to that much
        older than the truth only closes the window that much early (the safe side)."""
        now = self.clock()
        async with self.sessions() as session:
            known = await zalo_oa.oa_user(session, user_id)
            identity = await accounts.find_identity(session, ZALO_OA, user_id)
        if (
            known is not None
            and now - known.last_interaction_at < INTERACTION_STEP
            and (known.following or not follow)
            and (identity is None or identity.reachable)
        ):
            return
        async with self.sessions() as session, session.begin():
            await zalo_oa.record_interaction(session, user_id, now, following=True if follow else None)
            await accounts.mark_reachable(session, ZALO_OA, user_id)

    def _incoming(
        self, name: str, event: dict[str, Any], user_id: str, update_id: str, burst: list[dict[str, Any]]
    ) -> Incoming | None:
        common: dict[str, Any] = {
            "channel": ZALO_OA,
            "user_id": user_id,
            "update_id": update_id,
            "has_buttons": False,  # a tapped button comes back as text: numbers and labels both work
        }
        if name == webhook.FOLLOW:
            return Incoming(**common, command="start")
        text = webhook.text_of(event)
        if name == webhook.TEXT and text:
            command = command_of(text)
            return Incoming(
                **common,
                text=None if command else text,
                command=command[0] if command else None,
                command_args=command[1] if command else "",
            )
        files = [
            self._file(name, attachment, webhook.update_id_of(part))
            for part in burst
            if (attachment := webhook.attachment_of(part)) is not None
        ]
        if name in (webhook.IMAGE, webhook.FILE) and files:
            return Incoming(**common, file=files[0], more_files=tuple(files[1:]))
        return None

    def _file(self, name: str, attachment: webhook.Attachment, update_id: str) -> FileRef:
        client, limit = self.client, self.settings.max_file_bytes

        async def read() -> bytes:
            return await client.download(attachment.url, limit)

        safe = "".join(ch for ch in update_id if ch.isalnum())[:40] or "file"
        if name == webhook.IMAGE:
            return FileRef(
                filename=f"zalo_{safe}.jpg", content_type="image/jpeg", size=attachment.size, read=read
            )
        filename = attachment.name or f"zalo_{safe}.pdf"
        kind = attachment.content_type or ("application/pdf" if filename.lower().endswith(".pdf") else "")
        if filecheck.kind_from_name(filename, kind) is None:
            kind = kind or "application/octet-stream"
        return FileRef(filename=filename, content_type=kind, size=attachment.size, read=read)

    async def _cannot_read(self, user_id: str, update_id: str) -> None:
        if not await self.pipeline.first_delivery(ZALO_OA, update_id):
            return
        t = translator(await self.pipeline.locale_of(ZALO_OA, user_id))
        await self._reply(user_id, [Outgoing(text=t(CANNOT_READ))])

    # --- replying ---------------------------------------------------------------------------------

    async def _reply(self, user_id: str, replies: list[Outgoing]) -> None:
        """Consultation messages through the runtime: a 429 waited out, a user who is gone
        marked (then `Gone` ends this event's replies)."""
        for message in render(replies, self.sender.public_base, self.sender.links):
            await self.pipeline.deliver(
                ZALO_OA, user_id, partial(self.sender.reply, user_id, message), _classify
            )

    async def _failed(self, update_id: str, user_id: str, exc: Exception) -> None:
        """Dead letter and apology (runtime's policy); the channel goes on with the next event."""
        await self.pipeline.failed(ZALO_OA, update_id, exc)
        try:
            await self._reply(user_id, [Outgoing(text=await self.pipeline.apology(ZALO_OA, user_id))])
        except Exception as second:
            log.warning("zalo oa: could not apologise for event %s: %s", update_id, type(second).__name__)


def _classify(exc: Exception) -> SendError | None:
    return send_error(exc) if isinstance(exc, OaError) else None
