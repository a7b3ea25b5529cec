"""Web/app events: Segment-spec messages in JSONL files -> raw.events (+ raw.events__properties__products).

Each message is flattened to exactly the Contract 2 columns (camelCase -> snake_case, nested objects
joined with ``__``); fields outside the contract (``context.library``, ``context.page.title``, ...)
are not loaded. ``properties.products`` becomes the child table. Duplicate ``messageId``s, in the
same file or another, collapse to one row (merge on ``message_id``). Files already loaded (same name,
mtime and size) are not read again.

Speed: this is the biggest source (about ten events per customer), so it does not hand dlt one dict
per message to normalize row by row. Lines are parsed with orjson, checked and flattened here, and
collected column-wise into Arrow tables, one for ``events`` and one for its child table, which dlt
writes to parquet as they are. This module therefore does what dlt's relational normalizer did:

- ``events._dlt_id``: a deterministic id per message occurrence (hash of message id, file, line), so
  two copies of one ``messageId`` in a load stay two rows until dlt's merge keeps one of them and
  only that one's products;
- ``events._dlt_load_id``: the load id of the package being extracted;
- child rows: ``_dlt_parent_id = _dlt_root_id = events._dlt_id``, ``_dlt_list_idx`` (position in
  ``properties.products``) and their own ``_dlt_id`` (hash of the parent id and the position).

The child table is declared to dlt as a nested table of ``events`` (``parent``), so the merge on
``message_id`` replaces an event's products together with the event, as before.

``flatten_message`` is the reference definition of the checks and of every quarantine reason; the
fast path (``_fast_flatten``) handles well-formed messages and hands anything unusual back to it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import orjson
import pyarrow as pa

from tessera.sources.accounting import RunAccounting
from tessera.sources.base import DEFAULT_SCHEMA_CONTRACT, _QuarantineMemory, changed_files
from tessera.sources.config import resolve_path
from tessera.sources.contract import BIGINT, DOUBLE, EVENTS, TEXT, TIMESTAMP, TableSpec
from tessera.sources.quarantine import quarantine_id
from tessera.sources.validation import (
    InvalidValue,
    coerce_columns,
    is_blank,
    parse_float,
    parse_int,
    parse_timestamp,
)

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
PRODUCTS_PATH = "properties__products"
PRODUCTS_TABLE = f"{EVENTS.table}__{PRODUCTS_PATH}"

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _get(message: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = message
    for part in path:
        if not isinstance(value, dict):
            if value is not None:
                raise InvalidValue(f"events.{'.'.join(path[:-1])}: not an object: {value!r}")
            return None
        value = value.get(part)
    return value


def _check_bigint(value: Any, label: str) -> None:
    # BIGINT columns are 64-bit: a larger JSON integer is quarantined instead of failing the load
    if value is not None and not INT64_MIN <= value <= INT64_MAX:
        raise InvalidValue(f"{label}: integer out of range: {value!r}")


def flatten_message(spec: TableSpec, message: dict[str, Any]) -> dict[str, Any]:
    """One Segment message -> one typed raw.events row (with its products list). Raises InvalidValue."""
    flat = {column: _get(message, path) for column, path in FIELD_PATHS.items()}
    for column in (spec.primary_key, *spec.required):
        if is_blank(flat.get(column)):
            raise InvalidValue(f"events.{LABELS[column]}: missing required value")
    row = coerce_columns(flat, {c: t for c, t in spec.columns.items() if c in FIELD_PATHS}, "events", LABELS)
    _check_bigint(row["properties__quantity"], "events.properties.quantity")
    row["_source_file"] = message.get("_source_file")

    products = _get(message, ("properties", "products"))
    if products is not None:
        if not isinstance(products, list):
            raise InvalidValue(f"events.properties.products: not a list: {products!r}")
        typed = []
        for idx, product in enumerate(products):
            if not isinstance(product, dict):
                raise InvalidValue(f"events.properties.products[{idx}]: not an object: {product!r}")
            where = f"events.properties.products[{idx}]"
            item = coerce_columns(product, PRODUCT_COLUMNS, where)
            _check_bigint(item["quantity"], f"{where}.quantity")
            typed.append(item)
        row["properties__products"] = typed
    return row


# ---------------------------------------------------------------------------------------------
# fast path: well-formed messages straight into column lists

EVENT_COLUMNS: list[str] = list(EVENTS.columns)  # contract order, ends with _source_file
ARROW_TYPES = {
    TEXT: pa.string(),
    DOUBLE: pa.float64(),
    BIGINT: pa.int64(),
    TIMESTAMP: pa.timestamp("us", tz="UTC"),
}
_EMPTY: dict[str, Any] = {}


class _Slow(Exception):
    """The fast path met something it does not handle: use flatten_message for this line."""


def _text(value: Any) -> Any:
    if value is None or type(value) is str:
        return value
    raise _Slow


def _ts(value: Any) -> Any:
    if value is None or (type(value) is str and not value.strip()):
        return None
    return parse_timestamp(value)


def _num(value: Any) -> Any:
    if value is None:
        return None
    if type(value) is float or type(value) is int:
        number = float(value)
        if not math.isfinite(number):
            raise _Slow
        return number
    if type(value) is str and not value.strip():
        return None
    return parse_float(value)


def _int(value: Any) -> Any:
    if value is None:
        return None
    if type(value) is int:
        if not INT64_MIN <= value <= INT64_MAX:
            raise _Slow
        return value
    if type(value) is str and not value.strip():
        return None
    number = parse_int(value)
    if not INT64_MIN <= number <= INT64_MAX:
        raise _Slow
    return number


def _obj(value: Any) -> dict[str, Any]:
    if value is None:
        return _EMPTY
    if type(value) is dict:
        return value
    raise _Slow


def _fast_flatten(m: dict[str, Any]) -> tuple[list[Any], list[tuple[Any, ...]] | None]:
    """(event values in EVENT_COLUMNS order without _source_file, product rows or None).

    Produces exactly what flatten_message produces for the messages it accepts; raises (_Slow,
    InvalidValue, anything) for the rest, which then go through flatten_message.
    """
    g = m.get
    message_id, type_, timestamp = g("messageId"), g("type"), g("timestamp")
    if type(message_id) is not str or not message_id.strip():
        raise _Slow
    if type(type_) is not str or not type_.strip():
        raise _Slow
    ctx = _obj(g("context"))
    page = _obj(ctx.get("page"))
    device = _obj(ctx.get("device"))
    campaign = _obj(ctx.get("campaign"))
    traits = _obj(g("traits"))
    props = _obj(g("properties"))
    pg = props.get
    values = [
        message_id,
        type_,
        _text(g("event")),
        _text(g("name")),
        _text(g("anonymousId")),
        _text(g("userId")),
        _ts(timestamp),
        _ts(g("sentAt")),
        _ts(g("receivedAt")),
        _text(ctx.get("ip")),
        _text(ctx.get("userAgent")),
        _text(page.get("url")),
        _text(page.get("path")),
        _text(page.get("referrer")),
        _text(device.get("id")),
        _text(device.get("type")),
        _text(device.get("token")),
        _text(campaign.get("source")),
        _text(campaign.get("medium")),
        _text(campaign.get("name")),
        _text(traits.get("email")),
        _text(traits.get("phone")),
        _text(traits.get("firstName")),
        _text(traits.get("lastName")),
        _text(pg("product_id")),
        _text(pg("name")),
        _text(pg("category")),
        _num(pg("price")),
        _int(pg("quantity")),
        _text(pg("order_id")),
        _num(pg("revenue")),
        _text(pg("currency")),
    ]
    if values[6] is None:  # required timestamp
        raise _Slow
    products = pg("products")
    if products is None:
        return values, None
    if type(products) is not list:
        raise _Slow
    rows = []
    for product in products:
        if type(product) is not dict:
            raise _Slow
        p = product.get
        rows.append((_text(p("product_id")), _text(p("category")), _num(p("price")), _int(p("quantity"))))
    return values, rows


def _from_reference(row: dict[str, Any]) -> tuple[list[Any], list[tuple[Any, ...]] | None]:
    values = [row[c] for c in EVENT_COLUMNS[:-1]]
    products = row.get(PRODUCTS_PATH)
    if products is None:
        return values, None
    return values, [tuple(p[c] for c in PRODUCT_COLUMNS) for p in products]


def _row_id(*parts: str) -> str:
    """A 14-character id like dlt's, derived from ``parts``."""
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=10).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")[:14]


# ---------------------------------------------------------------------------------------------
# batches -> Arrow tables

EVENT_SCHEMA = pa.schema(
    [pa.field(c, ARROW_TYPES[t], nullable=c != EVENTS.primary_key) for c, t in EVENTS.columns.items()]
    + [pa.field("_dlt_load_id", pa.string(), nullable=False), pa.field("_dlt_id", pa.string(), nullable=False)]
)
PRODUCT_SCHEMA = pa.schema(
    [pa.field(c, ARROW_TYPES[t]) for c, t in PRODUCT_COLUMNS.items()]
    + [
        pa.field("_dlt_root_id", pa.string(), nullable=False),
        pa.field("_dlt_parent_id", pa.string(), nullable=False),
        pa.field("_dlt_list_idx", pa.int64(), nullable=False),
        pa.field("_dlt_id", pa.string(), nullable=False),
    ]
)


class _Batch:
    """Rows of one run collected until they are handed to dlt as Arrow tables."""

    def __init__(self) -> None:
        self.rows: list[list[Any]] = []  # event values + [_source_file, _dlt_id]
        self.products: list[tuple[Any, ...]] = []  # product values + (root id, parent id, idx, id)

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, values: list[Any], products: list[tuple[Any, ...]] | None, file: str, line_no: int) -> int:
        row_id = _row_id(values[0], file, str(line_no))
        values.append(file)
        values.append(row_id)
        self.rows.append(values)
        if not products:
            return 0
        self.products.extend(
            (*product, row_id, row_id, idx, _row_id(row_id, PRODUCTS_TABLE, str(idx)))
            for idx, product in enumerate(products)
        )
        return len(products)

    def tables(self, load_id: str) -> tuple[pa.Table, pa.Table | None]:
        columns = list(zip(*self.rows, strict=True))  # transpose in C
        columns.insert(len(columns) - 1, (load_id,) * len(self.rows))  # _dlt_load_id before _dlt_id
        events = pa.Table.from_arrays(
            [pa.array(values, type=field.type) for values, field in zip(columns, EVENT_SCHEMA, strict=True)],
            schema=EVENT_SCHEMA,
        )
        products = None
        if self.products:
            products = pa.Table.from_arrays(
                [
                    pa.array(values, type=field.type)
                    for values, field in zip(zip(*self.products, strict=True), PRODUCT_SCHEMA, strict=True)
                ],
                schema=PRODUCT_SCHEMA,
            )
        return events, products


# ---------------------------------------------------------------------------------------------
# reading


def _parse_line(text: str) -> tuple[Any, str | None]:
    """(record, error) as base.read_jsonl would give: orjson first, the json module for reasons."""
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError:
        # orjson is stricter (NaN, huge integers) and words errors differently: ask json
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            return None, f"invalid JSON: {exc.msg} (col {exc.colno})"
    if not isinstance(record, dict):
        return None, f"not a JSON object: {type(record).__name__}"
    return record, None


def _read_lines(file: Path) -> Iterator[tuple[int, str]]:
    # same line splitting and decoding as base.read_jsonl, so line numbers and payloads match
    with file.open("r", encoding="utf-8", errors="replace", newline="") as handle:
        for line_no, line in enumerate(handle, start=1):
            text = line.rstrip("\r\n")
            if text.strip():
                yield line_no, text


EVENT_COLUMN_HINTS = {
    **EVENTS.column_hints(),
    "_dlt_load_id": {"data_type": "text", "nullable": False},
    "_dlt_id": {"data_type": "text", "nullable": False, "unique": True, "row_key": True},
}
PRODUCT_COLUMN_HINTS = {
    **{name: {"data_type": dtype, "nullable": True} for name, dtype in PRODUCT_COLUMNS.items()},
    "_dlt_root_id": {"data_type": "text", "nullable": False, "root_key": True},
    "_dlt_parent_id": {"data_type": "text", "nullable": False, "parent_key": True},
    "_dlt_list_idx": {"data_type": "bigint", "nullable": False},
    "_dlt_id": {"data_type": "text", "nullable": False, "unique": True, "row_key": True},
}


def _patch_dlt_extract_metrics() -> None:
    """Let dlt's extract step count rows of nested tables that are written during extract.

    dlt's relational normalizer creates nested tables only after extract, so dlt 1.x sums extract
    metrics per ``table["resource"]``, a property nested tables never have (dlt refuses to store
    it on them). A nested table written during extract, as the child table here, would fail that
    step with a KeyError. The wrapper lends each nested table its root table's resource while the
    metrics are computed and takes it back right after; nothing else changes.
    """
    from dlt.common.schema.utils import get_root_table, is_nested_table
    from dlt.extract.extract import Extract

    original = Extract._compute_metrics
    if getattr(original, "_tessera_nested_tables", False):
        return

    def compute_metrics(self: Any, load_id: str, source: Any) -> Any:
        tables = source.schema.tables
        lent = []
        for table in tables.values():
            if is_nested_table(table) and "resource" not in table:
                resource = get_root_table(tables, table["name"]).get("resource")
                if resource in source.resources:
                    table["resource"] = resource
                    lent.append(table)
        try:
            return original(self, load_id, source)
        finally:
            for table in lent:
                table.pop("resource", None)

    compute_metrics._tessera_nested_tables = True  # type: ignore[attr-defined]
    Extract._compute_metrics = compute_metrics  # type: ignore[method-assign]


_patch_dlt_extract_metrics()


class _Start:
    """First item of the batch stream: tells both table resources to materialize their schema."""


def events_source(config: dict[str, Any], acct: RunAccounting, batch_rows: int = 50_000) -> list[Any]:
    """The ``events`` resource and its child table's resource, fed by one reader of the files.

    The reader (not selected itself) yields ``(events, products)`` Arrow table pairs; one
    transformer per raw table passes its table on to dlt. The file list and the quarantined ids
    stay in the ``events`` resource state, where they always were.
    """
    root = resolve_path(config.get("path"))
    pattern = config.get("pattern", "*.jsonl")
    spec = EVENTS

    @dlt.resource(name="events_reader", selected=False)
    def reader() -> Any:
        state = dlt.current.resource_state(spec.table)
        load_id = dlt.current.load_package_state()["load_id"]
        memory = _QuarantineMemory(spec.table)
        yield _Start()

        def quarantine(text: str, reason: str, key: Any = None) -> None:
            if not memory.seen(quarantine_id(spec.source, spec.table, text)):
                acct.quarantine(spec.table, text, reason, key)

        batch = _Batch()
        n_products = 0

        def flush() -> tuple[pa.Table, pa.Table | None]:
            nonlocal batch, n_products
            tables = batch.tables(load_id)
            acct.passed(spec.table, tables[0].num_rows)
            acct.passed(PRODUCTS_TABLE, n_products)
            batch, n_products = _Batch(), 0
            return tables

        for file, name in changed_files(root, pattern, state):
            for line_no, text in _read_lines(file):
                acct.fetched(spec.table)
                record, error = _parse_line(text)
                if error is not None:
                    quarantine(text, f"{name} line {line_no}: {error}")
                    continue
                try:
                    values, products = _fast_flatten(record)
                except Exception:  # noqa: BLE001 - anything unusual: the reference path decides
                    record["_source_file"] = name
                    try:
                        values, products = _from_reference(flatten_message(spec, record))
                    except InvalidValue as exc:
                        quarantine(text, f"{name} line {line_no}: {exc}", record.get("messageId"))
                        continue
                n_products += batch.add(values, products, name, line_no)
                if len(batch) >= batch_rows:
                    yield flush()
        if len(batch):
            yield flush()

    @dlt.transformer(
        data_from=reader,
        name=spec.table,
        table_name=spec.table,
        write_disposition="merge",
        primary_key=spec.primary_key,
        columns=EVENT_COLUMN_HINTS,
        schema_contract=DEFAULT_SCHEMA_CONTRACT,
    )
    def events(item: Any) -> Any:
        if isinstance(item, _Start):
            yield dlt.mark.materialize_table_schema()
        else:
            yield item[0]

    @dlt.transformer(
        data_from=reader,
        name=PRODUCTS_TABLE,
        table_name=PRODUCTS_TABLE,
        columns=PRODUCT_COLUMN_HINTS,
    )
    def products(item: Any) -> Any:
        if isinstance(item, _Start):
            yield dlt.mark.materialize_table_schema()
        elif item[1] is not None:
            yield item[1]

    # a nested table of events: merged (and replaced) together with its parent rows
    # (the transformer's default "append" can't be unset, so the root's disposition is repeated)
    products.apply_hints(parent_table_name=spec.table, write_disposition="merge")

    for table in spec.all_tables:
        acct.table(table)
    return [products, events]
