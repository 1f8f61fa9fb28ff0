"""The hours proactive messages may arrive (default 07:00–21:00, Asia/Ho_Chi_Minh).

Nobody in a provincial workshop should be woken by a reminder: outside the window the reminder
sweep fires nothing and the delivery worker holds reminder rows until it opens again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class SendingWindow:
    timezone: str = "Asia/Ho_Chi_Minh"
    start: time = time(7, 0)
    end: time = time(21, 0)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def today(self, moment: datetime) -> date:
        return self.local(moment).date()

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def contains(self, moment: datetime) -> bool:
        clock = self.local(moment).time()
        return self.start <= clock < self.end

    def next_open(self, moment: datetime) -> datetime:
        """`moment` itself inside the window, else when the window next opens (in UTC)."""
        if self.contains(moment):
            return moment
        local = self.local(moment)
        opening = local.replace(hour=self.start.hour, minute=self.start.minute, second=0, microsecond=0)
        if local.time() >= self.end:
            opening += timedelta(days=1)
        return opening.astimezone(UTC)

    def at(self, day: date, clock: time) -> datetime:
        """A local wall-clock time on a day, in UTC."""
        return datetime.combine(day, clock, tzinfo=self.zone).astimezone(UTC)
