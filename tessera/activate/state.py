"""Sync state and logs, kept in the warehouse (schema ``tessera_sync``).

- ``sync_state``: the last state the destination acknowledged, one row per (sync, record key).
  ``op = 'delete'`` rows are tombstones of records Tessera deleted (mirror mode).
- ``sync_runs``: one row per run, inserted as ``running`` and updated after every batch, so a
  crashed run is visible as a ``running`` row that never finished.
- ``sync_row_errors``: rows the destination rejected (or that could not be sent), per run.

All writes of one batch (state, errors, run progress) happen in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import duckdb

SCHEMA = "tessera_sync"
STATE = f"{SCHEMA}.sync_state"
RUNS = f"{SCHEMA}.sync_runs"
ERRORS = f"{SCHEMA}.sync_row_errors"

RUN_COUNTERS = (
    "rows_planned",
    "rows_added",
    "rows_changed",
    "rows_deleted",
    "rows_sent",
    "rows_acked",
    "rows_rejected",
    "rows_skipped_consent",
)

DDL = [
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {STATE} (
        sync_name VARCHAR NOT NULL,
        record_key VARCHAR NOT NULL,
        row_hash VARCHAR,
        payload_json VARCHAR,
        op VARCHAR NOT NULL,
        acked_at TIMESTAMPTZ NOT NULL,
        run_id VARCHAR NOT NULL,
        idempotency_key VARCHAR NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS {RUNS} (
        run_id VARCHAR NOT NULL,
        sync_name VARCHAR NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ,
        status VARCHAR NOT NULL,
        destination VARCHAR,
        mode VARCHAR,
        full_resync BOOLEAN,
        {", ".join(f"{c} BIGINT DEFAULT 0" for c in RUN_COUNTERS)},
        duration_s DOUBLE,
        error VARCHAR
    )""",
    f"""CREATE TABLE IF NOT EXISTS {ERRORS} (
        run_id VARCHAR NOT NULL,
        sync_name VARCHAR NOT NULL,
        record_key VARCHAR,
        error VARCHAR NOT NULL,
        "at" TIMESTAMPTZ NOT NULL
    )""",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


def ensure_tables(conn: duckdb.DuckDBPyConnection) -> None:
    for statement in DDL:
        conn.execute(statement)


def tables_exist(conn: duckdb.DuckDBPyConnection) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = 'sync_runs'",
        [SCHEMA],
    ).fetchone()
    return bool(row and row[0])


def start_run(
    conn: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    sync_name: str,
    started_at: datetime,
    destination: str,
    mode: str,
    full_resync: bool,
) -> None:
    conn.execute(
        f"INSERT INTO {RUNS} (run_id, sync_name, started_at, status, destination, mode, full_resync) "
        "VALUES (?, ?, ?, 'running', ?, ?, ?)",
        [run_id, sync_name, started_at, destination, mode, full_resync],
    )


def update_run(conn: duckdb.DuckDBPyConnection, run_id: str, values: Mapping[str, Any]) -> None:
    allowed = {*RUN_COUNTERS, "status", "finished_at", "duration_s", "error"}
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"unknown sync_runs columns {sorted(unknown)}")
    if not values:
        return
    columns = list(values)
    conn.execute(
        f"UPDATE {RUNS} SET {', '.join(f'{c} = ?' for c in columns)} WHERE run_id = ?",
        [*(values[c] for c in columns), run_id],
    )


def record_errors(
    conn: duckdb.DuckDBPyConnection, run_id: str, sync_name: str, errors: Iterable[tuple[str | None, str]]
) -> None:
    at = utcnow()
    rows = [(run_id, sync_name, key, error[:2000], at) for key, error in errors]
    if rows:
        conn.executemany(f"INSERT INTO {ERRORS} VALUES (?, ?, ?, ?, ?)", rows)


def commit_batch(
    conn: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    sync_name: str,
    plan_table: str,
    seq_from: int,
    seq_to: int,
    acked_keys: list[str],
    errors: list[tuple[str | None, str]],
    progress: Mapping[str, Any],
) -> None:
    """Atomically: write the acknowledged rows of plan rows ``seq_from < seq <= seq_to`` to
    ``sync_state``, log ``errors`` and update the run's counters."""
    conn.execute("BEGIN TRANSACTION")
    try:
        if acked_keys:
            conn.execute(
                f"DELETE FROM {STATE} WHERE sync_name = ? AND list_contains(?::VARCHAR[], record_key)",
                [sync_name, acked_keys],
            )
            conn.execute(
                f"""INSERT INTO {STATE}
                    SELECT ?, record_key, row_hash, payload_json, op, ?, ?, idempotency_key
                    FROM {plan_table}
                    WHERE seq > ? AND seq <= ? AND list_contains(?::VARCHAR[], record_key)""",
                [sync_name, utcnow(), run_id, seq_from, seq_to, acked_keys],
            )
        record_errors(conn, run_id, sync_name, errors)
        update_run(conn, run_id, progress)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def last_runs(conn: duckdb.DuckDBPyConnection, sync_name: str, limit: int = 5) -> list[dict[str, Any]]:
    return _dicts(
        conn.execute(
            f"SELECT * FROM {RUNS} WHERE sync_name = ? ORDER BY started_at DESC LIMIT ?", [sync_name, limit]
        )
    )


def run_errors(conn: duckdb.DuckDBPyConnection, run_id: str, limit: int = 20) -> list[dict[str, Any]]:
    return _dicts(
        conn.execute(
            f'SELECT record_key, error, "at" FROM {ERRORS} WHERE run_id = ? ORDER BY "at", record_key LIMIT ?',
            [run_id, limit],
        )
    )


def state_counts(conn: duckdb.DuckDBPyConnection, sync_name: str) -> dict[str, Any]:
    row = conn.execute(
        f"""SELECT count(*) FILTER (WHERE op <> 'delete'), count(*) FILTER (WHERE op = 'delete'), max(acked_at)
            FROM {STATE} WHERE sync_name = ?""",
        [sync_name],
    ).fetchone()
    assert row is not None
    return {"records_synced": row[0], "records_deleted": row[1], "last_acked_at": row[2]}


def reset_state(conn: duckdb.DuckDBPyConnection, sync_name: str) -> int:
    """Forget everything Tessera sent for a sync (the next run re-sends every row as added)."""
    row = conn.execute(f"SELECT count(*) FROM {STATE} WHERE sync_name = ?", [sync_name]).fetchone()
    conn.execute(f"DELETE FROM {STATE} WHERE sync_name = ?", [sync_name])
    return int(row[0]) if row else 0
