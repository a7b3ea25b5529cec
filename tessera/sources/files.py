"""File sources: loyalty members (CSV), support tickets (JSONL), consent events (CSV) and
channel feedback (JSONL). Each file row is validated against its Contract 2 table and merged on
the table's key; files already loaded (same name, mtime and size) are not read again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dlt

from tessera.sources.accounting import RunAccounting
from tessera.sources.base import (
    DEFAULT_SCHEMA_CONTRACT,
    RawLine,
    attach_validation,
    batched,
    changed_files,
    read_csv,
    read_jsonl,
)
from tessera.sources.config import resolve_path
from tessera.sources.contract import (
    CHANNEL_FEEDBACK,
    CONSENT_EVENTS,
    LOYALTY_MEMBERS,
    SUPPORT_TICKETS,
    TableSpec,
)

READERS: dict[str, Callable[[Path, str], Iterator[RawLine]]] = {"csv": read_csv, "jsonl": read_jsonl}


def file_resource(spec: TableSpec, config: dict[str, Any], acct: RunAccounting) -> Any:
    kind = config.get("kind", "csv")
    if kind not in READERS:
        raise ValueError(f"source {spec.source}: unsupported file kind {kind!r} (csv or jsonl)")
    reader = READERS[kind]
    path = resolve_path(config.get("path"))
    pattern = config.get("pattern", f"*.{kind}")

    @dlt.resource(
        name=spec.table,
        write_disposition="merge",
        primary_key=spec.primary_key,
        columns=spec.column_hints(),
        schema_contract=DEFAULT_SCHEMA_CONTRACT,
    )
    def rows() -> Any:
        state = dlt.current.resource_state()
        yield dlt.mark.materialize_table_schema()
        for file, name in changed_files(path, pattern, state):
            yield from batched(reader(file, name))

    return attach_validation(rows(), spec, acct)


def loyalty_source(config: dict[str, Any], acct: RunAccounting) -> list[Any]:
    return [file_resource(LOYALTY_MEMBERS, config, acct)]


def support_source(config: dict[str, Any], acct: RunAccounting) -> list[Any]:
    return [file_resource(SUPPORT_TICKETS, config, acct)]


def consent_source(config: dict[str, Any], acct: RunAccounting) -> list[Any]:
    return [file_resource(CONSENT_EVENTS, config, acct)]


def feedback_source(config: dict[str, Any], acct: RunAccounting) -> list[Any]:
    return [file_resource(CHANNEL_FEEDBACK, config, acct)]
