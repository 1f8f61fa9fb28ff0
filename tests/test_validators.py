"""What a facility owner notices when typing answers: what is accepted, how it is stored, and
which message comes back when it is not."""

from __future__ import annotations

from datetime import date

import pytest

from conversations.validators import (
    Invalid,
    Valid,
    bounded_text,
    date_dmy,
    fold,
    national_id,
    number,
    phone,
    tax_code,
)

# ---------------------------------------------------------------------------------------------
# Phone


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("+84 912 345 678", "0912345678"),
        ("84-912.345.678", "0912345678"),
        ("0912 345 678", "0912345678"),
        ("(+84)912345678", "0912345678"),
        ("+84 0912 345 678", "0912345678"),
        ("0084 912 345 678", "0912345678"),
        ("0386.123.456", "0386123456"),
        ("0703-123-456", "0703123456"),
        ("0562 123 456", "0562123456"),
        ("0868123456", "0868123456"),
        ("912 345 678", "0912345678"),
    ],
)
def test_phone_is_normalised_to_ten_digits(typed: str, stored: str) -> None:
    assert phone(typed) == Valid(stored)


@pytest.mark.parametrize(
    ("typed", "error", "values"),
    [
        (
            "0212345678",
            "{phone} is a landline number. Please give a mobile number (10 digits starting with "
            "03, 05, 07, 08 or 09) so that the Centre can call or text you.",
            {"phone": "0212345678"},
        ),
        ("024 3826 1234", None, {"phone": "02438261234"}),
        ("091234567", "A mobile number has 10 digits; the number you typed has {count}.", {"count": 9}),
        ("09123456789", "A mobile number has 10 digits; the number you typed has {count}.", {"count": 11}),
        (
            "0612345678",
            "A Vietnamese mobile number starts with 03, 05, 07, 08 or 09; this one starts with {prefix}.",
            {"prefix": "06"},
        ),
        (
            "09l2 345 678",
            "A phone number contains only digits; “{text}” has other characters.",
            {"text": "09l2 345 678"},
        ),
        ("không có", None, {"text": "không có"}),
        ("+1 202 555 0101", "Please give a Vietnamese mobile number.", {}),
        (
            "0168 912 3456",
            "Mobile numbers starting with 01 were changed to 10 digits in 2018. "
            "Please type the number you use now.",
            {},
        ),
        ("", "Please type your mobile number.", {}),
    ],
)
def test_phone_refusals_say_why(typed: str, error: str | None, values: dict) -> None:
    result = phone(typed)
    assert isinstance(result, Invalid)
    if error is not None:
        assert result.error == error
    assert dict(result.values) == values
    assert result.example == "For example: 0912 345 678"


# ---------------------------------------------------------------------------------------------
# Tax code

WARNING = (
    "Tax code {code} may contain a typing mistake (its last digit does not match the others). "
    "Please check it against your registration certificate; I have kept it as you typed it."
)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("0100109106", "0100109106"),  # check: 114 mod 11 = 4, 10 - 4 = 6
        ("0100109106-001", "0100109106-001"),
        ("0100109106 – 001", "0100109106-001"),  # typed with an en dash and spaces
        ("0100109106001", "0100109106-001"),  # branch code without its dash
        ("0101 243 150", "0101243150"),
        ("03.0256.4877", "0302564877"),
        ("MST: 0100109106", "0100109106"),
    ],
)
def test_tax_code_with_right_check_digit_is_accepted_quietly(typed: str, stored: str) -> None:
    assert tax_code(typed) == Valid(stored)


def test_tax_code_with_wrong_check_digit_is_kept_with_a_warning() -> None:
    result = tax_code("0100109107")
    assert isinstance(result, Valid)
    assert result.value == "0100109107"
    assert result.warning == WARNING
    assert dict(result.warning_values) == {"code": "0100109107"}


def test_tax_code_whose_check_would_be_ten_warns() -> None:
    # 0,1,0,0,1,0,9,1,6 weighted gives 132 = 12 × 11: check would be 10, so no digit is right.
    result = tax_code("0100109160")
    assert isinstance(result, Valid) and result.warning == WARNING


def test_household_business_may_give_a_twelve_digit_personal_number() -> None:
    assert tax_code("036 090 001 234") == Valid("036090001234")


@pytest.mark.parametrize(("typed", "count"), [("010010910", 9), ("01001091061", 11)])
def test_tax_code_of_wrong_length_is_refused(typed: str, count: int) -> None:
    result = tax_code(typed)
    assert isinstance(result, Invalid)
    assert "{count} digits" in result.error
    assert dict(result.values) == {"count": count}
    assert result.example == "For example: 0100109106, or 0100109106-001 for a branch"


def test_tax_code_with_letters_or_a_short_branch_is_refused() -> None:
    letters = tax_code("01001O9106")
    assert isinstance(letters, Invalid) and "other characters" in letters.error
    branch = tax_code("0100109106-01")
    assert isinstance(branch, Invalid)
    assert branch.error == "The branch number after the dash has 3 digits."


# ---------------------------------------------------------------------------------------------
# National ID


def test_national_id_accepts_twelve_digits_with_spaces() -> None:
    assert national_id("036 090 001 234") == Valid("036090001234")


def test_national_id_refuses_old_nine_digit_card_with_its_own_message() -> None:
    result = national_id("123456789")
    assert isinstance(result, Invalid)
    assert "CMND" in result.error
    assert result.example == "For example: 036 090 001 234"


@pytest.mark.parametrize(("typed", "count"), [("03609000123", 11), ("0360900012345", 13)])
def test_national_id_refuses_other_lengths(typed: str, count: int) -> None:
    result = national_id(typed)
    assert isinstance(result, Invalid) and dict(result.values) == {"count": count}


# ---------------------------------------------------------------------------------------------
# Dates


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("15/09/2019", date(2019, 9, 15)),
        ("5/9/2019", date(2019, 9, 5)),
        ("15-09-2019", date(2019, 9, 15)),
        ("15.09.2019", date(2019, 9, 15)),
        (" 15 / 9 / 2019 ", date(2019, 9, 15)),
        ("ngày 15 tháng 9 năm 2019", date(2019, 9, 15)),
        ("29/02/2024", date(2024, 2, 29)),
        ("29/02/2000", date(2000, 2, 29)),
    ],
)
def test_dates_are_read_day_first(typed: str, value: date) -> None:
    assert date_dmy(typed) == Valid(value)


@pytest.mark.parametrize("typed", ["29/02/2023", "29/02/1900", "31/04/2024", "09/15/2019"])
def test_dates_not_on_the_calendar_are_refused(typed: str) -> None:
    result = date_dmy(typed)
    assert isinstance(result, Invalid)
    assert result.error == "{text} is not a real date. Please check the day and the month."
    assert dict(result.values) == {"text": typed}
    assert result.example == "For example: 15/09/2019"


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("15/9/19", "Please write the year with all four digits."),
        ("2019-09-15", "Please type the date as day/month/year."),
        ("hôm qua", "Please type the date as day/month/year."),
        ("15/09/0219", "The year {year} does not look right. Please check it."),
    ],
)
def test_unreadable_dates_are_refused(typed: str, error: str) -> None:
    result = date_dmy(typed)
    assert isinstance(result, Invalid) and result.error == error


def test_date_bounds_are_inclusive_and_the_limit_is_shown_day_first() -> None:
    today = date(2025, 10, 15)
    assert date_dmy("15/10/2025", not_after=today) == Valid(today)
    later = date_dmy("16/10/2025", not_after=today)
    assert isinstance(later, Invalid)
    assert later.error == "The date cannot be later than {limit}."
    assert later.values["limit"] == "15/10/2025"

    start = date(2022, 1, 1)
    assert date_dmy("01/01/2022", not_before=start) == Valid(start)
    earlier = date_dmy("31/12/2021", not_before=start)
    assert isinstance(earlier, Invalid)
    assert earlier.error == "The date cannot be earlier than {limit}."
    assert earlier.values["limit"] == "01/01/2022"


# ---------------------------------------------------------------------------------------------
# Numbers and amounts


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("12", 12),
        ("1.000.000", 1_000_000),
        ("1,000,000", 1_000_000),
        ("1 000 000", 1_000_000),
        ("1.000.000 đ", 1_000_000),
        ("300.000.000 VNĐ", 300_000_000),
        ("350 triệu", 350_000_000),
        ("350 trieu", 350_000_000),
        ("350tr", 350_000_000),
        ("1,5 tỷ", 1_500_000_000),
        ("1.5 ty", 1_500_000_000),
        ("2 tỉ", 2_000_000_000),
        ("1.500 triệu", 1_500_000_000),
        ("500k", 500_000),
        ("500 nghìn", 500_000),
        ("500 ngàn", 500_000),
        ("1 tỷ 500 triệu", 1_500_000_000),
        ("1tr5", 1_500_000),
        ("2 tỷ 3", 2_300_000_000),
        ("5 triệu 500", 5_500_000),
    ],
)
def test_numbers_and_vietnamese_amounts(typed: str, value: int) -> None:
    assert number(typed) == Valid(value)


@pytest.mark.parametrize("typed", ["abc", "500kg", "12 13", "1 triệu 50", "500 triệu 1 tỷ", "khoảng 300"])
def test_unreadable_numbers_are_refused_with_an_example(typed: str) -> None:
    result = number(typed)
    assert isinstance(result, Invalid)
    assert result.error == "I could not read “{text}” as a number."
    assert dict(result.values) == {"text": typed}
    assert result.example == "For example: 12, 1.000.000 or 350 triệu"


def test_fractions_are_refused_unless_a_unit_makes_them_whole() -> None:
    result = number("1,5")
    assert isinstance(result, Invalid) and result.error == "Please type a whole number."


def test_number_bounds_show_the_limit_with_vietnamese_grouping() -> None:
    assert number("300 triệu", maximum=300_000_000) == Valid(300_000_000)
    over = number("301 triệu", maximum=300_000_000)
    assert isinstance(over, Invalid)
    assert over.error == "The number must be at most {maximum}."
    assert over.values["maximum"] == "300.000.000"
    under = number("0", minimum=1)
    assert isinstance(under, Invalid)
    assert under.error == "The number must be at least {minimum}."
    assert under.values["minimum"] == "1"


# ---------------------------------------------------------------------------------------------
# Free text and folding


def test_bounded_text_trims_and_collapses_whitespace() -> None:
    assert bounded_text("  Cơ sở   mây tre\n đan  ") == Valid("Cơ sở mây tre đan")


def test_bounded_text_counts_a_vietnamese_letter_once() -> None:
    decomposed = "Ê\u0301"  # Ế typed as E + two combining marks
    assert bounded_text(decomposed, min_len=1, max_len=1) == Valid("Ế")


def test_bounded_text_says_the_limit() -> None:
    short = bounded_text(" a ")
    assert isinstance(short, Invalid)
    assert short.error == "Please type at least {min_len} characters."
    assert dict(short.values) == {"min_len": 2}
    long = bounded_text("x" * 201)
    assert isinstance(long, Invalid)
    assert dict(long.values) == {"max_len": 200, "length": 201}
    assert bounded_text("x" * 200) == Valid("x" * 200)


@pytest.mark.parametrize(
    ("typed", "folded"),
    [
        ("Đồng Ý", "dong y"),
        ("  Tôi   đồng ý ", "toi dong y"),
        ("Hoà Bình", "hoa binh"),
        ("Hòa Bình", "hoa binh"),
        ("THỪA THIÊN HUẾ", "thua thien hue"),
        ("Đắk Lắk", "dak lak"),
    ],
)
def test_fold(typed: str, folded: str) -> None:
    assert fold(typed) == folded
