from datetime import date

import duckdb
import pytest

from tessera.identity.nicknames import is_nickname_match, name_groups
from tessera.identity.normalize import (
    date_sql,
    normalize_date,
    normalize_email,
    normalize_name,
    normalize_phone,
    normalize_street,
    split_full_name,
    street_sql,
)


def test_email_case_whitespace_and_provider_rules():
    assert normalize_email("  Maria.Kelley@Gmail.com\t") == "maria.kelley@gmail.com"
    assert normalize_email("not an email") is None
    assert normalize_email("m.kelley+shop@googlemail.com") == "m.kelley+shop@googlemail.com"
    assert normalize_email("m.kelley+shop@googlemail.com", provider_rules=True) == "mkelley@gmail.com"


@pytest.mark.parametrize("raw", ["+15551234567", "(555) 123-4567", "555.123.4567", "+1 555 123 4567",
                                 "5551234567", "555-123-4567", "1-555-123-4567"])
def test_phone_formats_to_e164(raw):
    assert normalize_phone(raw, "US") == "+15551234567"


def test_phone_default_region_and_garbage():
    assert normalize_phone("020 7946 0958", "GB") == "+442079460958"
    assert normalize_phone("n/a") is None


def test_names_fold_case_accents_punctuation():
    assert normalize_name("  ZOË ") == "zoe"
    assert normalize_name("O'Neil-Smith") == "oneilsmith"
    assert split_full_name("Kelley, Maria") == ("maria", "kelley")
    assert split_full_name("M. Kelley") == ("m", "kelley")
    assert split_full_name("Maria Anna Kelley") == ("maria", "kelley")


def test_nicknames_from_the_package_and_extras():
    assert is_nickname_match("bob", "robert")
    assert is_nickname_match("liz", "elizabeth")
    assert is_nickname_match("masha", "maria")
    assert not is_nickname_match("bob", "maria")
    assert "robert" in name_groups()["bob"]


@pytest.mark.parametrize("raw,order,expected", [
    ("1985-03-12", "dmy", date(1985, 3, 12)), ("19850312", "dmy", date(1985, 3, 12)),
    ("12/03/1985", "dmy", date(1985, 3, 12)), ("03/12/1985", "mdy", date(1985, 3, 12)),
    ("12.03.1985", "dmy", date(1985, 3, 12)), ("12 Mar 1985", "dmy", date(1985, 3, 12)),
    ("2024-13-45", "dmy", None), ("not a date", "dmy", None), ("0000-00-00", "dmy", None),
])
def test_dates_in_mixed_formats(raw, order, expected):
    assert normalize_date(raw, order) == expected
    got = duckdb.sql(f"select {date_sql(repr(raw), order)}").fetchall()[0][0]
    assert got == expected


def test_address_abbreviations_python_and_sql_agree():
    assert normalize_street("12 Oak Street") == normalize_street("12 oak st.") == "12 oak st"
    assert normalize_street("Apartment 4, North Road") == "apt 4 n rd"
    assert duckdb.sql(f"select {street_sql(repr('12 Oak Street'))}").fetchall()[0][0] == "12 oak st"
