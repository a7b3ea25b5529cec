"""Compile the condition language (tessera.config.conditions) into portable dbt SQL.

The output is a boolean SQL expression about one profile row aliased ``p`` (a row of
``profiles.dim_customer_profiles``). Identifiers come only from the validated trait list; every
user-supplied value becomes a quoted literal, so a definition cannot inject SQL or Jinja.
"""

from __future__ import annotations

import math

from tessera.config.conditions import (
    TRAITS,
    All,
    Any_,
    Condition,
    ConsentCondition,
    EventCondition,
    Not,
    SegmentCondition,
    TraitCondition,
)

AS_OF = "{{ tessera_as_of() }}"
_OPS = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def literal(value: object) -> str:
    """Render a Python value as a SQL literal that is also inert to dbt's Jinja."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")
        return repr(value)
    text = "'" + str(value).replace("'", "''") + "'"
    if any(tok in text for tok in ("{{", "{%", "{#", "}}", "%}", "#}")):
        text = "{% raw %}" + text + "{% endraw %}"
    return text


def _days_ago(days: int) -> str:
    return f"{{{{ dbt.dateadd('day', -{int(days)}, tessera_as_of()) }}}}"


def _trait_sql(cond: TraitCondition) -> str:
    col = f"p.{cond.trait}"
    kind = TRAITS[cond.trait]

    def lit(v: object) -> str:
        return f"cast({literal(v)} as timestamp)" if kind == "timestamp" else literal(v)

    if cond.op == "is_null":
        return f"{col} is null"
    if cond.op == "not_null":
        return f"{col} is not null"
    if cond.op in ("in", "not_in"):
        values = ", ".join(lit(v) for v in cond.value)
        neg = "not " if cond.op == "not_in" else ""
        return f"({col} is not null and {col} {neg}in ({values}))"
    if cond.op == "contains":
        pattern = "%" + str(cond.value).replace("%", "").replace("_", "") + "%"
        return f"lower({col}) like lower({literal(pattern)})"
    return f"({col} is not null and {col} {_OPS[cond.op]} {lit(cond.value)})"


def _event_sql(cond: EventCondition) -> str:
    window = (
        f"e.event_name = {literal(cond.event)}"
        f" and e.occurred_at > {_days_ago(cond.within_days)}"
        f" and e.occurred_at <= {AS_OF}"
    )
    if cond.min_count == 1:
        return (
            "exists (select 1 from {{ ref('int_events_resolved') }} e "
            f"where e.profile_id = p.profile_id and {window})"
        )
    return (
        "(select count(*) from {{ ref('int_events_resolved') }} e "
        f"where e.profile_id = p.profile_id and {window}) >= {cond.min_count}"
    )


def _consent_sql(cond: ConsentCondition) -> str:
    parts = [
        "c.profile_id = p.profile_id",
        f"c.channel = {literal(cond.channel)}",
        f"c.purpose = {literal(cond.purpose)}",
        f"c.status = {literal(cond.status)}",
    ]
    if cond.within_days is not None:
        parts.append(f"c.occurred_at > {_days_ago(cond.within_days)}")
        parts.append(f"c.occurred_at <= {AS_OF}")
    return "exists (select 1 from {{ ref('int_consent_latest') }} c where " + " and ".join(parts) + ")"


def condition_sql(cond: Condition, indent: str = "      ") -> str:
    match cond:
        case All(items):
            inner = f"\n{indent}and ".join(condition_sql(c, indent + "  ") for c in items)
            return f"(\n{indent}{inner}\n{indent[:-2]})"
        case Any_(items):
            inner = f"\n{indent}or ".join(condition_sql(c, indent + "  ") for c in items)
            return f"(\n{indent}{inner}\n{indent[:-2]})"
        case Not(item):
            return f"not {condition_sql(item, indent)}"
        case TraitCondition():
            return _trait_sql(cond)
        case EventCondition():
            return _event_sql(cond)
        case ConsentCondition():
            return _consent_sql(cond)
        case SegmentCondition(segment):
            return f"p.profile_id in (select profile_id from {{{{ ref('seg_{segment}') }}}})"
    raise TypeError(f"not a condition: {cond!r}")


def referenced_models(cond: Condition) -> set[str]:
    """dbt models a compiled condition reads, besides the profile mart."""
    match cond:
        case All(items) | Any_(items):
            return set().union(*(referenced_models(c) for c in items))
        case Not(item):
            return referenced_models(item)
        case EventCondition():
            return {"int_events_resolved"}
        case ConsentCondition():
            return {"int_consent_latest"}
        case SegmentCondition(segment):
            return {f"seg_{segment}"}
    return set()
