"""/stats: what a centre's staff want to know at a glance, for their provinces only.

Counts of sent dossiers by status, programme and commune (drafts are the owners' business and
only counted as "in preparation"), and the last seven days' activity from the audit trail.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from conversations.i18n import N_
from conversations.messages import Choice
from conversations.payloads import go
from conversations.run import Run
from conversations.staff.access import ANY_ROLE, REVIEW_ROLES, require, scope_label
from conversations.staff.certificates import today
from conversations.staff.dossier import ACTION_LABELS
from conversations.staff.review import status_label
from storage import zalo_oa
from storage.certificates import Certificate
from storage.models import Application, ApplicationEvent, Facility

if TYPE_CHECKING:
    from conversations.dialogue import Dialogue

TOP_COMMUNES = 10
WEEK_ACTIONS = ("submitted", "resubmitted", "returned", "approved", "rejected", "certificate_recorded")


def _scoped(query: Any, scope: set[str] | None) -> Any:
    query = query.join(Facility, Facility.id == Application.facility_id)
    return query if scope is None else query.where(Facility.province.in_(sorted(scope)))


async def cmd_stats(run: Run, args: str, dialogue: Dialogue) -> None:
    member = await require(run, dialogue, ANY_ROLE)
    if member is None:
        return
    run.engine.leave(run, keep=True)
    scope = member.scope(ANY_ROLE)
    session = run.session
    sent = Application.status != "draft"

    by_status = dict(
        (
            await session.execute(
                _scoped(select(Application.status, func.count()), scope).group_by(Application.status)
            )
        ).all()
    )
    by_programme = (
        await session.execute(
            _scoped(select(Application.programme, func.count()), scope)
            .where(sent)
            .group_by(Application.programme)
        )
    ).all()
    by_commune = (
        await session.execute(
            _scoped(select(Facility.commune, Facility.province, func.count()).select_from(Application), scope)
            .where(sent)
            .group_by(Facility.commune, Facility.province)
            .order_by(func.count().desc(), Facility.commune)
            .limit(TOP_COMMUNES)
        )
    ).all()
    since = run.now - timedelta(days=7)
    week = dict(
        (
            await session.execute(
                _scoped(
                    select(ApplicationEvent.action, func.count()).join(
                        Application, Application.id == ApplicationEvent.application_id
                    ),
                    scope,
                )
                .where(ApplicationEvent.at >= since, ApplicationEvent.action.in_(WEEK_ACTIONS))
                .group_by(ApplicationEvent.action)
            )
        ).all()
    )
    started = await session.scalar(
        _scoped(select(func.count(Application.id)), scope).where(Application.created_at >= since)
    )
    certificate_query = select(func.count(Certificate.id)).where(Certificate.valid_until >= today(run))
    if scope is not None:
        certificate_query = certificate_query.where(Certificate.province.in_(sorted(scope)))
    valid_certificates = await session.scalar(certificate_query)

    total_sent = sum(count for status, count in by_status.items() if status != "draft")
    lines = [run.t(N_("📊 Statistics for {scope}"), scope=scope_label(run, scope)), ""]
    lines.append(run.t(N_("Dossiers sent: {count}"), count=total_sent))
    for status in ("submitted", "resubmitted", "under_review", "returned", "approved", "rejected"):
        if by_status.get(status):
            lines.append(f"• {status_label(run, status)}: {by_status[status]}")
    lines.append(run.t(N_("In preparation (drafts): {count}"), count=by_status.get("draft", 0)))
    if by_programme:
        lines += ["", run.t(N_("By programme:"))]
        lines += [
            f"• {run.t(run.programmes[p].name) if p in run.programmes else p}: {n}" for p, n in by_programme
        ]
    if by_commune:
        lines += ["", run.t(N_("By commune (most dossiers first):"))]
        lines += [f"• {commune}, {province}: {n}" for commune, province, n in by_commune]
    lines += ["", run.t(N_("The last 7 days:"))]
    lines.append("• " + run.t(N_("dossiers started: {count}"), count=started or 0))
    lines += [
        f"• {run.t(ACTION_LABELS[action])}: {week[action]}" for action in WEEK_ACTIONS if week.get(action)
    ]
    lines += ["", run.t(N_("Certificates still valid: {count}"), count=valid_certificates or 0)]
    zns = await zalo_oa.zns_totals(session, since=since)
    if zns.sent:
        lines.append(
            run.t(
                N_("Zalo notifications (ZNS) in the last 7 days: {count}, cost {cost}"),
                count=zns.sent,
                cost=run.t.money(zns.cost),
            )
        )
    choices = [Choice(run.t(N_("🗂 Review dossiers")), go("review"))] if member.has(REVIEW_ROLES) else []
    run.say("\n".join(lines), choices)
