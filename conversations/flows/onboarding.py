"""Onboarding: language, the personal-data notice and consent, then the facility profile.

Nothing about the facility is stored before the user taps "I agree" (Law 91/2025/QH15): the
language is the only thing kept for someone who declines. Correcting the profile later runs this
same flow with the answers prefilled, which lands straight on the profile summary.
"""

from __future__ import annotations

from typing import Any

from conversations.i18n import N_, translator
from conversations.places import province_validator
from conversations.run import Run
from conversations.steps import AskChoice, AskText, EndFlow, Flow, Option, Say, StartFlow, Summary, Transition
from conversations.validators import Invalid, Result, Valid, phone, tax_code, text_between
from storage import zalo_oa
from storage.models import Facility

FACILITY_KINDS = (
    Option("enterprise", N_("Small or medium enterprise")),
    Option("cooperative", N_("Cooperative")),
    Option("coop_union", N_("Union of cooperatives")),
    Option("coop_group", N_("Cooperative group")),
    Option("household", N_("Household business")),
    Option("unregistered", N_("Individual artisan, not registered yet")),
)

REGISTER_FIRST = N_(
    "To join a programme, an individual artisan registers first, for example as a household "
    "business. Where: the one-stop desk of your commune or ward People's Committee. Bring: the "
    "registration form (the desk has it) and the owner's citizen ID card; if family members run it "
    "together, also their written agreement naming the owner. Meanwhile I keep your profile, and "
    "once registered you change the type with /profile."
)
COMMUNE_KINDS = (
    Option("commune", N_("Commune (xã)")),
    Option("ward", N_("Ward (phường)")),
    Option("special_zone", N_("Special zone (đặc khu)")),
)
YES_NO = (Option("yes", N_("Yes")), Option("no", N_("No")))
LANGUAGES = (Option("vi", "Tiếng Việt", literal=True), Option("en", "English", literal=True))

PROFILE_FIELDS = (
    "facility_name",
    "facility_kind",
    "province",
    "commune_kind",
    "commune",
    "craft_village",
    "tax_code",
    "contact_name",
    "phone",
    "products",
)

CONSENT_NOTICE = N_(
    "Before we start, please read how we use your information.\n\n"
    "• What we collect: your facility's name, type and address (province, commune), tax or "
    "registration number, the contact person's name and mobile number, your products, and the "
    "answers and documents of your dossiers.\n"
    "• Why: to check which programmes you may join, to prepare and send your dossiers, and to tell "
    "you about their progress, deadlines and trade fairs.\n"
    "• Who is responsible: the Industrial Extension Centre of the province that runs this assistant.\n"
    "• Who receives it: the provincial Department of Industry and Trade, the commune People's "
    "Committee, and the Ministry of Industry and Trade when a dossier goes to regional or national level.\n"
    "• How long: your profile until you delete it; submitted dossiers as long as record-keeping "
    "rules require.\n"
    "• Zalo notifications: if we cannot write to you in a chat, reminders about deadlines and "
    "certificates may reach your mobile number as Zalo notifications (ZNS); you can turn this off "
    "under Settings.\n"
    "• Your rights: you can see, correct or delete your data and withdraw your consent at any time "
    "under Settings (/menu). We answer such requests within 2 working days.\n\n"
    "We never ask for photos of ID cards. Do you agree?"
)


async def _set_language(run: Run, value: Any) -> Transition:
    run.account.locale = value
    run.t = translator(value)
    return None


async def _consent(run: Run, value: Any) -> Transition:
    if value == "agree":
        run.account.consent_at = run.now
        run.account.consent_version = run.settings.consent_version
        await zalo_oa.set_zns_consent(run.session, run.account.id, True, run.now)  # the notice says so
        return None
    run.say(
        run.t(
            N_(
                "We respect your choice: nothing about you or your facility has been stored. Without "
                "consent we cannot prepare dossiers, but you can still read the help with /help. If you "
                "change your mind, send /start."
            )
        )
    )
    return EndFlow(show_menu=False)


def _province(text: str) -> Result:
    """Store the current province name; tell the user when an old name was mapped to a new one."""
    result = province_validator(text)
    if isinstance(result, Invalid):
        return result
    # The validator's warning (an old name mapped to its new province) is kept for the user.
    return Valid(result.value.province.name, warning=result.warning, warning_values=result.warning_values)


async def _kind_chosen(run: Run, value: Any) -> Transition:
    """An unregistered artisan learns at once what to do, then finishes the profile."""
    if value == "unregistered":
        run.say(run.t(REGISTER_FIRST))
    return None


async def _province_chosen(run: Run, value: Any) -> Transition:
    """A different province than the saved one: its commune cannot be right any more, so it is
    asked again instead of being kept with the new province."""
    if run.facility is not None and run.facility.province != value and "commune" in run.answers:
        run.drop_answer("commune")
    return None


async def save_profile(run: Run) -> Transition:
    answers = run.answers
    values = {
        "name": answers["facility_name"],
        "kind": answers["facility_kind"],
        "province": answers["province"],
        "commune_kind": answers["commune_kind"],
        "commune": answers["commune"],
        "craft_village": answers["craft_village"] == "yes",
        "tax_code": answers["tax_code"],
        "contact_name": answers["contact_name"],
        "phone": answers["phone"],
        "products": answers["products"],
    }
    if run.facility is None:
        run.facility = Facility(account_id=run.account.id, **values)
        run.session.add(run.facility)
    else:
        for key, value in values.items():
            setattr(run.facility, key, value)
    await run.session.flush()
    run.say(run.t(N_("Thank you, your facility profile is saved.")))
    then = run.state.data.get("then")
    if then:
        return StartFlow(then)
    return EndFlow()


def profile_answers(facility: Facility) -> dict[str, Any]:
    """The profile as answers, so correcting it reuses the flow's summary."""
    return {
        "facility_name": facility.name,
        "facility_kind": facility.kind,
        "province": facility.province,
        "commune_kind": facility.commune_kind,
        "commune": facility.commune,
        "craft_village": "yes" if facility.craft_village else "no",
        "tax_code": facility.tax_code,
        "contact_name": facility.contact_name,
        "phone": facility.phone,
        "products": facility.products,
    }


def _no_consent(run: Run) -> bool:
    return run.account.consent_at is None


FLOW = Flow(
    id="onboarding",
    version=1,
    steps=(
        AskChoice(
            id="language",
            prompt=N_(
                "Xin chào! Anh/chị muốn dùng tiếng Việt hay tiếng Anh?\nHello! Which language do you prefer?"
            ),
            options=LANGUAGES,
            store=False,
            on_answer=_set_language,
            when=lambda run: run.account.locale is None,
        ),
        Say(
            id="welcome",
            text=N_(
                "Welcome to the Industrial Extension Assistant. I help rural industrial facilities check "
                "which programmes they can join, prepare their dossiers and follow them up."
            ),
            when=_no_consent,
        ),
        AskChoice(
            id="consent",
            prompt=CONSENT_NOTICE,
            options=(Option("agree", N_("I agree")), Option("decline", N_("I do not agree"))),
            store=False,
            on_answer=_consent,
            when=_no_consent,
            help=N_(
                "To prepare dossiers for you we need to keep some information about your facility. "
                "Tap “I agree” if that is fine with you, or “I do not agree” if not: nothing will be stored."
            ),
        ),
        Say(
            id="profile_intro",
            text=N_(
                "Now a few questions about your facility. It takes about 3 minutes, and every answer is saved."
            ),
            when=lambda run: run.facility is None,
        ),
        AskText(
            id="facility_name",
            label=N_("Facility name"),
            prompt=N_("What is the name of your facility (as on its registration certificate)?"),
            example=N_("For example: Hợp tác xã Mây tre đan Phú Vinh"),
            validate=text_between(2, 200),
        ),
        AskChoice(
            id="facility_kind",
            label=N_("Type of facility"),
            prompt=N_("What type of facility is it?"),
            options=FACILITY_KINDS,
            on_answer=_kind_chosen,
            help=N_(
                "Look at the registration certificate: an enterprise has a business registration "
                "certificate, a cooperative a cooperative registration, a household business a "
                "household business registration issued by the commune. If you work on your own "
                "without any registration, choose “Individual artisan, not registered yet”."
            ),
        ),
        AskText(
            id="province",
            label=N_("Province / city"),
            prompt=N_("Which province or city is your facility in? You may use the name before July 2025."),
            example=N_("For example: Hưng Yên, Thái Bình, TP Hồ Chí Minh"),
            validate=_province,
            on_answer=_province_chosen,
        ),
        AskChoice(
            id="commune_kind",
            label=N_("Commune, ward or special zone"),
            prompt=N_("Is your facility in a commune, a ward or a special zone?"),
            options=COMMUNE_KINDS,
        ),
        AskText(
            id="commune",
            label=N_("Commune / ward"),
            prompt=N_("What is the name of that commune, ward or special zone?"),
            example=N_("For example: Xã Phú Vinh"),
            validate=text_between(2, 120),
        ),
        AskChoice(
            id="craft_village",
            label=N_("In a recognised craft village"),
            prompt=N_("Is your facility in a craft village recognised by the provincial People's Committee?"),
            options=YES_NO,
        ),
        AskText(
            id="tax_code",
            label=N_("Tax or registration number"),
            prompt=N_(
                "What is the facility's tax code (10 digits) or, for a household business, the owner's "
                "12-digit personal identification number?"
            ),
            example=N_("For example: 0101234567"),
            validate=tax_code,
            help=N_(
                "The tax code is printed on the business or cooperative registration certificate, under "
                "“Mã số doanh nghiệp” or “Mã số thuế”. Household businesses may use the owner's personal "
                "identification number (12 digits, on the citizen ID card)."
            ),
        ),
        AskText(
            id="contact_name",
            label=N_("Contact person"),
            prompt=N_("Who should the centre contact about your dossiers? Please type their full name."),
            example=N_("For example: Nguyễn Văn An"),
            validate=text_between(2, 120),
        ),
        AskText(
            id="phone",
            label=N_("Mobile phone"),
            prompt=N_("What is their mobile phone number?"),
            example=N_("For example: 0912 345 678"),
            validate=phone,
        ),
        AskText(
            id="products",
            label=N_("Main products"),
            prompt=N_("What are your main products?"),
            example=N_("For example: rattan baskets, bamboo trays"),
            validate=text_between(2, 400),
        ),
        Summary(
            id="profile_summary",
            title=N_("Please check your facility profile:"),
            confirm_label=N_("Save the profile"),
            on_confirm=save_profile,
            later_message=N_("Saved. Send /start whenever you want to finish your profile."),
        ),
    ),
)
