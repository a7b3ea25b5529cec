"""Row validation: every row is typed here before dlt sees it, or rejected with a clear reason.

A rejected row is never dropped: the caller sends it to ``raw.quarantine`` with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from tessera.sources.contract import BIGINT, DOUBLE, TEXT, TIMESTAMP, TableSpec


class InvalidValue(ValueError):
    """A value that does not fit its column; the message is the quarantine reason tail."""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def parse_timestamp(value: Any) -> datetime:
    """ISO 8601 text (or a datetime) -> aware UTC datetime. Naive values are taken as UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text[-1] in "Zz":
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidValue(f"not an ISO 8601 timestamp: {_show(value)}") from None
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    else:
        raise InvalidValue(f"not an ISO 8601 timestamp: {_show(value)}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_float(value: Any) -> float:
    if isinstance(value, bool):
        raise InvalidValue(f"not a number: {_show(value)}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise InvalidValue(f"not a number: {_show(value)}") from None
    else:
        raise InvalidValue(f"not a number: {_show(value)}")
    if not math.isfinite(number):
        raise InvalidValue(f"not a finite number: {_show(value)}")
    return number


def parse_int(value: Any) -> int:
    if isinstance(value, bool):
        raise InvalidValue(f"not an integer: {_show(value)}")
    if isinstance(value, int):
        return value
    try:
        number = parse_float(value)
    except InvalidValue:
        raise InvalidValue(f"not an integer: {_show(value)}") from None
    if not number.is_integer():
        raise InvalidValue(f"not an integer: {_show(value)}")
    return int(number)


def parse_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | datetime | date):
        return value.isoformat() if isinstance(value, datetime | date) else str(value)
    raise InvalidValue(f"not a text value: {_show(value)}")


PARSERS = {TEXT: parse_text, DOUBLE: parse_float, BIGINT: parse_int, TIMESTAMP: parse_timestamp}


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def coerce_columns(
    values: Mapping[str, Any],
    columns: Mapping[str, str],
    where: str,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Type every contract column; missing columns become None, extra keys are left out.

    ``where`` prefixes reasons (e.g. "orders"), ``labels`` maps a raw column to the source-side
    field name used in the reason (e.g. "sent_at" -> "sentAt").
    """
    out: dict[str, Any] = {}
    for column, dtype in columns.items():
        value = values.get(column)
        if value is None or (dtype != TEXT and is_blank(value)):
            out[column] = None
            continue
        try:
            out[column] = PARSERS[dtype](value)
        except InvalidValue as exc:
            label = (labels or {}).get(column, column)
            raise InvalidValue(f"{where}.{label}: {exc}") from None
    return out


def validate_row(spec: TableSpec, row: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and type one flat source row against its contract table. Raises InvalidValue."""
    if not isinstance(row, Mapping):
        raise InvalidValue(f"{spec.source_table}: not an object: {_show(row)}")
    for column in (spec.primary_key, *spec.required):
        if is_blank(row.get(column)):
            raise InvalidValue(f"{spec.source_table}.{column}: missing required value")
    return coerce_columns(row, spec.columns, spec.source_table)
