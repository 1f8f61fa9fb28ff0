"""What every console page shares: the app's console state, the signed-in desk, dates in the
configured time zone, and rendering a page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.dialogue import Dialogue
from conversations.run import Run
from conversations.staff.access import Staff
from storage.console_auth import SignedIn


@dataclass
class Console:
    sessions: async_sessionmaker[AsyncSession]
    dialogue: Dialogue
    secure_cookies: bool
    timezone: str

    def now(self) -> datetime:
        return self.dialogue.clock()


CONSOLE: web.AppKey[Console] = web.AppKey("console", Console)


@dataclass
class Desk:
    """One signed-in request: the member as the chat's staff logic sees them, and a `Run` for it."""

    request: web.Request
    session: AsyncSession
    member: Staff
    signed: SignedIn
    run: Run
    console: Console

    @property
    def t(self) -> Any:
        return self.run.t

    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.console.timezone)

    def when(self, value: datetime | None) -> str:
        return self.run.t.datetime(value, self.console.timezone) if value else ""

    def day(self, value: datetime | date | None) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = value.astimezone(self.tz()).date()
        return value.strftime(
            "%d/%m/%Y"
        )  # the catalogs' date format in every locale, without Babel's cost per cell

    def today(self) -> date:
        return self.run.now.astimezone(self.tz()).date()

    def start_of(self, day: date) -> datetime:
        """Midnight of a local day, in UTC, for comparisons with stored times."""
        return datetime.combine(day, time(0), self.tz()).astimezone(UTC)

    def render(self, template: str, status: int = 200, **context: Any) -> web.Response:
        context.update(
            _=self.run.t,
            desk=self,
            csrf=self.signed.csrf,
            locale=self.run.t.locale,
            member=self.member,
        )
        return aiohttp_jinja2.render_template(template, self.request, context, status=status)
