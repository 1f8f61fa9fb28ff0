"""/staff: administrators add and remove staff of their provinces from the chat.

The command line (`python -m bot staff add ...`) and STAFF_ADMINS remain the way in for the
first, national administrators; in the chat a provincial admin manages only their province's
staff, and a national admin any province. Nobody removes their own roles here (the last admin of
a province cannot lock everyone out by a slip of the thumb). Every change is an audit event with
the role before and after.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from conversations.i18n import N_
from conversations.messages import Choice
from conversations.payloads import go
from conversations.places import province_name_validator
from conversations.record_ids import record_id
from conversations.run import Run
from conversations.staff.access import ADMIN_ROLES, ROLE_LABELS, Staff, require, scope_label, staff_of
from conversations.steps import AskChoice, AskText, EndFlow, Flow, Option, Transition
from conversations.validators import Invalid, Result, Valid
from storage import audit, staff
from storage.staff import StaffMember

if TYPE_CHECKING:
    from conversations.dialogue import Dialogue

ADD = "staff_add"
CHANNELS = (
    Option("telegram", "Telegram", literal=True),
    Option("zalo", "Zalo", literal=True),
    Option("web", "Web", literal=True),
)
ROLE_OPTIONS = (
    Option("reviewer", N_("Reviewer: reviews dossiers, records certificates")),
    Option("broadcaster", N_("Broadcaster: sends announcements")),
    Option("admin", N_("Administrator: all of that, and manages staff")),
)
_USER_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")


def _may_manage(admin: Staff, member: StaffMember) -> bool:
    """Whether this admin may remove this role: within their provinces, never their own."""
    if staff.actor_key(member.channel, member.external_id) == admin.actor:
        return False
    scope = admin.scope(ADMIN_ROLES)
    return scope is None or (member.province is not None and member.province in scope)


async def _listed(run: Run, admin: Staff) -> list[StaffMember]:
    scope = admin.scope(ADMIN_ROLES)
    if scope is None:
        return await staff.listed(run.session)
    seen: dict[int, StaffMember] = {}
    for province in sorted(scope):
        for member in await staff.listed(run.session, province):
            seen[member.id] = member
    return list(seen.values())


async def cmd_staff(run: Run, args: str, dialogue: Dialogue) -> None:
    admin = await require(run, dialogue, ADMIN_ROLES)
    if admin is None:
        return
    run.engine.leave(run, keep=True)
    verb, _, rest = args.strip().partition(":")
    if verb == "add":
        scope = admin.scope(ADMIN_ROLES)
        fixed = next(iter(scope)) if scope is not None and len(scope) == 1 else None
        await run.engine.start(run, ADD, {"answers": {"province": fixed} if fixed else {}})
        return
    if verb in ("rm", "rmok") and (member_id := record_id(rest)) is not None:
        await _remove(run, admin, member_id, confirmed=verb == "rmok")
        return
    await show_staff(run, admin)


async def show_staff(run: Run, admin: Staff) -> None:
    members = await _listed(run, admin)
    lines = [run.t(N_("👥 Staff of {scope}:"), scope=scope_label(run, admin.scope(ADMIN_ROLES)))]
    choices = [Choice(run.t(N_("➕ Add a staff member")), go("staff", "add"))]
    for member in members:
        who = await staff.describe(run.session, staff.actor_key(member.channel, member.external_id))
        where = member.province or run.t(N_("all provinces"))
        lines.append(f"• {who} – {run.t(ROLE_LABELS[member.role])} – {where}")
        if _may_manage(admin, member):
            choices.append(
                Choice(f"➖ {who[:40]} ({run.t(ROLE_LABELS[member.role])})", go("staff", "rm", member.id))
            )
    run.say("\n".join(lines), choices)


async def _remove(run: Run, admin: Staff, member_id: int, *, confirmed: bool) -> None:
    member = await run.session.get(StaffMember, member_id)
    if member is None or not member.active or not _may_manage(admin, member):
        run.say(run.t(N_("You cannot remove that role.")))
        await show_staff(run, admin)
        return
    who = await staff.describe(run.session, staff.actor_key(member.channel, member.external_id))
    role = run.t(ROLE_LABELS[member.role])
    if not confirmed:
        run.say(
            run.t(N_("Remove the {role} role of {who}?"), role=role, who=who),
            [
                Choice(run.t(N_("➖ Yes, remove it")), go("staff", "rmok", member.id)),
                Choice(run.t(N_("⬅️ Back to the staff list")), go("staff")),
            ],
        )
        return
    before = {"role": member.role, "province": member.province, "active": True}
    member.active = False
    audit.record(
        run.session,
        actor=admin.actor,
        action="staff_removed",
        subject=f"staff:{member.id}",
        at=run.now,
        detail={
            "who": staff.actor_key(member.channel, member.external_id),
            "before": before,
            "after": {**before, "active": False},
        },
    )
    run.say(run.t(N_("Done: {who} is no longer {role}."), who=who, role=role))
    await show_staff(run, admin)


# --- adding ------------------------------------------------------------------------------------------------


def _user_id(text: str) -> Result:
    value = text.strip()
    if not _USER_ID.fullmatch(value):
        return Invalid(
            N_("Please type the user id as the app shows it, without spaces."), N_("For example: 123456789")
        )
    return Valid(value)


def _confirm_prompt(run: Run) -> str:
    answers = run.answers
    role = next(o.label for o in ROLE_OPTIONS if o.value == answers.get("role"))
    return run.t(
        N_("Give {channel} user {user_id} this role for {province}?\n{role}"),
        channel=staff.CHANNEL_NAMES.get(answers.get("channel", ""), ""),
        user_id=answers.get("user_id", ""),
        province=answers.get("province", ""),
        role=run.t(role),
    )


async def _add(run: Run, value: Any) -> Transition:
    admin = await staff_of(run)
    if value != "yes" or admin is None or not admin.has(ADMIN_ROLES):
        if admin is not None and admin.has(ADMIN_ROLES):
            await show_staff(run, admin)
        return EndFlow(show_menu=False)
    answers = run.answers
    province = str(answers["province"])
    scope = admin.scope(ADMIN_ROLES)
    if scope is not None and province not in scope:
        run.say(run.t(N_("You can add staff for {scope} only."), scope=scope_label(run, scope)))
        return EndFlow(show_menu=False)
    channel, external_id, role = str(answers["channel"]), str(answers["user_id"]), str(answers["role"])
    existing = [m for m in await staff.roles_of(run.session, channel, external_id) if m.role == role]
    before = {"role": role, "province": existing[0].province, "active": True} if existing else None
    member = await staff.add_staff(
        run.session,
        channel=channel,
        external_id=external_id,
        role=role,
        province=province,
        added_by=admin.actor,
    )
    audit.record(
        run.session,
        actor=admin.actor,
        action="staff_added",
        subject=f"staff:{member.id}",
        at=run.now,
        detail={
            "who": staff.actor_key(channel, external_id),
            "before": before,
            "after": {"role": role, "province": province, "active": True},
        },
    )
    run.say(
        run.t(
            N_(
                "Done: {channel} user {user_id} is now {role} for {province}. They can send /review or /stats."
            ),
            channel=staff.CHANNEL_NAMES.get(channel, channel),
            user_id=external_id,
            role=run.t(ROLE_LABELS[role]),
            province=province,
        )
    )
    await show_staff(run, admin)
    return EndFlow(show_menu=False)


def flows() -> list[Flow]:
    return [
        Flow(
            id=ADD,
            version=1,
            steps=(
                AskChoice(
                    id="channel",
                    label=N_("App"),
                    prompt=N_("Which app will they use the assistant on?"),
                    options=CHANNELS,
                ),
                AskText(
                    id="user_id",
                    label=N_("User id"),
                    prompt=N_(
                        "What is their user id on that app? On Telegram it is a number, which they can see by "
                        "writing to @userinfobot."
                    ),
                    example=N_("For example: 123456789"),
                    validate=_user_id,
                ),
                AskChoice(id="role", label=N_("Role"), prompt=N_("Which role?"), options=ROLE_OPTIONS),
                AskText(
                    id="province",
                    label=N_("Province"),
                    prompt=N_("For which province?"),
                    example=N_("For example: Hưng Yên"),
                    validate=province_name_validator,
                ),
                AskChoice(
                    id="confirm",
                    prompt=_confirm_prompt,
                    options=(Option("yes", N_("✅ Yes, add")), Option("no", N_("⬅️ Back to the staff list"))),
                    store=False,
                    on_answer=_add,
                ),
            ),
        )
    ]
