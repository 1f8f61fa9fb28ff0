"""When and how a proactive message may reach someone on the Zalo Official Account (OA).

The OA's rules (../shared/reference/platforms.md D1–D3), decided here and nowhere else, as pure
functions of the clock and what we know of the recipient:
- a consultation message ("tin tư vấn") only within 7 days of the user's last interaction
  (Zalo answers -230 otherwise, so it is not even tried);
- outside that window a reminder or status notice goes as ZNS (a pre-approved template by phone
  number) when the owner gave a phone and agreed to ZNS, and only 06:00–22:00 local time;
  otherwise it is recorded as "outside the window";
- a promotion-type message (a staff broadcast) goes only 08:00–22:00, at most one per user per
  day, and never as ZNS (ZNS templates must not be promotional).
The numbers are settings of `OaPolicy`: each is second-hand, and a province can correct one
without touching the logic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

OUTSIDE_WINDOW = "outside the window"
NO_TEMPLATE = "outside the window: no ZNS template for this message"

Route = Literal["cs", "zns", "skip", "later"]


@dataclass(frozen=True)
class OaPolicy:
    timezone: str = "Asia/Ho_Chi_Minh"
    consultation_window: timedelta = timedelta(days=7)
    zns_hours: tuple[time, time] = (time(6, 0), time(22, 0))
    promotion_hours: tuple[time, time] = (time(8, 0), time(22, 0))
    promotions_per_day: int = 1

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(ZoneInfo(self.timezone))

    def day_start(self, moment: datetime) -> datetime:
        """Midnight local time of `moment`'s day, in UTC (a "day" for the promotion cap)."""
        local = self.local(moment)
        return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


@dataclass(frozen=True)
class Decision:
    route: Route
    reason: str = ""
    not_before: datetime | None = None


def _opens(policy: OaPolicy, now: datetime, hours: tuple[time, time]) -> datetime | None:
    """None when `now` is inside the local hours, else when they next open (UTC)."""
    local = policy.local(now)
    start, end = hours
    if start <= local.time() < end:
        return None
    opening = local.replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
    if local.time() >= end:
        opening += timedelta(days=1)
    return opening.astimezone(UTC)


def in_window(policy: OaPolicy, now: datetime, last_interaction: datetime | None) -> bool:
    return last_interaction is not None and now - last_interaction < policy.consultation_window


def decide(
    policy: OaPolicy,
    *,
    now: datetime,
    last_interaction: datetime | None,
    promotion: bool,
    promotions_today: int = 0,
    zns_allowed: bool = False,
    has_template: bool = False,
) -> Decision:
    """The route of one proactive message. `zns_allowed`: the owner gave a phone and agreed to
    ZNS; `has_template`: the province configured a ZNS template for this kind of message."""
    inside = in_window(policy, now, last_interaction)
    if promotion:
        if not inside:
            return Decision("skip", OUTSIDE_WINDOW)
        opens = _opens(policy, now, policy.promotion_hours)
        if opens is not None:
            return Decision("later", "promotion hours", opens)
        if promotions_today >= policy.promotions_per_day:
            tomorrow = policy.day_start(now) + timedelta(days=1)
            return Decision("later", "one promotion a day", _opens(policy, tomorrow, policy.promotion_hours))
        return Decision("cs")
    if inside:
        return Decision("cs")
    if not zns_allowed:
        return Decision("skip", OUTSIDE_WINDOW)
    if not has_template:
        return Decision("skip", NO_TEMPLATE)
    opens = _opens(policy, now, policy.zns_hours)
    if opens is not None:
        return Decision("later", "ZNS hours", opens)
    return Decision("zns")
