"""What the outreach modules share: who may use which staff tool, labels of levels and product
groups, and small validators."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from conversations.i18n import N_
from conversations.messages import Choice
from conversations.payloads import go
from conversations.run import Run
from conversations.validators import Invalid, Result, Valid
from storage import staff
from storage.outreach import Fair

if TYPE_CHECKING:
    from conversations.dialogue import Dialogue

OUTREACH_ROLES = ("broadcaster", "admin")
ANY_STAFF = ("broadcaster", "admin", "reviewer")
NO_SCOPE: set[str] = set()

LEVEL_LABELS = {
    "commune": N_("Commune level"),
    "province": N_("Provincial level"),
    "region": N_("Regional level"),
    "nation": N_("National level"),
}
GROUP_LABELS = {
    "handicraft": N_("Handicrafts and fine arts"),
    "food": N_("Processed agricultural, forestry and aquatic products and food"),
    "machinery": N_("Equipment, machinery, tools and mechanical parts"),
    "other": N_("Other products"),
}
MENU = N_("🏠 Main menu")


async def scope(run: Run, roles: tuple[str, ...] = OUTREACH_ROLES) -> set[str] | None:
    """The provinces this user may act for with these roles: None for every province (a national
    admin), an empty set when they are not such staff."""
    members = await staff.roles_of(run.session, run.incoming.channel, run.incoming.user_id)
    return staff.scope_of(members, roles)


def actor(run: Run) -> str:
    return staff.actor_key(run.incoming.channel, run.incoming.user_id)


async def refuse_unless_staff(run: Run, dialogue: Dialogue, roles: tuple[str, ...] = OUTREACH_ROLES) -> bool:
    """True (and the usual "unknown command" answer) for anyone without these roles: a facility
    owner learns nothing about staff tools."""
    if await scope(run, roles) == NO_SCOPE:
        await dialogue.unknown_command(run)
        return True
    return False


def menu_choice(run: Run) -> Choice:
    return Choice(run.t(MENU), go("menu"))


def needs_profile(run: Run) -> bool:
    return run.account.locale is None or run.account.consent_at is None or run.facility is None


def local_today(run: Run) -> date:
    return run.today


def date_value(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def text_block(min_len: int, max_len: int) -> Callable[[str], Result]:
    """Free text keeping its line breaks (an announcement has paragraphs), trimmed."""

    def validate(text: str) -> Result:
        cleaned = unicodedata.normalize("NFC", text).strip()
        if len(cleaned) < min_len:
            return Invalid(
                N_("Please type at least {min_len} characters."),
                N_("For example: Hội chợ mở đăng ký"),
                {"min_len": min_len},
            )
        if len(cleaned) > max_len:
            return Invalid(
                N_("Please keep it within {max_len} characters; this text has {length}."),
                N_("For example: Hội chợ mở đăng ký"),
                {"max_len": max_len, "length": len(cleaned)},
            )
        return Valid(cleaned)

    return validate


def fair_facts(run: Run, fair: Fair) -> list[str]:
    """When and where a fair is, its funded booths and its deadline: the lines every description
    of a fair shares (the staff's view, the announcement staff are offered)."""
    t = run.t
    return [
        t(
            N_("📅 {start} – {end}, at {place}"),
            start=t.date(fair.starts_on),
            end=t.date(fair.ends_on),
            place=fair.place,
        ),
        t(N_("🎪 Funded booths: {booths}"), booths=t.number(fair.funded_booths)),
        t(N_("⏳ Register by {date}."), date=t.date(fair.registration_deadline)),
    ]
