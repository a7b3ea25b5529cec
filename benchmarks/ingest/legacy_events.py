# Frozen copy of tessera/sources/events.py before the Arrow loader (commit 0f188a5), kept only as
# the "legacy" baseline of benchmarks/ingest/bench_events.py: each message handed to dlt as a dict.
"""Web/app events: Segment-spec messages in JSONL files -> raw.events (+ raw.events__properties__products).

Each message is flattened to exactly the Contract 2 columns (camelCase -> snake_case, nested objects
joined with ``__``); fields outside the contract (``context.library``, ``context.page.title``, ...)
are not loaded. ``properties.products`` becomes the child table. Duplicate ``messageId``s, in the
same file or another, collapse to one row (merge on ``message_id``). Files already loaded (same name,
mtime and size) are not read again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dlt

from tessera.sources.accounting import RunAccounting
from tessera.sources.base import (
    DEFAULT_SCHEMA_CONTRACT,
    RawLine,
    attach_validation,
    batched,
    changed_files,
    read_jsonl,
)
from tessera.sources.config import resolve_path
from tessera.sources.contract import EVENTS, TableSpec
from tessera.sources.validation import InvalidValue, coerce_columns, is_blank

SOURCE = "events"

# raw column -> path in the Segment message
FIELD_PATHS: dict[str, tuple[str, ...]] = {
    "message_id": ("messageId",),
    "type": ("type",),
    "event": ("event",),
    "name": ("name",),
    "anonymous_id": ("anonymousId",),
    "user_id": ("userId",),
    "timestamp": ("timestamp",),
    "sent_at": ("sentAt",),
    "received_at": ("receivedAt",),
    "context__ip": ("context", "ip"),
    "context__user_agent": ("context", "userAgent"),
    "context__page__url": ("context", "page", "url"),
    "context__page__path": ("context", "page", "path"),
    "context__page__referrer": ("context", "page", "referrer"),
    "context__device__id": ("context", "device", "id"),
    "context__device__type": ("context", "device", "type"),
    "context__device__token": ("context", "device", "token"),
    "context__campaign__source": ("context", "campaign", "source"),
    "context__campaign__medium": ("context", "campaign", "medium"),
    "context__campaign__name": ("context", "campaign", "name"),
    "traits__email": ("traits", "email"),
    "traits__phone": ("traits", "phone"),
    "traits__first_name": ("traits", "firstName"),
    "traits__last_name": ("traits", "lastName"),
    "properties__product_id": ("properties", "product_id"),
    "properties__name": ("properties", "name"),
    "properties__category": ("properties", "category"),
    "properties__price": ("properties", "price"),
    "properties__quantity": ("properties", "quantity"),
    "properties__order_id": ("properties", "order_id"),
    "properties__revenue": ("properties", "revenue"),
    "properties__currency": ("properties", "currency"),
}
LABELS = {column: ".".join(path) for column, path in FIELD_PATHS.items()}
PRODUCT_COLUMNS = EVENTS.nested["properties__products"]


def _get(message: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = message
    for part in path:
        if not isinstance(value, dict):
            if value is not None:
                raise InvalidValue(f"events.{'.'.join(path[:-1])}: not an object: {value!r}")
            return None
        value = value.get(part)
    return value


def flatten_message(spec: TableSpec, message: dict[str, Any]) -> dict[str, Any]:
    """One Segment message -> one typed raw.events row (with its products list). Raises InvalidValue."""
    flat = {column: _get(message, path) for column, path in FIELD_PATHS.items()}
    for column in (spec.primary_key, *spec.required):
        if is_blank(flat.get(column)):
            raise InvalidValue(f"events.{LABELS[column]}: missing required value")
    row = coerce_columns(flat, {c: t for c, t in spec.columns.items() if c in FIELD_PATHS}, "events", LABELS)
    row["_source_file"] = message.get("_source_file")

    products = _get(message, ("properties", "products"))
    if products is not None:
        if not isinstance(products, list):
            raise InvalidValue(f"events.properties.products: not a list: {products!r}")
        typed = []
        for idx, product in enumerate(products):
            if not isinstance(product, dict):
                raise InvalidValue(f"events.properties.products[{idx}]: not an object: {product!r}")
            typed.append(coerce_columns(product, PRODUCT_COLUMNS, f"events.properties.products[{idx}]"))
        row["properties__products"] = typed
    return row


def _with_source_file(lines: Iterator[RawLine], name: str) -> Iterator[RawLine]:
    for line in lines:
        if line.record is not None:
            line.record["_source_file"] = name
        yield line


def events_source(config: dict[str, Any], acct: RunAccounting) -> list[Any]:
    root = resolve_path(config.get("path"))
    pattern = config.get("pattern", "*.jsonl")

    @dlt.resource(
        name="events",
        table_name=EVENTS.table,
        write_disposition="merge",
        primary_key=EVENTS.primary_key,
        columns=EVENTS.column_hints(),
        nested_hints=EVENTS.nested_hints(),
        schema_contract=DEFAULT_SCHEMA_CONTRACT,
    )
    def events() -> Any:
        state = dlt.current.resource_state()
        yield dlt.mark.materialize_table_schema()
        for file, name in changed_files(root, pattern, state):
            yield from batched(_with_source_file(read_jsonl(file, name), name))

    def transform(spec: TableSpec, message: dict[str, Any]) -> dict[str, Any]:
        return flatten_message(spec, message)

    return [attach_validation(events(), EVENTS, acct, transform)]
