"""Onboarding: language, the personal-data notice and consent, then the facility profile.

Nothing about the facility is stored before the user taps "I agree" (Law 91/2025/QH15): the
language is the only thing kept for someone who declines. Correcting the profile later runs this
same flow with the answers prefilled, which lands straight on the profile summary.

The language is taken from the platform when it tells one (Telegram's language_code, the
browser's Accept-Language, in `Incoming.locale_hint`) and the notice offers the other language
in one tap. Zalo tells none (nor does a browser or app that sends no language): there the bot
starts in Vietnamese, as nearly all of Zalo's users in Vietnam read it, and the consent notice
itself carries the choice: "I agree — continue in English" beside "Đồng ý", so an English
speaker gives consent and language in one input instead of answering a language question first.
"""

from __future__ import annotations

from typing import Any

from conversations import summary
from conversations.i18n import DEFAULT_LOCALE, N_, normalise_locale, translator
from conversations.intents import normalise
from conversations.places import province_name_validator
from conversations.run import Run
from conversations.steps import (
    Action,
    AskChoice,
    AskText,
    EndFlow,
    Flow,
    Goto,
    Option,
    Say,
    StartFlow,
    Summary,
    Transition,
)
from conversations.validators import phone, tax_code, text_between
from storage import signup
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

# The first thing an owner reads: who is asking, what is kept and why, in a glance on a phone.
# The whole notice (Law 91/2025/QH15) is one tap away, and agreeing works from either.
CONSENT_SHORT = N_(
    "Welcome! I am the Industrial Extension Assistant: I help your facility check which programmes "
    "it can join, prepare its dossier and follow it up.\n\n"
    "For this, the provincial Industrial Extension Centre keeps information about your facility, "
    "its contact person and its dossiers, gives them only to the offices that decide on them, and may send "
    "reminders as Zalo notifications. You can see, correct or delete them at any time under "
    "Settings (/menu). The Centre never asks for photos of ID cards.\n\n"
    "Do you agree?"
)
CONSENT_NOTICE = N_(
    "How the Centre uses your information:\n\n"
    "• What the Centre collects: your facility's name, type and address (province, commune), tax or "
    "registration number, the contact person's name and mobile number, your products, and the "
    "answers and documents of your dossiers.\n"
    "• Why: to check which programmes you may join, to prepare and send your dossiers, and to tell "
    "you about their progress, deadlines and trade fairs.\n"
    "• Who is responsible: the Industrial Extension Centre of the province that runs this assistant.\n"
    "• Who receives it: the provincial Department of Industry and Trade, the commune People's "
    "Committee, and the Ministry of Industry and Trade when a dossier goes to regional or national level.\n"
    "• How long: your profile until you delete it; submitted dossiers as long as record-keeping "
    "rules require.\n"
    "• Zalo notifications: if I cannot write to you in a chat, reminders about deadlines and "
    "certificates may reach your mobile number as Zalo notifications (ZNS); you can turn this off "
    "under Settings.\n"
    "• Your rights: you can see, correct or delete your data and withdraw your consent at any time "
    "under Settings (/menu). The Centre answers such requests within 2 working days.\n\n"
    "The Centre never asks for photos of ID cards. Do you agree?"
)
CONSENT_OPTIONS = (Option("agree", N_("I agree")), Option("decline", N_("I do not agree")))
FULL_NOTICE = Option("full", N_("📄 Read the full notice"))
# Where no language was told: consent and English in one input, written in English whatever the
# notice's language (it is for someone who cannot read the Vietnamese beside it).
AGREE_IN_ENGLISH = Option("agree_en", "I agree — continue in English", literal=True)


async def _set_language(run: Run, value: Any) -> Transition:
    run.account.locale = value
    run.t = translator(value)
    return None


async def _first_language(run: Run) -> Transition:
    """Start in the platform's language (Telegram's language_code, the browser's
    Accept-Language), or in Vietnamese where none is told (Zalo), instead of asking: one
    message less. The first message (the consent notice) carries the way to the other language."""
    await _set_language(run, normalise_locale(run.incoming.locale_hint) or DEFAULT_LOCALE)
    return None


def _consent_options(run: Run) -> tuple[Option, ...]:
    """A switch to the other language (it came from the platform or was guessed, not chosen by
    the owner); where none was told, the notice is in Vietnamese and "I agree — continue in
    English" also stands beside "Đồng ý", consent and language in one input."""
    options = (*CONSENT_OPTIONS, FULL_NOTICE)
    other = next(o for o in LANGUAGES if o.value != run.account.locale)
    switch = Option(other.value, f"🌐 {other.label}", literal=True)
    if normalise_locale(run.incoming.locale_hint) is None and run.account.locale != "en":
        # The switch stays beside it: "English" typed alone must read the notice in English, not
        # agree to it (it is a word of "I agree — continue in English", and consent is explicit).
        return (*options, AGREE_IN_ENGLISH, switch)
    return (*options, switch)


def _consent_prompt(run: Run) -> str:
    return run.t(CONSENT_NOTICE if run.state.data.get("full_notice") else CONSENT_SHORT)


async def _consent(run: Run, value: Any) -> Transition:
    if value == "full":
        run.set_data("full_notice", True)
        return Goto("consent")
    if value in (o.value for o in LANGUAGES):  # the switch: the same notice in the other language
        await _set_language(run, value)
        return Goto("consent")
    run.pop_data("full_notice")
    if value == AGREE_IN_ENGLISH.value:
        await _set_language(run, "en")
        value = "agree"
    if value == "agree":
        # With consent to ZNS reminders: the notice says they may come this way.
        await signup.agree_to_notice(run.session, run.account, run.settings.consent_version, run.now)
        return None
    run.say(
        run.t(
            N_(
                "I respect your choice: nothing about you or your facility has been stored. Without "
                "consent I cannot prepare dossiers, but you can still read the help with /help. If "
                "you change your mind, send /start."
            )
        )
    )
    return EndFlow(show_menu=False)


# Legal forms as owners write them at the head of a name ("HTX Mây tre …", "Hộ kinh doanh …"),
# folded; the longest that fits wins, so "Liên hiệp hợp tác xã" is not read as "Hợp tác xã".
KIND_PREFIXES = {
    "lien hiep hop tac xa": "coop_union",
    "lhhtx": "coop_union",
    "to hop tac": "coop_group",
    "tht": "coop_group",
    "hop tac xa": "cooperative",
    "htx": "cooperative",
    "ho kinh doanh": "household",
    "hkd": "household",
    "doanh nghiep": "enterprise",
    "dntn": "enterprise",
    "cong ty": "enterprise",
    "cty": "enterprise",
}
# The same for a commune's name ("Xã Tân Lập"). A "thị trấn" has been a commune since July 2025.
COMMUNE_PREFIXES = {"xa": "commune", "phuong": "ward", "dac khu": "special_zone", "thi tran": "commune"}


def kind_in_name(name: str, prefixes: dict[str, str]) -> str | None:
    """The kind a name starts with ("HTX Phú Vinh" → cooperative), or None: asked then."""
    words = normalise(name)
    for prefix in sorted(prefixes, key=len, reverse=True):
        if words.startswith(prefix + " "):
            return prefixes[prefix]
    return None


async def _name_given(run: Run, value: Any) -> Transition:
    """A name that says its legal form answers the type question: noted in one line, shown on
    the profile, and "back" or /profile changes it."""
    kind = kind_in_name(str(value), KIND_PREFIXES)
    if kind is not None and "facility_kind" not in run.answers:
        run.set_answer("facility_kind", kind)
        label = next(o.label for o in FACILITY_KINDS if o.value == kind)
        run.say(run.t(N_("Type of facility noted from the name: {kind}."), kind=run.t(label)))
    return None


async def _commune_given(run: Run, value: Any) -> Transition:
    """ "Xã Tân Lập" says it is a commune: the kind is not asked (it is shown on the profile)."""
    kind = kind_in_name(str(value), COMMUNE_PREFIXES)
    if kind is not None:
        run.set_answer("commune_kind", kind)
    return None


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
        run.drop_answer("commune_kind")
    return None


async def _store_profile(run: Run) -> None:
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
        run.facility = await signup.add_facility(run.session, run.account, values)
    else:  # written by the transaction's flush
        for key, value in values.items():
            setattr(run.facility, key, value)


def _then(run: Run) -> Transition:
    then = run.state.data.get("then")
    if then:
        return StartFlow(then)
    return EndFlow()


async def save_profile(run: Run) -> Transition:
    await _store_profile(run)
    run.say(run.t(N_("Thank you, your facility profile is saved.")))
    return _then(run)


async def _save_new(run: Run) -> Transition:
    """A new profile is saved with its last answer and shown once, without a stop to confirm it:
    every answer was checked as it came, and /profile (or Settings) corrects any of them."""
    flow = run.engine.flows["onboarding"]
    shown = [
        line
        for step, line in zip(
            summary.answered_questions(run, flow), await summary.lines(run, flow), strict=False
        )
        if step.id != "commune_kind" or kind_in_name(run.answers.get("commune", ""), COMMUNE_PREFIXES) is None
    ]
    await _store_profile(run)
    run.say(
        run.t(N_("✅ Your facility profile is saved:"))
        + "\n"
        + "\n".join(shown)
        + "\n"
        + run.t(N_("To correct it: /profile."))
    )
    return _then(run)


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
        Action(id="language_hint", run=_first_language, when=lambda run: run.account.locale is None),
        AskChoice(  # no longer reached (the step above sets a language); kept for owners waiting at it
            id="language",
            prompt=N_(
                "Xin chào! Anh/chị muốn dùng tiếng Việt hay tiếng Anh?\nHello! Which language do you prefer?"
            ),
            options=LANGUAGES,
            store=False,
            on_answer=_set_language,
            when=lambda run: run.account.locale is None,
        ),
        AskChoice(
            id="consent",
            prompt=_consent_prompt,
            options=_consent_options,
            store=False,
            on_answer=_consent,
            when=_no_consent,
            help=N_(
                "To prepare dossiers for you the Centre needs to keep some information about your "
                "facility. Choose “I agree” if that is fine with you, or “I do not agree” if not: "
                "nothing will be stored."
            ),
        ),
        Say(
            id="profile_intro",
            text=N_("Now a few questions about your facility: about 3 minutes, each answer saved at once."),
            when=lambda run: run.facility is None,
        ),
        AskText(
            id="facility_name",
            label=N_("Facility name"),
            prompt=N_("What is the name of your facility (as on its registration certificate)?"),
            example=N_("For example: Hợp tác xã Mây tre đan Phú Vinh"),
            validate=text_between(2, 200),
            on_answer=_name_given,
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
            validate=province_name_validator,
            on_answer=_province_chosen,
        ),
        AskText(
            id="commune",
            label=N_("Commune / ward"),
            prompt=N_("Which commune, ward or special zone is it in?"),
            example=N_("For example: Xã Phú Vinh"),
            validate=text_between(2, 120),
            on_answer=_commune_given,
        ),
        AskChoice(
            id="commune_kind",
            label=N_("Commune, ward or special zone"),
            prompt=N_("Is it a commune, a ward or a special zone?"),
            options=COMMUNE_KINDS,
        ),
        AskChoice(
            id="craft_village",
            label=N_("In a recognised craft village"),
            prompt=N_("Is the facility in a craft village recognised by the province?"),
            options=YES_NO,
        ),
        AskText(
            id="tax_code",
            label=N_("Tax or registration number"),
            prompt=N_(
                "The facility's tax code (10 digits)? A household business may give the owner's 12-digit "
                "personal identification number."
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
            prompt=N_("Who should the Centre contact about your dossiers? Their full name, please."),
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
        Action(id="save_new", run=_save_new, when=lambda run: run.facility is None),
        Summary(
            id="profile_summary",
            title=N_("Please check your facility profile:"),
            confirm_label=N_("Save the profile"),
            on_confirm=save_profile,
            later_message=N_("Saved. Send /start whenever you want to finish your profile."),
        ),
    ),
)
