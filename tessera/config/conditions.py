"""The no-SQL condition language shared by segments and offer eligibility.

A condition is one of:

- ``{all: [cond, ...]}`` / ``{any: [cond, ...]}`` / ``{not: cond}``
- ``{trait: NAME, op: OP, value: V}``: a column of the golden profile
  (``profiles.dim_customer_profiles``). OP is one of eq, ne, gt, gte, lt, lte, in, not_in,
  is_null, not_null, contains.
- ``{event: NAME, within_days: N, min_count: 1}``: the profile has at least ``min_count``
  events called NAME in the N days before the run's as-of time.
- ``{consent: {channel: C, purpose: P, status: opt_in, within_days: N}}``: the profile's latest
  consent for (C, P) has that status (and, with ``within_days``, was given in the last N days).
- ``{segment: NAME}``: the profile is a member of another segment.

Conditions are validated here, against the list of known traits, and compiled to SQL by
``tessera.compile.sql``. Nothing a user writes reaches SQL except as a quoted literal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tessera.config.errors import ConfigError

# The traits of profiles.dim_customer_profiles that conditions may use, with their kind.
TRAITS: dict[str, str] = {
    "profile_id": "string",
    "first_name": "string",
    "last_name": "string",
    "email": "string",
    "phone": "string",
    "customer_id": "string",
    "loyalty_id": "string",
    "loyalty_tier": "string",
    "is_loyalty_member": "boolean",
    "record_count": "number",
    "source_count": "number",
    "lifetime_value": "number",
    "order_count": "number",
    "avg_order_value": "number",
    "first_order_at": "timestamp",
    "last_order_at": "timestamp",
    "days_since_last_order": "number",
    "favourite_category": "string",
    "last_seen_at": "timestamp",
    "email_reachable": "boolean",
    "sms_reachable": "boolean",
    "push_reachable": "boolean",
    "web_reachable": "boolean",
}

OPERATORS = {"eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "is_null", "not_null", "contains"}
CHANNELS = ("email", "sms", "push", "web")
PURPOSES = ("marketing", "personalization")
CONSENT_STATUSES = ("opt_in", "opt_out")


@dataclass(frozen=True)
class All:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Any_:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


@dataclass(frozen=True)
class TraitCondition:
    trait: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class EventCondition:
    event: str
    within_days: int
    min_count: int = 1


@dataclass(frozen=True)
class ConsentCondition:
    channel: str
    purpose: str
    status: str = "opt_in"
    within_days: int | None = None


@dataclass(frozen=True)
class SegmentCondition:
    segment: str


Condition = All | Any_ | Not | TraitCondition | EventCondition | ConsentCondition | SegmentCondition


def _positive_int(value: Any, where: str, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        raise ConfigError(f"{where}: expected a {'non-negative' if allow_zero else 'positive'} whole number, got {value!r}")
    return value


def _check_value(trait: str, kind: str, op: str, value: Any, where: str) -> Any:
    if op in ("is_null", "not_null"):
        if value is not None:
            raise ConfigError(f"{where}.value: operator {op!r} takes no value")
        return None
    if value is None:
        raise ConfigError(f"{where}.value: operator {op!r} needs a value")
    values = value if op in ("in", "not_in") else [value]
    if op in ("in", "not_in") and (not isinstance(value, list) or not value):
        raise ConfigError(f"{where}.value: operator {op!r} needs a non-empty list")
    if op == "contains" and kind != "string":
        raise ConfigError(f"{where}.op: 'contains' works on text traits only, {trait!r} is {kind}")
    for v in values:
        ok = {
            "number": isinstance(v, int | float) and not isinstance(v, bool),
            "boolean": isinstance(v, bool),
            "string": isinstance(v, str),
            "timestamp": isinstance(v, str),
        }[kind]
        if not ok:
            raise ConfigError(f"{where}.value: trait {trait!r} is a {kind}, got {v!r}")
    if kind == "boolean" and op not in ("eq", "ne"):
        raise ConfigError(f"{where}.op: boolean trait {trait!r} supports eq and ne, not {op!r}")
    return value


def parse_condition(raw: Any, where: str = "conditions") -> Condition:
    """Parse and validate one condition node; errors name the path to the bad field."""
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{where}: expected a mapping such as {{trait: ..., op: ..., value: ...}}, got {raw!r}")
    keys = set(raw)
    if keys == {"all"} or keys == {"any"}:
        key = next(iter(keys))
        items = raw[key]
        if not isinstance(items, list) or not items:
            raise ConfigError(f"{where}.{key}: expected a non-empty list of conditions")
        parsed = tuple(parse_condition(item, f"{where}.{key}[{i}]") for i, item in enumerate(items))
        return All(parsed) if key == "all" else Any_(parsed)
    if keys == {"not"}:
        return Not(parse_condition(raw["not"], f"{where}.not"))
    if "trait" in keys:
        unknown = keys - {"trait", "op", "value"}
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)} in a trait condition")
        trait = raw["trait"]
        if trait not in TRAITS:
            raise ConfigError(f"{where}.trait: unknown trait {trait!r}; known traits: {', '.join(sorted(TRAITS))}")
        op = raw.get("op", "eq")
        if op not in OPERATORS:
            raise ConfigError(f"{where}.op: unknown operator {op!r}; use one of {', '.join(sorted(OPERATORS))}")
        value = _check_value(trait, TRAITS[trait], op, raw.get("value"), where)
        return TraitCondition(trait, op, value)
    if "event" in keys:
        unknown = keys - {"event", "within_days", "min_count"}
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)} in an event condition")
        if not isinstance(raw["event"], str) or not raw["event"].strip():
            raise ConfigError(f"{where}.event: expected an event name")
        if "within_days" not in raw:
            raise ConfigError(f"{where}.within_days: an event condition needs a window in days")
        return EventCondition(
            raw["event"],
            _positive_int(raw["within_days"], f"{where}.within_days"),
            _positive_int(raw.get("min_count", 1), f"{where}.min_count"),
        )
    if keys == {"consent"}:
        body = raw["consent"]
        if not isinstance(body, dict):
            raise ConfigError(f"{where}.consent: expected a mapping with channel and purpose")
        unknown = set(body) - {"channel", "purpose", "status", "within_days"}
        if unknown:
            raise ConfigError(f"{where}.consent: unknown field(s) {sorted(unknown)}")
        channel, purpose = body.get("channel"), body.get("purpose", "marketing")
        status = body.get("status", "opt_in")
        if channel not in CHANNELS:
            raise ConfigError(f"{where}.consent.channel: expected one of {CHANNELS}, got {channel!r}")
        if purpose not in PURPOSES:
            raise ConfigError(f"{where}.consent.purpose: expected one of {PURPOSES}, got {purpose!r}")
        if status not in CONSENT_STATUSES:
            raise ConfigError(f"{where}.consent.status: expected one of {CONSENT_STATUSES}, got {status!r}")
        within = body.get("within_days")
        if within is not None:
            within = _positive_int(within, f"{where}.consent.within_days")
        return ConsentCondition(channel, purpose, status, within)
    if keys == {"segment"}:
        return SegmentCondition(validate_name(raw["segment"], f"{where}.segment"))
    raise ConfigError(
        f"{where}: cannot tell what kind of condition this is (keys {sorted(keys)}); "
        "use all/any/not, trait, event, consent or segment"
    )


def validate_name(value: Any, where: str) -> str:
    import re

    if not isinstance(value, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", value):
        raise ConfigError(f"{where}: {value!r} is not a valid name (lower case letters, digits and _)")
    return value


def referenced_segments(cond: Condition) -> set[str]:
    match cond:
        case All(items) | Any_(items):
            return set().union(*(referenced_segments(c) for c in items))
        case Not(item):
            return referenced_segments(item)
        case SegmentCondition(segment):
            return {segment}
        case _:
            return set()
