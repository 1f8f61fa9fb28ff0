"""Validation as strict as the kept libraries (issue 9 #12): phonenumbers for mobile prefixes,
python-stdnum's vn.mst for tax codes, filetype for what a file really is; behind our own
messages and the warn-not-block policy for tax codes."""

from __future__ import annotations

import pytest

from conversations import filecheck
from conversations.validators import Invalid, Valid, phone, tax_code

UNALLOCATED = ["0501234567", "0531234567", "0541234567", "0711234567", "0721234567", "0731234567",
               "0741234567", "0751234567", "0801234567", "0521234567", "0551234567", "0571234567",
               "0891234567", "0992123456", "0520123456", "0895123456"]  # fmt: skip
ALLOCATED = ["0321234567", "0561234567", "0581234567", "0591234567", "0701234567", "0761234567",
             "0791234567", "0812345678", "0861234567", "0888123456", "0912345678", "0961234567",
             "0991234567", "0559000000", "0899000000"]  # fmt: skip


@pytest.mark.parametrize("typed", UNALLOCATED)
def test_a_mobile_number_under_an_unallocated_prefix_is_refused_with_the_reason(typed: str) -> None:
    result = phone(typed)
    assert isinstance(result, Invalid)
    assert "does not belong to any Vietnamese mobile network" in result.error
    assert result.values == {"phone": typed} and "0912 345 678" in result.example


@pytest.mark.parametrize("typed", ALLOCATED)
def test_numbers_of_real_mobile_networks_are_accepted(typed: str) -> None:
    assert phone(typed) == Valid(typed)
    assert phone("+84 " + typed[1:]) == Valid(typed)


@pytest.mark.parametrize("typed", ["0100000003", "0100109106-000"])
def test_a_tax_code_with_a_zero_serial_or_branch_is_kept_with_a_warning(typed: str) -> None:
    result = tax_code(typed)
    assert isinstance(result, Valid) and result.value == typed
    assert result.warning is not None and "all zeros" in result.warning
    assert result.warning_values == {"code": typed}


def test_a_tax_code_check_digit_mistake_still_warns_with_its_own_message() -> None:
    result = tax_code("0100109107")
    assert isinstance(result, Valid) and result.warning is not None and "last digit" in result.warning


@pytest.mark.parametrize("typed", ["0100109106", "0100109106-001"])
def test_good_tax_codes_pass_quietly(typed: str) -> None:
    assert tax_code(typed) == Valid(typed)


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\x00" * 64


@pytest.mark.parametrize(
    ("head", "content_type", "suffix"),
    [
        (ftyp(b"avif", b"mif1", b"avif", b"miaf"), "image/avif", ".avif"),
        (ftyp(b"mif1", b"mif1", b"avif"), "image/avif", ".avif"),
        (ftyp(b"heic", b"mif1", b"heic"), "image/heic", ".heic"),
        (ftyp(b"msf1", b"msf1", b"hevc"), "image/heic", ".heic"),  # a HEIC sequence
        (ftyp(b"hevc", b"msf1", b"hevc"), "image/heic", ".heic"),
        (ftyp(b"heix", b"mif1", b"heix"), "image/heic", ".heic"),
        (b"\xef\xbb\xbf%PDF-1.7\n" + b"0" * 64, "application/pdf", ".pdf"),  # a leading BOM
        (b"%PDF-1.4\n" + b"0" * 64, "application/pdf", ".pdf"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"0" * 64, "image/jpeg", ".jpg"),
        (b"\x89PNG\r\n\x1a\n" + b"0" * 64, "image/png", ".png"),
    ],
)
def test_files_are_recognised_by_their_bytes(head: bytes, content_type: str, suffix: str) -> None:
    sniffed = filecheck.sniff(head)
    assert sniffed is not None
    assert (sniffed.content_type, sniffed.suffix) == (content_type, suffix)


@pytest.mark.parametrize(
    "head",
    [b"PK\x03\x04" + b"0" * 64, b"GIF89a" + b"0" * 64, ftyp(b"isom", b"isom", b"mp41"), b"hello"],
)
def test_other_files_are_refused(head: bytes) -> None:
    assert filecheck.sniff(head) is None
