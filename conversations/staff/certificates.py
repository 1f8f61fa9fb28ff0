"""Certificates: an owner's /certificates, staff recording one for an approved dossier, and the
import of a province's existing list.

/certificates is everyone's command: an owner sees their certificates with the days left, and
nothing else; "/certificates import" is a staff tool only for staff, so an owner who types it
sees their certificates like any other time. The expiry is always the programme's validity
rule (`rules.certificate_valid_until`), never typed by staff.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from conversations import notices, rules
from conversations.documents import FileDrop
from conversations.i18n import N_, local_today
from conversations.messages import Choice, FileRef
from conversations.payloads import go
from conversations.run import Run
from conversations.staff import dossier, importer
from conversations.staff.access import NEEDS_ROLE, REVIEW_ROLES, ROLE_LABELS, Staff, staff_of
from conversations.staff.notify import tell_owner
from conversations.staff.review import flow_dossier, in_scope, show_actions
from conversations.steps import AskChoice, AskText, EndFlow, Flow, Goto, Option, Summary, Transition
from conversations.validators import Result, bounded_text, date_dmy
from storage import audit, certificates
from storage.certificates import Certificate
from storage.models import Application

if TYPE_CHECKING:
    from conversations.dialogue import Dialogue

RECORD = "staff_certificate"
IMPORT = "staff_import"
EXPIRY_NOTE_DAYS = 180
STAFF_HINT = N_(
    "To record a certificate, open its approved dossier in /review. To add a province's existing list, "
    "import it as a file."
)
MAX_ERROR_LINES = 30


def today(run: Run) -> date:
    return run.today


def importing_as(run: Run, member: Staff) -> importer.ImportBy:
    """A reviewer importing the selection's list: the chat and the console stamp rows alike."""
    return importer.ImportBy(
        programme=run.programmes["selection"],
        provinces=member.scope(REVIEW_ROLES),
        actor=member.actor,
        now=run.now,
        today=today(run),
    )


def level_label(run: Run, level: str) -> str:
    levels = run.programmes["selection"].raw.get("levels", {})
    return levels[level]["label"] if level in levels else level


# --- /certificates ----------------------------------------------------------------------------------------


async def cmd_certificates(run: Run, args: str, dialogue: Dialogue) -> None:
    member = await staff_of(run)
    if args.strip().lower().startswith("import") and member is not None:
        if not member.has(REVIEW_ROLES):
            run.say(run.t(NEEDS_ROLE, role=run.t(ROLE_LABELS["reviewer"])))
            return
        run.engine.leave(run, keep=True)
        await run.engine.start(run, IMPORT, {"answers": {}})
        return
    run.engine.leave(run, keep=True)
    choices = [Choice(run.t(N_("🏠 Main menu")), go("menu"))]
    if member is not None and member.has(REVIEW_ROLES):
        choices.insert(0, Choice(run.t(N_("📥 Import a list of certificates")), go("certificates", "import")))
        if run.facility is None:  # a staff member, not an owner: their registry tools only
            run.say(run.t(STAFF_HINT), choices)
            return
    run.say(await owner_certificates(run), choices)


async def owner_certificates(run: Run) -> str:
    """The owner's certificates, newest first, each with how long it is still valid."""
    found = await certificates.of_facility(run.session, run.facility) if run.facility is not None else []
    if not found:
        return run.t(
            N_(
                "No certificate is recorded for your facility yet. When the centre records one (or if it "
                "already holds one under your tax code), you will see it here."
            )
        )
    day = today(run)
    blocks = [run.t(N_("Your certificates:"))]
    soon = False
    for certificate in found:
        left = (certificate.valid_until - day).days
        block = [
            f"🏅 {certificate.product}",
            "   "
            + run.t(
                N_("{level} · number {number}"),
                level=run.t(level_label(run, certificate.level)),
                number=certificate.number,
            ),
            "   "
            + run.t(
                N_("Issued on {date} by {body}"),
                date=run.t.date(certificate.issue_date),
                body=certificate.issuing_body,
            ),
        ]
        if left >= 0:
            block.append(
                "   "
                + run.t(
                    N_("Valid until {date}: {days} days left"),
                    date=run.t.date(certificate.valid_until),
                    days=left,
                )
            )
        else:
            block.append("   ⛔ " + run.t(N_("Expired on {date}"), date=run.t.date(certificate.valid_until)))
        soon = soon or left < EXPIRY_NOTE_DAYS
        blocks.append("\n".join(block))
    if soon:
        note = next(
            (
                n["note"]
                for n in run.programmes["selection"].raw.get("notes", [])
                if n["id"] == "certificate_expiry"
            ),
            None,
        )
        if note:
            blocks.append("ℹ️ " + run.t(note))
    return "\n\n".join(blocks)


# --- recording a certificate for an approved dossier --------------------------------------------------------


async def start_record(run: Run, member: Staff, application_id: int) -> None:
    application = await in_scope(run, member, application_id, drafts=True)
    if application is None:
        return
    if application.status != "approved" or application.programme != "selection":
        run.say(
            run.t(N_("A certificate is recorded for an approved dossier of the selection programme only."))
        )
        await show_actions(run, member, application)
        return
    if await certificates.of_application(run.session, application.id) is not None:
        await show_actions(run, member, application)
        return
    level = application.answers.get("level")
    answers = {"level": level} if level in run.programmes["selection"].raw.get("levels", {}) else {}
    facility = application.facility
    await run.engine.start(
        run,
        RECORD,
        {
            "answers": answers,
            "app": application.id,
            "title": dossier.title(application),
            "product": application.answers.get("product_name") or facility.products,
            "province": facility.province,
        },
    )


def _level_options(run: Run) -> list[Option]:
    levels = run.programmes["selection"].raw.get("levels", {})
    ordered = sorted(levels.items(), key=lambda item: item[1].get("order", 0))
    return [Option(key, spec["label"]) for key, spec in ordered]


def _number(text: str) -> Result:
    return bounded_text(text, min_len=1, max_len=64)


def _issue_date(text: str) -> Result:
    return date_dmy(text, not_after=local_today())


def _body(text: str) -> Result:
    return bounded_text(text, min_len=3, max_len=200)


def _show_date(run: Run, value: Any) -> str:
    return run.t.date(date.fromisoformat(value))


def _body_prompt(run: Run) -> str:
    text = run.t(N_("Which body issued the certificate?"))
    if run.answers.get("level") == "province":
        text += "\n" + run.t(
            N_("For example: UBND tỉnh {province}"), province=run.state.data.get("province", "")
        )
    return text


def _summary_title(run: Run) -> str:
    text = run.t(N_("Please check the certificate for {title}:"), title=run.state.data.get("title", ""))
    issued = run.answers.get("issue_date")
    if issued:
        until = rules.certificate_valid_until(date.fromisoformat(issued), run.programmes["selection"])
        text += "\n" + run.t(
            N_("By the programme's rule it will be valid until {date}."), date=run.t.date(until)
        )
    return text


async def record(
    run: Run,
    member: Staff,
    application: Application,
    *,
    level: str,
    number: str,
    body: str,
    issued: date,
    product: str,
) -> Certificate:
    """Record the certificate of an approved dossier, with its audit event and the owner's notice;
    the chat's flow and the web console both come here (the caller checked the number is free)."""
    programme = run.programmes["selection"]
    facility = application.facility
    certificate = Certificate(
        programme=programme.id,
        facility_id=facility.id,
        application_id=application.id,
        facility_name=facility.name,
        tax_code=facility.tax_code or None,
        province=facility.province,
        product=product[:200],
        level=level,
        number=number,
        issue_date=issued,
        valid_until=rules.certificate_valid_until(issued, programme),
        issuing_body=body,
        source="review",
        recorded_by=member.actor,
        recorded_at=run.now,
    )
    run.session.add(certificate)
    await run.session.flush()
    event = audit.add_event(
        run.session,
        application.id,
        actor=member.actor,
        action="certificate_recorded",
        from_status=application.status,
        to_status=None,
        at=run.now,
        detail={"before": None, "after": certificate.as_detail()},
    )
    payload = notices.certificate_recorded(
        product=certificate.product,
        level_label=level_label(run, certificate.level),
        number=number,
        issued=issued,
        body=body,
        valid_until=certificate.valid_until,
    )
    await tell_owner(run, application, event, payload)
    return certificate


async def _save(run: Run) -> Transition:
    found = await flow_dossier(run)
    if found is None:
        return EndFlow(show_menu=False)
    member, application = found
    if application.status != "approved" or await certificates.of_application(run.session, application.id):
        await show_actions(run, member, application)
        return EndFlow(show_menu=False)
    answers = run.answers
    number, body = str(answers["number"]), str(answers["issuing_body"])
    if await certificates.numbers_taken(run.session, {(body, number)}):
        run.say(
            run.t(
                N_("Certificate {number} of {body} is already recorded. Please check the number."),
                number=number,
                body=body,
            )
        )
        run.drop_answer("number")
        return Goto("number")
    certificate = await record(
        run,
        member,
        application,
        level=str(answers["level"]),
        number=number,
        body=body,
        issued=date.fromisoformat(answers["issue_date"]),
        product=str(run.state.data.get("product") or application.facility.products),
    )
    run.say(
        run.t(
            N_("🏅 Certificate recorded, valid until {date}. The owner has been told."),
            date=run.t.date(certificate.valid_until),
        )
    )
    await show_actions(run, member, application)
    return EndFlow(show_menu=False)


# --- importing a list ----------------------------------------------------------------------------------------


async def _import_file(run: Run, file: FileRef) -> Transition:
    member = await staff_of(run)
    if member is None or not member.has(REVIEW_ROLES):
        return EndFlow(show_menu=False)
    name = file.filename.lower()
    if not name.endswith((".csv", ".xlsx")):
        run.say(run.t(N_("Please send the list as a .csv or .xlsx file.")))
        return None
    if file.size > run.settings.max_file_bytes:
        run.say(run.t(N_("This file is too large; please split the list into smaller files.")))
        return None
    data = await file.read()
    report = await importer.import_certificates(run.session, data, file.filename, importing_as(run, member))
    if not report.ok:
        run.say(import_problems(run, report))
        return None  # still waiting: the corrected file can be sent straight away
    run.say(
        run.t(
            N_(
                "Imported {count} certificates; {linked} of them belong to facilities that use the assistant."
            ),
            count=report.imported,
            linked=report.linked,
        ),
        [Choice(run.t(N_("🗂 Review dossiers")), go("review"))],
    )
    return EndFlow(show_menu=False)


def import_problems(run: Run, report: importer.ImportReport) -> str:
    """Why nothing was imported: the file's problem, or each wrong row with its reasons."""
    if report.problem is not None:
        msgid, values = report.problem
        return run.t(N_("Nothing was imported.")) + " " + run.t(msgid, **values)
    lines = [
        run.t(
            N_("Nothing was imported: {count} rows need correcting. Fix them in the file and send it again."),
            count=len(report.errors),
        )
    ]
    for error in report.errors[:MAX_ERROR_LINES]:
        reasons = "; ".join(run.t(msgid, **values) for msgid, values in error.reasons)
        lines.append(run.t(N_("Row {row}: {reasons}"), row=error.row, reasons=reasons))
    if len(report.errors) > MAX_ERROR_LINES:
        lines.append(run.t(N_("… and {count} more rows."), count=len(report.errors) - MAX_ERROR_LINES))
    return "\n".join(lines)


IMPORT_PROMPT = N_(
    "Send the list of recognised products as a CSV or Excel (.xlsx) file. The first row names the "
    "columns: Tên cơ sở, Mã số thuế, Sản phẩm, Cấp, Số giấy chứng nhận, Ngày cấp (dd/mm/yyyy), Cơ quan "
    "cấp, Tỉnh. Every row is checked first: if one is wrong, nothing is imported and I list the rows "
    "to correct. Send /cancel to stop."
)


def flows() -> list[Flow]:
    return [
        Flow(
            id=RECORD,
            version=1,
            steps=(
                AskChoice(
                    id="level",
                    label=N_("Level"),
                    prompt=N_("Which level is the certificate?"),
                    options=_level_options,
                ),
                AskText(
                    id="number",
                    label=N_("Certificate number"),
                    prompt=N_("What is the certificate's number?"),
                    example=N_("For example: 125/GCN-UBND"),
                    validate=_number,
                ),
                AskText(
                    id="issue_date",
                    label=N_("Date of issue"),
                    prompt=N_("On which date was it issued?"),
                    example=N_("For example: 15/09/2019"),
                    validate=_issue_date,
                    display=_show_date,
                ),
                AskText(id="issuing_body", label=N_("Issued by"), prompt=_body_prompt, validate=_body),
                Summary(
                    id="summary",
                    title=_summary_title,
                    confirm_label=N_("🏅 Record the certificate"),
                    on_confirm=_save,
                    later_message=N_("Saved. Open the dossier again from /review to finish."),
                ),
            ),
        ),
        Flow(id=IMPORT, version=1, steps=(FileDrop(id="file", prompt=IMPORT_PROMPT, receive=_import_file),)),
    ]
