"""Who may use which staff tool, and for which provinces.

Every staff command starts here. A person with no staff role gets exactly what an unknown
command gets (`Dialogue.unknown_command`), so nothing tells a facility owner that staff tools
exist; a staff member lacking the role is told which role it needs, since they know the tools.
Provinces scope everything: a dossier outside the scope is "not found", never "forbidden",
so its existence is not revealed either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from conversations.i18n import N_
from conversations.run import Run
from storage import staff
from storage.staff import StaffMember

if TYPE_CHECKING:
    from conversations.dialogue import Dialogue

REVIEW_ROLES = ("admin", "reviewer")
ADMIN_ROLES = ("admin",)
ANY_ROLE = staff.ROLES

ROLE_LABELS = {
    "admin": N_("administrator"),
    "reviewer": N_("reviewer"),
    "broadcaster": N_("broadcaster"),
}
NEEDS_ROLE = N_(
    "This needs the {role} role, which you do not have. Ask an administrator of your centre if you should."
)


@dataclass(frozen=True)
class Staff:
    """A staff member as they act now: their roles and the key that names them in the audit trail."""

    members: tuple[StaffMember, ...]
    actor: str

    def scope(self, roles: tuple[str, ...]) -> set[str] | None:
        """Provinces these roles cover: None for every province (a national admin)."""
        return staff.scope_of(list(self.members), roles)

    def has(self, roles: tuple[str, ...]) -> bool:
        return any(m.role in roles for m in self.members)

    def covers(self, roles: tuple[str, ...], province: str) -> bool:
        scope = self.scope(roles)
        return scope is None or province in scope


async def staff_of(run: Run) -> Staff | None:
    """The staff member writing, or None; keeps the name colleagues see them by up to date."""
    members = await staff.roles_of(run.session, run.incoming.channel, run.incoming.user_id)
    if not members:
        return None
    staff.note_name(members, run.incoming.display_name)
    return Staff(tuple(members), staff.actor_key(run.incoming.channel, run.incoming.user_id))


async def require(run: Run, dialogue: Dialogue, roles: tuple[str, ...]) -> Staff | None:
    """The staff member if they hold one of `roles`; otherwise answer for them and return None."""
    member = await staff_of(run)
    if member is None:
        await dialogue.unknown_command(run)
        return None
    if not member.has(roles):
        run.say(run.t(NEEDS_ROLE, role=run.t(ROLE_LABELS[roles[-1]])))
        return None
    return member


def scope_label(run: Run, scope: set[str] | None) -> str:
    """ "Hưng Yên" or "all provinces", for headings."""
    if scope is None:
        return run.t(N_("all provinces"))
    return ", ".join(sorted(scope))
