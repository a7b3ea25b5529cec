"""Shop: the web shop's database (SQLite by default, any SQLAlchemy URL) via dlt's ``sql_database``
source -> raw.shop_customers, raw.shop_products, raw.shop_orders, raw.shop_order_lines.

Incremental on ``updated_at`` (dlt.sources.incremental): the query only asks for rows from the
day of the last loaded ``updated_at`` onwards (a text-safe filter: SQLite stores timestamps as
text), and dlt's incremental step drops the rows it already loaded.
"""

from __future__ import annotations

from typing import Any

import dlt
import sqlalchemy as sa
from dlt.sources.sql_database import sql_database

from tessera.sources.accounting import RunAccounting
from tessera.sources.base import DEFAULT_SCHEMA_CONTRACT, attach_validation
from tessera.sources.config import resolve_path
from tessera.sources.contract import SPECS_BY_SOURCE, TableSpec
from tessera.sources.validation import parse_timestamp

SPECS: dict[str, TableSpec] = {spec.source_table: spec for spec in SPECS_BY_SOURCE["shop"]}


def _credentials(config: dict[str, Any]) -> str:
    if config.get("credentials"):
        return str(config["credentials"])
    path = resolve_path(config.get("path"))
    if not path.exists():
        raise FileNotFoundError(f"shop database not found: {path}")
    return f"sqlite:///{path}"


def _as_text_columns(table: sa.Table) -> sa.Table:
    """SQLite is dynamically typed: read every column as stored, validation does the typing."""
    for column in table.columns:
        column.type = sa.Text()
    return table


def _make_query_adapter(cursors: dict[str, str]) -> Any:
    def adapt(query: Any, table: sa.Table, incremental: Any = None, engine: Any = None) -> Any:
        cursor = cursors.get(table.name)
        if incremental is None or cursor is None:
            return query
        last_value = incremental.last_value
        if last_value is None:
            return table.select()
        # same-day superset, compared as text: correct for any ISO 8601 spelling of the cursor
        day = parse_timestamp(last_value).date().isoformat()
        column = table.c[cursor]
        return table.select().where(sa.or_(column >= day, column.is_(None)))

    return adapt


def shop_source(config: dict[str, Any], acct: RunAccounting) -> list[Any]:
    credentials = _credentials(config)
    configured = config.get("tables") or {}
    wanted = [name for name in SPECS if name in configured] or list(SPECS)
    is_sqlite = credentials.startswith("sqlite")
    cursors = {name: SPECS[name].cursor for name in wanted if SPECS[name].cursor}
    source = sql_database(
        credentials=credentials,
        schema=config.get("schema"),
        table_names=wanted,
        backend="sqlalchemy",
        reflection_level="minimal",
        table_adapter_callback=_as_text_columns if is_sqlite else None,
        query_adapter_callback=_make_query_adapter(cursors) if is_sqlite else None,
        chunk_size=10_000,
    )
    resources = []
    for name in wanted:
        spec = SPECS[name]
        resource = source.resources[name]
        resource.apply_hints(
            table_name=spec.table,
            write_disposition="merge",
            primary_key=spec.primary_key,
            columns=spec.column_hints(),
            schema_contract=DEFAULT_SCHEMA_CONTRACT,
            incremental=dlt.sources.incremental(spec.cursor, on_cursor_value_missing="include")
            if spec.cursor
            else None,
        )
        resources.append(attach_validation(resource, spec, acct))
    return resources
