"""What a channel offers the delivery worker: a way to send proactive messages, and the errors
that tell the worker (and handlers/runtime.py, for replies) what to do next: wait, give up on
this person, try again later. Each channel's `classify` turns its platform errors into these,
once, for both."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from conversations.messages import Outgoing


class SendError(Exception):
    """Base of the errors a sender raises; anything else is treated as transient."""


class RetryAfter(SendError):
    """The platform asked us to slow down (Telegram 429): wait `seconds`, then retry."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds}s")
        self.seconds = seconds


class Unreachable(SendError):
    """The user blocked the bot or no longer exists: mark them and never retry."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Transient(SendError):
    """A network error or a 5xx: retry with backoff, up to a bound."""


class Refused(Transient):
    """The platform refused this user for now, in words that have been seen to pass within
    minutes (Telegram's "bot can't send messages to the user"): the worker retries later; a
    reply in hand is dropped, and the user is not marked unreachable."""


class Skipped(SendError):
    """Not sent, on purpose, and not to be retried: a platform rule forbids it (Zalo OA: outside the
    7-day window with no ZNS possible). The reason goes into the report."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Later(SendError):
    """Not now for this one recipient (a platform's sending hours, a daily cap): hand the row back
    until `not_before`, without pausing the channel as a 429 does."""

    def __init__(self, not_before: datetime, reason: str) -> None:
        super().__init__(reason)
        self.not_before = not_before
        self.reason = reason


class Sender(Protocol):
    channel: str

    async def send(self, external_id: str, messages: list[Outgoing]) -> None:
        """Deliver the messages to one user, in order; raise a `SendError` on failure."""
        ...


@runtime_checkable
class RowSender(Protocol):
    """A sender that needs the outbox row itself, not only the address: the Zalo OA chooses the
    route (consultation message or ZNS) per row and uses the row id as ZNS's tracking id."""

    channel: str

    async def send_row(self, row: Any, messages: list[Outgoing]) -> None: ...
