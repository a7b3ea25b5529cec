"""Runs one source's dlt pipeline into dataset ``raw`` and does its row accounting.

One run of ``run_source(name)``:

1. extract and normalize the source's resources (rows validated on the way; bad rows are set aside),
2. count: our extract counters against dlt's normalized row counts, per raw table,
3. extract + normalize the quarantined rows (``raw.quarantine``, merged on ``quarantine_id``) and one
   ``raw.ingest_log`` row per raw table (append),
4. load both packages in one ``load()`` call, so data, quarantine and log land together.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

import dlt

from tessera import paths
from tessera.sources.accounting import (
    IngestResult,
    RunAccounting,
    ingest_log_resource,
)
from tessera.sources.config import source_config
from tessera.sources.contract import raw_tables
from tessera.sources.crm import crm_source
from tessera.sources.events import events_source
from tessera.sources.files import (
    consent_source,
    feedback_source,
    loyalty_source,
    support_source,
)
from tessera.sources.quarantine import quarantine_resource
from tessera.sources.shop import shop_source

# parquet loads into DuckDB several times faster than dlt's default INSERT statements
LOADER_FILE_FORMAT = os.environ.get("TESSERA_DLT_FILE_FORMAT", "parquet")

SourceBuilder = Callable[[dict[str, Any], RunAccounting], list[Any]]

BUILDERS: dict[str, SourceBuilder] = {
    "events": events_source,
    "shop": shop_source,
    "crm": crm_source,
    "loyalty": loyalty_source,
    "support": support_source,
    "consent": consent_source,
    "feedback": feedback_source,
}
SOURCE_NAMES: tuple[str, ...] = tuple(BUILDERS)


def pipeline_name(source: str) -> str:
    return f"tessera_{source}"


def get_pipeline(source: str) -> dlt.Pipeline:
    paths.ensure_dirs()
    return dlt.pipeline(
        pipeline_name=pipeline_name(source),
        pipelines_dir=str(paths.dlt_pipelines_dir()),
        destination=dlt.destinations.duckdb(str(paths.warehouse_path())),
        dataset_name="raw",
        progress="log" if os.environ.get("TESSERA_DLT_PROGRESS") else None,
    )


def _forget_local_state_if_warehouse_lost(source: str) -> None:
    """If the warehouse lost this pipeline's state (deleted / rebuilt), drop the local working dir,
    so file and cursor state can't claim rows that are no longer in the warehouse."""
    local = paths.dlt_pipelines_dir() / pipeline_name(source)
    if not local.exists():
        return
    warehouse = paths.warehouse_path()
    lost = not warehouse.exists()
    if not lost:
        import duckdb

        try:
            with duckdb.connect(str(warehouse), read_only=True) as con:
                found = con.execute(
                    "select count(*) from raw._dlt_pipeline_state where pipeline_name = ?",
                    [pipeline_name(source)],
                ).fetchall()
                lost = not found or found[0][0] == 0
        except duckdb.CatalogException:
            lost = True
        except duckdb.Error:
            lost = False  # warehouse busy: keep the local state, dlt checks it against the destination
    if lost:
        shutil.rmtree(local, ignore_errors=True)


def run_source(name: str, run_id: str | None = None, config_overrides: dict[str, Any] | None = None) -> IngestResult:
    """Ingest one source (see SOURCE_NAMES) into dataset ``raw``; returns per-table counts.
    ``config_overrides`` replace settings of its config/sources.yml entry (e.g. another file's path)."""
    if name not in BUILDERS:
        raise KeyError(f"unknown source {name!r}; known: {', '.join(SOURCE_NAMES)}")
    run_id = run_id or uuid.uuid4().hex
    started_at = datetime.now(UTC)
    config = dict(source_config(name), **(config_overrides or {}))
    acct = RunAccounting(source=name, run_id=run_id, started_at=started_at)
    for table in raw_tables(name):
        acct.table(table)

    _forget_local_state_if_warehouse_lost(name)
    pipeline = get_pipeline(name)
    if pipeline.has_pending_data:  # finish a previous interrupted run first
        pipeline.normalize()
        pipeline.load()

    resources = BUILDERS[name](config, acct)
    pipeline.extract(resources, loader_file_format=LOADER_FILE_FORMAT)
    normalize_info = pipeline.normalize()
    tables = acct.finish(dict(normalize_info.row_counts))

    result = IngestResult(
        source=name,
        run_id=run_id,
        pipeline_name=pipeline.pipeline_name,
        tables=tables,
        load_ids=[],
        started_at=started_at,
        finished_at=datetime.now(UTC),
    )
    pipeline.extract(
        [quarantine_resource(acct.quarantine_rows), ingest_log_resource(result.log_rows())],
        loader_file_format=LOADER_FILE_FORMAT,
    )
    pipeline.normalize()
    load_info = pipeline.load()
    load_info.raise_on_failed_jobs()
    result.load_ids = list(load_info.loads_ids)
    result.finished_at = datetime.now(UTC)
    return result


def run_sources(names: Iterable[str] | None = None, run_id: str | None = None) -> list[IngestResult]:
    """Ingest several sources one after the other (DuckDB has one writer at a time)."""
    run_id = run_id or uuid.uuid4().hex
    return [run_source(name, run_id=run_id) for name in (names or SOURCE_NAMES)]
