"""Row accounting: per run and raw table, rows_read = rows_loaded + rows_quarantined.

- ``rows_fetched``: rows the loader got from the source in this run (before the incremental cursor).
- ``rows_skipped``: fetched rows the incremental cursor recognised as already loaded.
- ``rows_read``: rows in this run's window = fetched - skipped; counted at extract time.
- ``rows_quarantined``: rows of the window that failed validation and went to raw.quarantine.
- ``rows_loaded``: rows dlt normalized into the raw table's load package (dlt's own count).

``rows_read == rows_loaded + rows_quarantined`` is therefore a real check between our extract
counters and dlt's normalize counters; it fails if anything in between dropped rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import dlt

from tessera.sources.contract import INGEST_LOG_COLUMNS
from tessera.sources.quarantine import quarantine_row

INGEST_LOG_TABLE = "ingest_log"


@dataclass
class TableCounts:
    source_table: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_fetched: int = 0
    rows_skipped: int = 0

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.rows_loaded + self.rows_quarantined

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "balanced": self.balanced}


@dataclass
class IngestResult:
    source: str
    run_id: str
    pipeline_name: str
    tables: dict[str, TableCounts]
    load_ids: list[str]
    started_at: datetime
    finished_at: datetime

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def balanced(self) -> bool:
        return all(t.balanced for t in self.tables.values())

    @property
    def rows_read(self) -> int:
        return sum(t.rows_read for t in self.tables.values())

    @property
    def rows_loaded(self) -> int:
        return sum(t.rows_loaded for t in self.tables.values())

    @property
    def rows_quarantined(self) -> int:
        return sum(t.rows_quarantined for t in self.tables.values())

    def log_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "run_id": self.run_id,
                "source": self.source,
                "source_table": t.source_table,
                "rows_read": t.rows_read,
                "rows_loaded": t.rows_loaded,
                "rows_quarantined": t.rows_quarantined,
                "started_at": self.started_at,
                "finished_at": self.finished_at,
            }
            for t in self.tables.values()
        ]


@dataclass
class RunAccounting:
    """Counters one run of one source fills in while dlt extracts."""

    source: str
    run_id: str
    started_at: datetime
    tables: dict[str, TableCounts] = field(default_factory=dict)
    quarantine_rows: list[dict[str, Any]] = field(default_factory=list)
    _passed: dict[str, int] = field(default_factory=dict)

    def table(self, name: str) -> TableCounts:
        if name not in self.tables:
            self.tables[name] = TableCounts(name)
        return self.tables[name]

    def fetched(self, table: str, n: int = 1) -> None:
        self.table(table).rows_fetched += n

    def passed(self, table: str, n: int = 1) -> None:
        """Valid rows that made it past the incremental cursor into dlt's extract."""
        self.table(table)
        self._passed[table] = self._passed.get(table, 0) + n

    def quarantine(self, table: str, raw_payload: str, reason: str, record_key: Any = None) -> None:
        self.table(table).rows_quarantined += 1
        self.quarantine_rows.append(
            quarantine_row(self.source, table, raw_payload, reason, record_key, self.started_at)
        )

    def finish(self, normalized_counts: dict[str, int]) -> dict[str, TableCounts]:
        for name, counts in self.tables.items():
            counts.rows_read = self._passed.get(name, 0) + counts.rows_quarantined
            counts.rows_loaded = int(normalized_counts.get(name, 0))
            counts.rows_skipped = max(counts.rows_fetched - counts.rows_read, 0)
        return self.tables


def ingest_log_resource(rows: list[dict[str, Any]]) -> Any:
    @dlt.resource(
        name=INGEST_LOG_TABLE,
        write_disposition="append",
        columns=INGEST_LOG_COLUMNS,
        schema_contract={"tables": "evolve", "columns": "freeze", "data_type": "freeze"},
    )
    def ingest_log():
        yield dlt.mark.materialize_table_schema()
        if rows:
            yield rows

    return ingest_log()
