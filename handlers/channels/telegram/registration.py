"""How this deployment presents itself to Telegram: where updates come from and the command menu.

Long polling (default): PTB's Updater fetches updates and confirms them with the next offset.
Webhook (TELEGRAM_WEBHOOK_URL set): Telegram POSTs to `/telegram/<sha256(token)[:32]>` on our
aiohttp server, with the secret header that handlers/webhooks.py checks. A process in polling mode
refuses to start while a webhook is registered (another deployment takes the traffic there),
unless started with `--take-over`. The webhook stays registered when a worker stops: Telegram
keeps updates while we restart, and another worker behind the same URL may still be serving.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Protocol

from telegram import BotCommand
from telegram.error import TelegramError
from telegram.ext import Application

from conversations.i18n import N_, translator
from conversations.messages import TELEGRAM
from handlers import webhooks
from handlers.channels.telegram.sender import SenderConfig
from handlers.startup import StartRefused

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# What we ask Telegram for: my_chat_member tells us when a user blocks or unblocks the bot.
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
WEBHOOK_CONNECTIONS = 40  # Telegram's default

# Bot menu (setMyCommands), shown in the user's Telegram language.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", N_("Start or restart the conversation")),
    ("help", N_("What the assistant can do")),
    ("menu", N_("The main menu (your answers are kept)")),
    ("apply", N_("Prepare, continue or submit a dossier")),
    ("check", N_("Check whether your facility can join a programme")),
    ("status", N_("See your dossiers and where they are")),
    ("fairs", N_("Trade fairs open for registration")),
    ("language", N_("Change the language")),
    ("cancel", N_("Stop what you are doing (your answers are kept)")),
)


class TelegramConfig(SenderConfig, Protocol):
    """What the channel reads from bot.config.Config (handlers/ does not import bot/): the
    sender's token and URLs, and where a webhook is."""

    @property
    def telegram_webhook_url(self) -> str | None: ...
    @property
    def telegram_webhook_secret(self) -> str | None: ...


class WebhookRegistered(StartRefused):
    """Polling was asked for while a webhook is registered: another deployment takes the traffic."""


def webhook_path(token: str) -> str:
    return webhooks.webhook_path(TELEGRAM, token)


def webhook_target(public_url: str, token: str) -> str:
    """TELEGRAM_WEBHOOK_URL is where the public reaches this server; the path is ours to add."""
    return webhooks.webhook_target(public_url, webhook_path(token))


async def set_commands(app: Application[Any, Any, Any, Any, Any, Any], default_locale: str) -> None:
    """The command menu in Vietnamese and English; Telegram picks by the user's app language."""
    for language in (None, "vi", "en"):
        t = translator(language or default_locale)
        commands = [BotCommand(name, t(description)) for name, description in COMMANDS]
        try:
            await app.bot.set_my_commands(commands, language_code=language)
        except TelegramError as exc:  # the bot works without a menu; not worth failing start-up
            log.warning("telegram: setMyCommands(%s) failed: %s", language or "default", exc)


async def register_webhook(app: Application[Any, Any, Any, Any, Any, Any], target: str, secret: str) -> None:
    """Called once the process can take what Telegram sends right away."""
    await app.bot.set_webhook(
        url=target,
        secret_token=secret,
        allowed_updates=ALLOWED_UPDATES,
        max_connections=WEBHOOK_CONNECTIONS,
    )


async def start_polling(
    app: Application[Any, Any, Any, Any, Any, Any], poll_timeout: timedelta, *, take_over: bool
) -> None:
    """Long polling, unless a webhook is registered and we were not told to take it over."""
    assert app.updater is not None
    registered = (await app.bot.get_webhook_info()).url
    if registered and not take_over:
        raise WebhookRegistered(
            "a Telegram webhook is registered (another deployment receives the updates): "
            "set TELEGRAM_WEBHOOK_URL to run this process as a webhook worker, or start "
            "with --take-over to delete the webhook and poll instead"
        )
    if registered:
        log.warning("telegram: --take-over: deleting the registered webhook to poll instead")
    # Bootstrapping deletes the webhook (taken over above); pending updates stay.
    await app.updater.start_polling(
        timeout=poll_timeout,
        allowed_updates=ALLOWED_UPDATES,
        bootstrap_retries=3,
        drop_pending_updates=False,
        error_callback=_polling_error,
    )


def _polling_error(exc: TelegramError) -> None:
    """Polling keeps retrying by itself; say what happened without a traceback per attempt."""
    log.warning("telegram: getUpdates failed (%s: %s); retrying", type(exc).__name__, exc)
