"""Check and normalise what a facility owner types: phone, tax code, ID number, dates, amounts, text.

Every validator takes the raw text of one answer and returns either `Valid` (the normalised value,
maybe with a warning the user should see) or `Invalid` (one message that says what was wrong plus
an example of a right answer). Both messages are msgids: the flow translates them with the user's
`Translator`, passing `values` (or `warning_values`) as the placeholders. Values are already
formatted the Vietnamese way (1.000.000, 15/09/2019) so catalogs need no formatting logic.

The validators are lenient about *how* people type (spaces, dots, +84, "350 triệu", "1tr5") and
strict about *what* they mean: a wrong answer stored now costs a staff member a phone call later.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import phonenumbers
from stdnum import exceptions as stdnum_errors
from stdnum.vn import mst

from conversations.i18n import N_

__all__ = [
    "Invalid",
    "Result",
    "Valid",
    "bounded_text",
    "date_dmy",
    "fold",
    "national_id",
    "number",
    "phone",
    "tax_code",
]


@dataclass(frozen=True)
class Valid:
    """An accepted answer. `warning` (a msgid) is shown to the user but does not block them:
    used where our check may be wrong and staff can sort it out (a tax code's check digit)."""

    value: object
    warning: str | None = None
    warning_values: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Invalid:
    """A refused answer. `error` says what was wrong, `example` shows a right answer; the flow
    sends both in one message so the user can fix it on the next try."""

    error: str
    example: str
    values: Mapping[str, object] = field(default_factory=dict)


Result = Valid | Invalid


# --------------------------------------------------------------------------------------------
# Text helpers


def fold(text: str) -> str:
    """Lowercase, drop Vietnamese diacritics (đ → d) and collapse whitespace.

    Many users type without a Vietnamese keyboard ("dong y", "Thai Binh") or with combining
    accents from another input method; folding both sides lets us compare what they meant.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # đ/Đ are letters of their own, not d + accent; Ð (U+00D0) is a frequent look-alike typo.
    stripped = stripped.replace("đ", "d").replace("Đ", "d").replace("Ð", "d")
    return " ".join(stripped.lower().split())


def _grouped(value: int) -> str:
    """1000000 → "1.000.000": how amounts are written in Vietnam, in both languages."""
    return f"{value:,}".replace(",", ".")


def _dmy(value: date) -> str:
    return value.strftime("%d/%m/%Y")


# --------------------------------------------------------------------------------------------
# Phone

_PHONE_EXAMPLE = N_("For example: 0912 345 678")
_PHONE_SEPARATORS = re.compile(r"[\s.\-()]")
_MOBILE_SECOND_DIGITS = "35789"


def phone(text: str) -> Result:
    """A Vietnamese mobile number, normalised to 10 digits starting with 0.

    Staff call or text the facility, and Zalo notifications (ZNS) are addressed by mobile
    number, so landlines and foreign numbers are refused with the reason, not just "invalid".
    """
    raw = unicodedata.normalize("NFKC", text).strip()
    if not raw:
        return Invalid(N_("Please type your mobile number."), _PHONE_EXAMPLE)
    compact = _PHONE_SEPARATORS.sub("", raw)
    if not re.fullmatch(r"\+?[0-9]+", compact):
        return Invalid(
            N_("A phone number contains only digits; “{text}” has other characters."),
            _PHONE_EXAMPLE,
            {"text": raw},
        )
    if compact.startswith("+"):
        if not compact.startswith("+84"):
            return Invalid(N_("Please give a Vietnamese mobile number."), _PHONE_EXAMPLE)
        national = compact[3:]
    elif compact.startswith("0084"):
        national = compact[4:]
    elif compact.startswith("84"):
        national = compact[2:]
    else:
        national = compact
    # "+84 0912 ..." (the trunk 0 kept after the country code) and "912 345 678" (0 left out)
    # are both common; after this, `digits` is the number as dialled inside Vietnam.
    digits = national if national.startswith("0") else "0" + national

    if digits.startswith("02"):
        return Invalid(
            N_(
                "{phone} is a landline number. Please give a mobile number (10 digits starting with "
                "03, 05, 07, 08 or 09) so that the Centre can call or text you."
            ),
            _PHONE_EXAMPLE,
            {"phone": digits},
        )
    if digits.startswith("01") and len(digits) == 11:
        return Invalid(
            N_(
                "Mobile numbers starting with 01 were changed to 10 digits in 2018. "
                "Please type the number you use now."
            ),
            _PHONE_EXAMPLE,
        )
    if len(digits) != 10:
        return Invalid(
            N_("A mobile number has 10 digits; the number you typed has {count}."),
            _PHONE_EXAMPLE,
            {"count": len(digits)},
        )
    if digits[1] not in _MOBILE_SECOND_DIGITS:
        return Invalid(
            N_("A Vietnamese mobile number starts with 03, 05, 07, 08 or 09; this one starts with {prefix}."),
            _PHONE_EXAMPLE,
            {"prefix": digits[:2]},
        )
    # Which 3-digit prefixes (and which blocks of 052, 055, 057, 089, 099) carriers hold changes
    # every year; phonenumbers tracks the numbering plan so we need not.
    parsed = phonenumbers.parse(digits, "VN")
    if not phonenumbers.is_valid_number(parsed) or phonenumbers.number_type(parsed) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        return Invalid(
            N_(
                "{phone} does not belong to any Vietnamese mobile network. Please check the number "
                "and type it again."
            ),
            _PHONE_EXAMPLE,
            {"phone": digits},
        )
    return Valid(digits)


# --------------------------------------------------------------------------------------------
# Tax code and identification number

_TAX_EXAMPLE = N_("For example: 0100109106, or 0100109106-001 for a branch")
_DASHES = re.compile(r"[‐‑‒–—−_]")


_CHECK_DIGIT_WARNING = N_(
    "Tax code {code} may contain a typing mistake (its last digit does not match the others). "
    "Please check it against your registration certificate; I have kept it as you typed it."
)
_ZERO_PART_WARNING = N_(
    "Tax code {code} may contain a typing mistake (the tax office never issues a code whose serial "
    "or branch number is all zeros). Please check it against your registration certificate; I have "
    "kept it as you typed it."
)


def _tax_code_warning(code: str) -> str | None:
    """python-stdnum's vn.mst rules (check digit, zero serial, branch 000), as a warning msgid.

    check = 10 − (Σ digit × weight mod 11) over weights 31, 29, 23, 19, 17, 13, 7, 5, 3.
    """
    try:
        mst.validate(code)
    except stdnum_errors.InvalidChecksum:
        return _CHECK_DIGIT_WARNING
    except stdnum_errors.ValidationError:
        return _ZERO_PART_WARNING
    return None


def tax_code(text: str) -> Result:
    """A tax / enterprise code: 10 digits, 10 + "-" + 3 for a branch, or a 12-digit personal number.

    A bad check digit only warns: our copy of the rule could be wrong for old codes, and a
    blocked user is worse than a staff member checking one digit. Household businesses may use
    the owner's 12-digit personal identification number since July 2025.
    """
    raw = unicodedata.normalize("NFKC", text).strip()
    if not raw:
        return Invalid(N_("Please type the tax code of your facility."), _TAX_EXAMPLE)
    # People copy the code with its label from an invoice: "MST: 0100109106".
    unlabelled = re.sub(r"^(?:mst|ma so thue)\s*:?\s*", "", fold(raw))
    code = _DASHES.sub("-", re.sub(r"[\s.]", "", unlabelled))

    if re.fullmatch(r"(?a)\d{12}", code):
        return Valid(code)
    if re.fullmatch(r"(?a)\d{13}", code):  # a branch code typed without its dash
        code = f"{code[:10]}-{code[10:]}"
    if re.fullmatch(r"(?a)\d{10}(-\d{3})?", code):
        warning = _tax_code_warning(code)
        if warning is None:
            return Valid(code)
        return Valid(code, warning=warning, warning_values={"code": code})
    if not re.fullmatch(r"(?a)[\d-]+", code):
        return Invalid(
            N_(
                "A tax code contains only digits, with a dash before a branch number; "
                "“{text}” has other characters."
            ),
            _TAX_EXAMPLE,
            {"text": raw},
        )
    if re.fullmatch(r"(?a)\d{10}-\d*", code):
        return Invalid(N_("The branch number after the dash has 3 digits."), _TAX_EXAMPLE)
    return Invalid(
        N_(
            "A tax code has 10 digits (a branch adds a dash and 3 more digits); a household business "
            "may use the owner’s 12-digit personal identification number. The code you typed has "
            "{count} digits."
        ),
        _TAX_EXAMPLE,
        {"count": sum(ch.isdigit() for ch in code)},
    )


_ID_EXAMPLE = N_("For example: 036 090 001 234")


def national_id(text: str) -> Result:
    """A 12-digit personal identification number (CCCD / căn cước).

    The old 9-digit CMND is refused with its own message: people still keep those cards, and
    "wrong length" alone would not tell them which card to look at.
    """
    raw = unicodedata.normalize("NFKC", text).strip()
    if not raw:
        return Invalid(N_("Please type your citizen identification number (CCCD)."), _ID_EXAMPLE)
    digits = re.sub(r"[\s.\-]", "", raw)
    if not digits.isdigit() or not digits.isascii():
        return Invalid(
            N_("An identification number contains only digits; “{text}” has other characters."),
            _ID_EXAMPLE,
            {"text": raw},
        )
    if len(digits) == 9:
        return Invalid(
            N_(
                "This looks like an old 9-digit identity card number (CMND). Please type the 12-digit "
                "number on your citizen identity card."
            ),
            _ID_EXAMPLE,
        )
    if len(digits) != 12:
        return Invalid(
            N_("An identification number has 12 digits; the number you typed has {count}."),
            _ID_EXAMPLE,
            {"count": len(digits)},
        )
    return Valid(digits)


# --------------------------------------------------------------------------------------------
# Dates

_DATE_EXAMPLE = N_("For example: 15/09/2019")
_BOUND_EXAMPLE = N_("For example: {example}")
_DATE_NUMERIC = re.compile(r"(?a)(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d+)")
# "ngày 15 tháng 9 năm 2019", as written on certificates and decisions (folded).
_DATE_WORDS = re.compile(r"(?a)(?:ngay\s*)?(\d{1,2})\s*thang\s*(\d{1,2})\s*,?\s*nam\s*(\d+)")
_YEAR_RANGE = (1900, 2100)


def date_dmy(text: str, *, not_after: date | None = None, not_before: date | None = None) -> Result:
    """A day/month/year date, the only order Vietnamese users write; returns `datetime.date`.

    Two-digit years and implausible years are refused rather than guessed: a certificate's
    issue date decides whether it is still valid, so a guessed century would mislead.
    """
    raw = unicodedata.normalize("NFKC", text).strip()
    folded = fold(raw)
    match = _DATE_NUMERIC.fullmatch(folded) or _DATE_WORDS.fullmatch(folded)
    if match is None:
        return Invalid(N_("Please type the date as day/month/year."), _DATE_EXAMPLE)
    day, month, year_text = match.groups()
    if len(year_text) == 2:
        return Invalid(N_("Please write the year with all four digits."), _DATE_EXAMPLE)
    if len(year_text) != 4 or not _YEAR_RANGE[0] <= int(year_text) <= _YEAR_RANGE[1]:
        return Invalid(
            N_("The year {year} does not look right. Please check it."), _DATE_EXAMPLE, {"year": year_text}
        )
    try:
        value = date(int(year_text), int(month), int(day))
    except ValueError:
        return Invalid(
            N_("{text} is not a real date. Please check the day and the month."),
            _DATE_EXAMPLE,
            {"text": raw},
        )
    if not_after is not None and value > not_after:
        limit = _dmy(not_after)
        return Invalid(
            N_("The date cannot be later than {limit}."), _BOUND_EXAMPLE, {"limit": limit, "example": limit}
        )
    if not_before is not None and value < not_before:
        limit = _dmy(not_before)
        return Invalid(
            N_("The date cannot be earlier than {limit}."),
            _BOUND_EXAMPLE,
            {"limit": limit, "example": limit},
        )
    return Valid(value)


# --------------------------------------------------------------------------------------------
# Numbers and amounts

_NUMBER_EXAMPLE = N_("For example: 12, 1.000.000 or 350 triệu")
_UNITS = {
    "ty": 10**9,
    "ti": 10**9,
    "trieu": 10**6,
    "tr": 10**6,
    "nghin": 10**3,
    "ngan": 10**3,
    "k": 10**3,
}
_AMOUNT_TOKEN = re.compile(
    r"(?a)\s*(?P<num>\d[\d.,]*)\s*(?:(?P<unit>trieu|tr|nghin|ngan|ty|ti|k)(?![a-z]))?\s*"
)
_CURRENCY_SUFFIX = re.compile(r"\s*(?:dong|vnd|d)\.?\s*$")
_SPACE_GROUP = re.compile(r"(?a)(?<=\d) (?=\d{3}(?!\d))")


def _parse_decimal(token: str) -> Decimal | None:
    """Read "1.000.000", "1,000,000", "1,5", "1.5", "1.234,5" as a Decimal.

    A separator followed by exactly three digits is grouping (Vietnamese "1.500" is fifteen
    hundred); one or two digits after a single separator make a decimal part ("1,5 tỷ").
    """
    if re.fullmatch(r"(?a)\d+", token):
        return Decimal(token)
    for sep in ".,":
        if re.fullmatch(rf"(?a)\d{{1,3}}(?:\{sep}\d{{3}})+", token):
            return Decimal(token.replace(sep, ""))
    for group, point in ((".", ","), (",", ".")):
        if re.fullmatch(rf"(?a)\d{{1,3}}(?:\{group}\d{{3}})+\{point}\d+", token):
            whole, _, frac = token.replace(group, "").partition(point)
            return Decimal(f"{whole}.{frac}")
    if re.fullmatch(r"(?a)\d+[.,]\d+", token):
        return Decimal(token.replace(",", "."))
    return None


def _parse_amount(folded: str) -> Decimal | None:
    """Parse a folded answer into a Decimal, or None when it is not a number we understand.

    Besides plain numbers this reads unit words ("350 triệu", "1,5 tỷ", "500k"), sums of them
    in decreasing order ("1 tỷ 500 triệu") and the spoken tail after a unit ("1tr5" = 1,5
    triệu, "5 triệu 500" = 5,5 triệu). Ambiguous tails ("1 triệu 50") are refused.
    """
    text = folded.replace("₫", " ").strip()
    text = _CURRENCY_SUFFIX.sub("", text) if re.search(r"(?a)\d", text) else text
    negative = text.startswith("-")
    if negative:
        text = text[1:].lstrip()
    text = _SPACE_GROUP.sub("", text)

    parts: list[tuple[str, str | None]] = []
    pos = 0
    while pos < len(text):
        match = _AMOUNT_TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            return None
        parts.append((match["num"], match["unit"]))
        pos = match.end()
    if not parts:
        return None

    if len(parts) == 1 and parts[0][1] is None:
        value = _parse_decimal(parts[0][0])
        return None if value is None else (-value if negative else value)
    if negative:
        return None

    total = Decimal(0)
    previous_unit: int | None = None
    previous_whole = False
    for index, (token, unit_word) in enumerate(parts):
        value = _parse_decimal(token)
        if value is None:
            return None
        if unit_word is None:
            # Only a final bare tail after a whole number of some unit: "1tr5", "2 tỷ 3", "5 triệu 500".
            if index != len(parts) - 1 or previous_unit is None or not previous_whole:
                return None
            if not token.isdigit() or len(token) not in (1, 3):
                return None
            total += Decimal(token) / Decimal(10 ** len(token)) * previous_unit
            break
        unit = _UNITS[unit_word]
        if previous_unit is not None and unit >= previous_unit:
            return None
        total += value * unit
        previous_unit = unit
        previous_whole = value == value.to_integral_value()
    return total


def number(text: str, *, minimum: int | None = None, maximum: int | None = None) -> Result:
    """A whole number or VND amount as people type it; returns `int`.

    Amounts in conversation are in "triệu" and "tỷ" far more often than in digits, and the
    grouping separator is a dot; refusing those would make the bot feel foreign.
    """
    raw = unicodedata.normalize("NFKC", text).strip()
    if not raw:
        return Invalid(N_("Please type a number."), _NUMBER_EXAMPLE)
    value = _parse_amount(fold(raw))
    if value is None:
        return Invalid(N_("I could not read “{text}” as a number."), _NUMBER_EXAMPLE, {"text": raw})
    if value != value.to_integral_value():
        return Invalid(N_("Please type a whole number."), _NUMBER_EXAMPLE)
    result = int(value)
    if minimum is not None and result < minimum:
        shown = _grouped(minimum)
        return Invalid(
            N_("The number must be at least {minimum}."), _BOUND_EXAMPLE, {"minimum": shown, "example": shown}
        )
    if maximum is not None and result > maximum:
        shown = _grouped(maximum)
        return Invalid(
            N_("The number must be at most {maximum}."), _BOUND_EXAMPLE, {"maximum": shown, "example": shown}
        )
    return Valid(result)


# --------------------------------------------------------------------------------------------
# Free text

_TEXT_EXAMPLE = N_("For example: Phú Vinh bamboo and rattan workshop")


def bounded_text(text: str, *, min_len: int = 2, max_len: int = 200) -> Result:
    """Free text (a name, an address, a short description), trimmed with whitespace collapsed.

    Length is counted on NFC text, so a Vietnamese letter typed with combining accents counts
    once; the limits keep answers readable on a staff member's dossier and inside channel limits.
    """
    cleaned = " ".join(unicodedata.normalize("NFC", text).split())
    if len(cleaned) < min_len:
        return Invalid(N_("Please type at least {min_len} characters."), _TEXT_EXAMPLE, {"min_len": min_len})
    if len(cleaned) > max_len:
        return Invalid(
            N_("Please keep it within {max_len} characters; this text has {length}."),
            _TEXT_EXAMPLE,
            {"max_len": max_len, "length": len(cleaned)},
        )
    return Valid(cleaned)


def text_between(min_len: int, max_len: int) -> Callable[[str], Result]:
    """A `bounded_text` validator with its limits fixed, for a flow's declaration."""

    def validate(text: str) -> Result:
        return bounded_text(text, min_len=min_len, max_len=max_len)

    return validate
