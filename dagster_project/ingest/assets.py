"""Dagster assets of the ingest stage: one multi-asset per source (dlt pipeline ``tessera_<source>``)
whose outputs are the raw tables ``raw/<table>``, plus ``ingest_audit`` for the shared
``raw/quarantine`` and ``raw/ingest_log`` tables.

The asset keys match dbt sources named ``raw``, so staging models hang off these assets. No DuckDB
connection is opened at import time; each asset opens and closes its own when it runs.
"""


from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from tessera.sources.contract import SPECS_BY_SOURCE, raw_tables

GROUP = "ingest"
KINDS = {"dlt", "duckdb"}
ROW_ACCOUNTING = "row_accounting"

SOURCE_DESCRIPTIONS = {
    "events": "Web and app events (Segment-spec JSONL files), flattened; duplicate messageIds collapse.",
    "shop": "Shop database (SQLite by default) via dlt sql_database, incremental on updated_at.",
    "crm": "CRM contacts from the CRM REST API via dlt rest_api, incremental on updated_at.",
    "loyalty": "Loyalty programme members (CSV).",
    "support": "Support tickets (JSONL).",
    "consent": "Consent opt-in/opt-out events (CSV).",
    "feedback": "Channel feedback: delivered/opened/clicked/converted/unsubscribed (JSONL).",
}


def _table_description(source: str, table: str) -> str:
    for spec in SPECS_BY_SOURCE[source]:
        if table == spec.table:
            return (
                f"raw.{table}: {spec.source} `{spec.source_table}`, merged on `{spec.primary_key}`. "
                f"Columns per docs/architecture.md Contract 2."
            )
        if table in spec.child_tables:
            return f"raw.{table}: child table of raw.{spec.table} (join `_dlt_parent_id` = `_dlt_id`)."
    return f"raw.{table}"


def _source_assets(source: str) -> Any:
    tables = raw_tables(source)
    specs = [
        AssetSpec(
            key=AssetKey(["raw", table]),
            group_name=GROUP,
            kinds=KINDS,
            description=_table_description(source, table),
            metadata={"dagster/table_name": f"raw.{table}", "tessera/source": source},
        )
        for table in tables
    ]
    check_specs = [
        AssetCheckSpec(
            name=ROW_ACCOUNTING,
            asset=AssetKey(["raw", table]),
            description="rows_read == rows_loaded + rows_quarantined for this run",
        )
        for table in tables
    ]

    @multi_asset(
        name=f"ingest_{source}",
        specs=specs,
        check_specs=check_specs,
        description=f"dlt pipeline tessera_{source} -> dataset raw. {SOURCE_DESCRIPTIONS[source]}",
        can_subset=False,
    )
    def _ingest(context: AssetExecutionContext) -> Iterator[Any]:
        from tessera.sources import run_source

        result = run_source(source, run_id=context.run_id)
        context.log.info(
            f"{source}: read {result.rows_read}, loaded {result.rows_loaded}, "
            f"quarantined {result.rows_quarantined} in {result.duration_s:.1f}s"
        )
        for table in tables:
            counts = result.tables[table]
            key = AssetKey(["raw", table])
            yield MaterializeResult(
                asset_key=key,
                metadata={
                    "rows_read": counts.rows_read,
                    "rows_loaded": counts.rows_loaded,
                    "rows_quarantined": counts.rows_quarantined,
                    "rows_skipped": counts.rows_skipped,
                    "load_ids": MetadataValue.json(result.load_ids),
                    "duration_s": round(result.duration_s, 3),
                    "pipeline": result.pipeline_name,
                },
            )
            yield AssetCheckResult(
                asset_key=key,
                check_name=ROW_ACCOUNTING,
                passed=counts.balanced,
                severity=AssetCheckSeverity.ERROR,
                metadata={
                    "rows_read": counts.rows_read,
                    "rows_loaded": counts.rows_loaded,
                    "rows_quarantined": counts.rows_quarantined,
                },
            )

    return _ingest


SOURCE_ASSETS = {source: _source_assets(source) for source in SPECS_BY_SOURCE}
ALL_RAW_KEYS = [AssetKey(["raw", t]) for source in SPECS_BY_SOURCE for t in raw_tables(source)]
QUARANTINE_KEY = AssetKey(["raw", "quarantine"])
INGEST_LOG_KEY = AssetKey(["raw", "ingest_log"])


@multi_asset(
    name="ingest_audit",
    specs=[
        AssetSpec(
            key=QUARANTINE_KEY,
            group_name=GROUP,
            kinds=KINDS,
            deps=ALL_RAW_KEYS,
            description="raw.quarantine: rows that failed validation, with the reason; merged on "
            "quarantine_id. Written by every source pipeline; this asset reports on it.",
            metadata={"dagster/table_name": "raw.quarantine"},
        ),
        AssetSpec(
            key=INGEST_LOG_KEY,
            group_name=GROUP,
            kinds=KINDS,
            deps=ALL_RAW_KEYS,
            description="raw.ingest_log: one row per run, source and raw table with rows_read, "
            "rows_loaded, rows_quarantined. Written by every source pipeline.",
            metadata={"dagster/table_name": "raw.ingest_log"},
        ),
    ],
    check_specs=[
        AssetCheckSpec(
            name=ROW_ACCOUNTING,
            asset=INGEST_LOG_KEY,
            description="every ingest_log row of this run balances",
        )
    ],
    description="Reports quarantine and ingest-log counts per source after the source pipelines ran.",
    can_subset=False,
)
def ingest_audit(context: AssetExecutionContext) -> Iterator[Any]:
    import duckdb

    from tessera import paths

    quarantine: dict[str, int] = {}
    quarantined_this_run: dict[str, int] = {}
    log_rows: list[tuple[Any, ...]] = []
    with duckdb.connect(str(paths.warehouse_path())) as con:
        tables = {
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw'"
            ).fetchall()
        }
        if "quarantine" in tables:
            quarantine = dict(
                con.execute("select source, count(*) from raw.quarantine group by 1 order by 1").fetchall()
            )
        if "ingest_log" in tables:
            log_rows = con.execute(
                "select source, source_table, rows_read, rows_loaded, rows_quarantined "
                "from raw.ingest_log where run_id = ? order by 1, 2",
                [context.run_id],
            ).fetchall()
    for source, _table, _read, _loaded, rows_quarantined in log_rows:
        quarantined_this_run[source] = quarantined_this_run.get(source, 0) + rows_quarantined
    unbalanced = [f"{s}.{t}" for s, t, r, lo, q in log_rows if r != lo + q]

    yield MaterializeResult(
        asset_key=QUARANTINE_KEY,
        metadata={
            "rows_total": sum(quarantine.values()),
            "rows_by_source": MetadataValue.json(quarantine),
            "quarantined_this_run": MetadataValue.json(quarantined_this_run),
        },
    )
    yield MaterializeResult(
        asset_key=INGEST_LOG_KEY,
        metadata={
            "tables_logged_this_run": len(log_rows),
            "rows_read": sum(r[2] for r in log_rows),
            "rows_loaded": sum(r[3] for r in log_rows),
            "rows_quarantined": sum(r[4] for r in log_rows),
        },
    )
    yield AssetCheckResult(
        asset_key=INGEST_LOG_KEY,
        check_name=ROW_ACCOUNTING,
        passed=not unbalanced,
        severity=AssetCheckSeverity.ERROR,
        metadata={"unbalanced": MetadataValue.json(unbalanced)},
    )


ingest_assets = [*SOURCE_ASSETS.values(), ingest_audit]
