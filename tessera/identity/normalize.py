"""Normalizers per identifier type.

- emails: email-validator (syntax, unicode and case of the domain), lower case, whitespace;
  optional provider rules (gmail/googlemail: dots and ``+tags`` dropped) when configured;
- phones: E.164 with phonenumbers, using a default region;
- names: unicode folding, case, punctuation; nicknames and diminutives through
  :mod:`tessera.identity.nicknames`; a one-letter first name is an initial;
- dates in mixed formats (ISO, ``yyyymmdd``, ``dd/mm/yyyy`` or ``mm/dd/yyyy`` by the configured
  order, ``dd.mm.yyyy``, ``dd-mm-yyyy``, ``d Mon yyyy``);
- address abbreviations (Street and St, Road and Rd, Apartment and Apt ...).

The scalar functions here are the reference; the engine applies the same rules in DuckDB SQL
(:func:`name_sql`, :func:`street_sql`, :func:`date_sql`) and calls the Python ones only on the
distinct values of emails and phones.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

# USPS (Publication 28, appendix C) and Australia Post style abbreviations, lower case
ADDRESS_ABBREVIATIONS = {
    "street": "st", "str": "st", "road": "rd", "avenue": "ave", "av": "ave", "drive": "dr", "court": "ct",
    "place": "pl", "lane": "ln", "crescent": "cres", "cresent": "cres", "close": "cl", "parade": "pde",
    "terrace": "tce", "boulevard": "blvd", "boulevarde": "blvd", "highway": "hwy", "circuit": "cct",
    "way": "wy", "square": "sq", "grove": "gr", "parkway": "pkwy", "circle": "cir", "esplanade": "esp",
    "mount": "mt", "saint": "st", "north": "n", "south": "s", "east": "e", "west": "w",
    "apartment": "apt", "unit": "unit", "flat": "flat", "level": "lvl", "suite": "ste", "floor": "fl",
    "building": "bldg", "po": "po", "box": "box",
}

_NON_ALPHA = re.compile(r"[^a-z ]+")
_NON_ALNUM = re.compile(r"[^a-z0-9 ]+")
_SPACES = re.compile(r"\s+")


def fold(text: str | None, keep_digits: bool = False) -> str | None:
    """Unicode folding: NFKD, drop combining marks, lower case, punctuation (and, unless
    ``keep_digits``, digits) to spaces, squeeze."""
    if text is None:
        return None
    s = unicodedata.normalize("NFKD", str(text))
    s = "".join(c for c in s if not unicodedata.combining(c)).lower()
    s = s.replace("'", "").replace("’", "")
    s = _SPACES.sub(" ", (_NON_ALNUM if keep_digits else _NON_ALPHA).sub(" ", s)).strip()
    return s or None


def normalize_name(text: str | None) -> str | None:
    """A name part: folded, spaces removed ("Van der Berg" -> "vanderberg", "O'Neil" -> "oneil")."""
    s = fold(text)
    return s.replace(" ", "") if s else None


def split_full_name(text: str | None) -> tuple[str | None, str | None]:
    """"Last, First" or "First [Middle] Last" -> (first, last), both normalized."""
    if text is None or not str(text).strip():
        return None, None
    raw = str(text)
    if "," in raw:
        last, _, first = raw.partition(",")
        first_tokens = (fold(first) or "").split()
        return (first_tokens[0] if first_tokens else None), normalize_name(last)
    tokens = (fold(raw) or "").split()
    if not tokens:
        return None, None
    if len(tokens) == 1:
        return tokens[0], None
    return tokens[0], tokens[-1]


def normalize_street(text: str | None) -> str | None:
    s = fold(text, keep_digits=True)  # as street_sql does: house numbers are part of the street
    if not s:
        return None
    return " ".join(ADDRESS_ABBREVIATIONS.get(w, w) for w in s.split())


def normalize_postcode(text: str | None) -> str | None:
    if text is None:
        return None
    s = re.sub(r"[^0-9A-Za-z]", "", str(text)).upper()
    return s or None


def normalize_code(text: str | None) -> str | None:
    """Ids (national id, customer id ...): upper case, only letters and digits."""
    return normalize_postcode(text)


def normalize_email(text: str | None, provider_rules: bool = False) -> str | None:
    """A syntactically valid email, lower-cased and trimmed; None when it is not an email."""
    if text is None:
        return None
    s = str(text).strip()
    if not s:
        return None
    try:
        v = validate_email(s, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return None
    local, domain = v.local_part.lower(), v.domain.lower()
    if provider_rules and domain in ("gmail.com", "googlemail.com"):
        local = local.split("+", 1)[0].replace(".", "")
        domain = "gmail.com"
    return f"{local}@{domain}"


def normalize_phone(text: str | None, region: str = "US") -> str | None:
    """E.164 (+15551234567), or None when phonenumbers cannot read a possible number."""
    if text is None:
        return None
    s = str(text).strip()
    if not s:
        return None
    try:
        n = phonenumbers.parse(s, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(n):
        return None
    return phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)


def date_formats(order: str = "dmy") -> list[str]:
    slash = ["%d/%m/%Y", "%m/%d/%Y"] if order == "dmy" else ["%m/%d/%Y", "%d/%m/%Y"]
    dash = ["%d-%m-%Y", "%m-%d-%Y"] if order == "dmy" else ["%m-%d-%Y", "%d-%m-%Y"]
    return ["%Y-%m-%d", "%Y%m%d", *slash, *dash, "%d.%m.%Y", "%Y/%m/%d", "%d %b %Y", "%d %B %Y", "%b %d %Y",
            "%B %d %Y", "%Y-%m-%dT%H:%M:%S"]


def normalize_date(text, order: str = "dmy") -> date | None:
    if text is None:
        return None
    if isinstance(text, datetime):
        return text.date()
    if isinstance(text, date):
        return text
    s = str(text).strip().replace(",", "")
    for f in date_formats(order):
        try:
            d = datetime.strptime(s, f).date()
        except ValueError:
            continue
        if 1850 <= d.year <= 2100:
            return d
    return None


# ---- SQL versions used by the engine (same rules, run in DuckDB) ----------------------------------

def name_sql(col: str) -> str:
    return (f"nullif(regexp_replace(lower(strip_accents({col}::varchar)), '[^a-z]+', '', 'g'), '')")


def fold_sql(col: str) -> str:
    return (f"nullif(trim(regexp_replace(regexp_replace(lower(strip_accents({col}::varchar)), '''', '', 'g'), "
            f"'[^a-z0-9]+', ' ', 'g')), '')")


def street_sql(col: str) -> str:
    pairs = ", ".join(f"'{k}': '{v}'" for k, v in ADDRESS_ABBREVIATIONS.items())
    return (f"nullif(array_to_string(list_transform(string_split({fold_sql(col)}, ' '), "
            f"lambda w: coalesce(map{{{pairs}}}[w], w)), ' '), '')")


def code_sql(col: str) -> str:
    return f"nullif(upper(regexp_replace({col}::varchar, '[^0-9A-Za-z]+', '', 'g')), '')"


def date_sql(col: str, order: str = "dmy") -> str:
    fmts = ", ".join(f"'{f}'" for f in date_formats(order))
    d = f"try_strptime(trim(replace({col}::varchar, ',', '')), [{fmts}])::date"
    return f"(case when year({d}) between 1850 and 2100 then {d} end)"


@lru_cache(maxsize=1)
def _abbrev_items():
    return tuple(ADDRESS_ABBREVIATIONS.items())
