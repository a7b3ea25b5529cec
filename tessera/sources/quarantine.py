"""The quarantine: rows that failed validation, kept with the reason, never silently dropped.

``raw.quarantine`` is merged on ``quarantine_id`` = sha256(source, source_table, raw_payload), so
re-reading the same bad row on a rerun updates its entry instead of adding a duplicate.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import dlt

from tessera.sources.contract import QUARANTINE_COLUMNS

QUARANTINE_TABLE = "quarantine"


def quarantine_id(source: str, source_table: str, raw_payload: str) -> str:
    digest = hashlib.sha256()
    for part in (source, source_table, raw_payload):
        digest.update(part.encode("utf-8"))
        digest.update(b"\x1f")
    return digest.hexdigest()[:32]


def payload_text(row: Any) -> str:
    """The original row as text: JSON for rows that came as objects (SQL rows, API records)."""
    if isinstance(row, str):
        return row
    return json.dumps(row, default=str, ensure_ascii=False)


def quarantine_row(
    source: str,
    source_table: str,
    raw_payload: str,
    reason: str,
    record_key: Any,
    quarantined_at: datetime,
) -> dict[str, Any]:
    return {
        "quarantine_id": quarantine_id(source, source_table, raw_payload),
        "source": source,
        "source_table": source_table,
        "record_key": None if record_key in (None, "") else str(record_key),
        "raw_payload": raw_payload,
        "reason": reason,
        "quarantined_at": quarantined_at,
    }


def quarantine_resource(rows: Iterable[dict[str, Any]]) -> Any:
    """A dlt resource merging quarantine rows into raw.quarantine (the table exists even if empty)."""
    rows = list(rows)

    @dlt.resource(
        name=QUARANTINE_TABLE,
        write_disposition="merge",
        primary_key="quarantine_id",
        columns=QUARANTINE_COLUMNS,
        schema_contract={"tables": "evolve", "columns": "freeze", "data_type": "freeze"},
    )
    def quarantine():
        yield dlt.mark.materialize_table_schema()
        if rows:
            yield rows

    return quarantine()
