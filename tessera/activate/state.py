"""Sync state and logs, kept in the warehouse (schema ``tessera_sync``).

- ``sync_state``: the last state the destination acknowledged, one row per (sync, record key).
  ``op = 'delete'`` rows are tombstones of records Tessera deleted (mirror mode).
- ``sync_runs``: one row per run, inserted as ``running`` and updated after every batch, so a
  crashed run is visible as a ``running`` row that never finished.
- ``sync_row_errors``: rows the destination rejected (or that could not be sent), per run.
- ``sync_acks``: the acknowledgement journal. Each acknowledged batch is *appended* here (cheap,
  whatever the size of ``sync_state``) in the same transaction as its errors and run counters;
  ``compact()`` folds the journal into ``sync_state`` at the start and the end of every run, so a
  run killed at any point leaves its acknowledged batches in the journal, never lost.
- ``sync_rejections``: rows the destination refused, with the number of attempts so far.
- ``sync_dead_letters``: rows refused ``max_attempts`` times; not sent again until replayed (or
  until their content changes).
- ``sync_inflight``: rows handed to the destination whose acknowledgement has not been recorded
  yet (written just before each batch is sent). An entry left after a run means the destination
  may or may not have applied the row (e.g. the connection dropped after the server stored it), so
  the next run re-sends the key's current version, or, in mirror mode, deletes it if the row is
  gone from the model.
- ``suppressions``: profiles, emails or phones that must never be sent (all channels or one),
  checked when planning and again just before each batch is sent.

All writes of one batch (journal, rejections, dead letters, errors, run progress) happen in one
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import duckdb

from tessera.warehouse import table_exists

SCHEMA = "tessera_sync"
STATE = f"{SCHEMA}.sync_state"
RUNS = f"{SCHEMA}.sync_runs"
ERRORS = f"{SCHEMA}.sync_row_errors"
ACKS = f"{SCHEMA}.sync_acks"
REJECTIONS = f"{SCHEMA}.sync_rejections"
DEAD = f"{SCHEMA}.sync_dead_letters"
SUPPRESSIONS = f"{SCHEMA}.suppressions"
INFLIGHT = f"{SCHEMA}.sync_inflight"

RUN_COUNTERS = (
    "rows_planned",
    "rows_added",
    "rows_changed",
    "rows_deleted",
    "rows_sent",
    "rows_acked",
    "rows_rejected",
    "rows_skipped_consent",
    "rows_dead_lettered",
    "retries",
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
    f"""CREATE TABLE IF NOT EXISTS {ACKS} (
        sync_name VARCHAR NOT NULL,
        record_key VARCHAR NOT NULL,
        row_hash VARCHAR,
        payload_json VARCHAR,
        op VARCHAR NOT NULL,
        acked_at TIMESTAMPTZ NOT NULL,
        run_id VARCHAR NOT NULL,
        idempotency_key VARCHAR NOT NULL,
        seq BIGINT NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS {REJECTIONS} (
        sync_name VARCHAR NOT NULL,
        record_key VARCHAR NOT NULL,
        row_hash VARCHAR,
        attempts INTEGER NOT NULL,
        last_error VARCHAR,
        first_at TIMESTAMPTZ NOT NULL,
        last_at TIMESTAMPTZ NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS {DEAD} (
        sync_name VARCHAR NOT NULL,
        record_key VARCHAR NOT NULL,
        op VARCHAR NOT NULL,
        row_hash VARCHAR,
        idempotency_key VARCHAR NOT NULL,
        payload_json VARCHAR,
        attempts INTEGER NOT NULL,
        error VARCHAR,
        run_id VARCHAR NOT NULL,
        dead_at TIMESTAMPTZ NOT NULL,
        replayed_at TIMESTAMPTZ
    )""",
    f"""CREATE TABLE IF NOT EXISTS {INFLIGHT} (
        sync_name VARCHAR NOT NULL,
        record_key VARCHAR NOT NULL,
        op VARCHAR NOT NULL,
        idempotency_key VARCHAR NOT NULL,
        payload_json VARCHAR,
        run_id VARCHAR NOT NULL,
        sent_at TIMESTAMPTZ NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS {SUPPRESSIONS} (
        kind VARCHAR NOT NULL,
        value VARCHAR NOT NULL,
        channel VARCHAR NOT NULL DEFAULT '*',
        reason VARCHAR,
        added_at TIMESTAMPTZ NOT NULL
    )""",
    # columns added after the first release of sync_runs
    f"ALTER TABLE {RUNS} ADD COLUMN IF NOT EXISTS rows_dead_lettered BIGINT DEFAULT 0",
    f"ALTER TABLE {RUNS} ADD COLUMN IF NOT EXISTS retries BIGINT DEFAULT 0",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


def ensure_tables(conn: duckdb.DuckDBPyConnection) -> None:
    for statement in DDL:
        conn.execute(statement)


def tables_exist(conn: duckdb.DuckDBPyConnection) -> bool:
    return table_exists(conn, SCHEMA, "sync_runs")


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
    acked_keys: list[str] | None,
    errors: list[tuple[str | None, str]],
    progress: Mapping[str, Any],
    rejected: Mapping[str, str] | None = None,
    max_attempts: int = 3,
    clear_rejections: bool = False,
    inflight_next: tuple[int, int, list[str]] | None = None,
) -> int:
    """Atomically, for plan rows ``seq_from < seq <= seq_to``: append the acknowledged ones to the
    ack journal (``acked_keys=None`` means every row of the range), count ``rejected`` rows in
    ``sync_rejections`` (moving those at ``max_attempts`` to the dead letters), log ``errors`` and
    update the run's counters. Returns the number of rows dead-lettered."""
    now = utcnow()
    dead = 0
    conn.execute("BEGIN TRANSACTION")
    try:
        if acked_keys is None or acked_keys:
            key_filter, params = "", [sync_name, now, run_id, seq_from, seq_to]
            if acked_keys is not None:
                key_filter = " AND list_contains(?::VARCHAR[], record_key)"
                params.append(acked_keys)
            conn.execute(
                f"""INSERT INTO {ACKS}
                    SELECT ?, record_key, row_hash, payload_json, op, ?, ?, idempotency_key, seq
                    FROM {plan_table} WHERE seq > ? AND seq <= ?{key_filter}""",
                params,
            )
            if clear_rejections:  # acknowledged now: forget earlier refusals of these rows
                conn.execute(
                    f"""DELETE FROM {REJECTIONS} WHERE sync_name = $sync AND record_key IN (
                        SELECT record_key FROM {plan_table} WHERE seq > $lo AND seq <= $hi
                        AND ($all OR list_contains($keys::VARCHAR[], record_key)))""",
                    {"sync": sync_name, "lo": seq_from, "hi": seq_to, "all": acked_keys is None,
                     "keys": acked_keys or []},
                )
        if rejected:
            dead = _record_rejections(conn, run_id, sync_name, plan_table, seq_from, seq_to, rejected, max_attempts, now)
            progress = {**progress, "rows_dead_lettered": int(progress.get("rows_dead_lettered", 0)) + dead}
        record_errors(conn, run_id, sync_name, errors)
        update_run(conn, run_id, progress)
        if inflight_next is not None:  # the next batch, about to be sent
            record_inflight(
                conn,
                run_id=run_id,
                sync_name=sync_name,
                plan_table=plan_table,
                seq_from=inflight_next[0],
                seq_to=inflight_next[1],
                skip_keys=inflight_next[2],
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return dead


def record_inflight(
    conn: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    sync_name: str,
    plan_table: str,
    seq_from: int,
    seq_to: int,
    skip_keys: list[str],
) -> None:
    """Before a batch goes out: remember its rows as handed over but not yet acknowledged."""
    conn.execute(
        f"""INSERT INTO {INFLIGHT}
            SELECT $sync, record_key, op, idempotency_key, coalesce(payload_json, prev_payload), $run, $now
            FROM {plan_table} WHERE seq > $lo AND seq <= $hi
              AND NOT list_contains($skip::VARCHAR[], record_key)""",
        {"sync": sync_name, "run": run_id, "now": utcnow(), "lo": seq_from, "hi": seq_to, "skip": skip_keys},
    )


def _record_rejections(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    sync_name: str,
    plan_table: str,
    seq_from: int,
    seq_to: int,
    rejected: Mapping[str, str],
    max_attempts: int,
    now: datetime,
) -> int:
    keys = list(rejected)
    reasons = [rejected[k][:2000] for k in keys]
    conn.execute(
        """CREATE OR REPLACE TEMP TABLE _tessera_rejected AS
           SELECT unnest(?::VARCHAR[]) AS record_key, unnest(?::VARCHAR[]) AS error""",
        [keys, reasons],
    )
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE _tessera_rejected_rows AS
        SELECT p.record_key, p.op, p.row_hash, p.idempotency_key, p.payload_json, r.error,
               coalesce(CASE WHEN j.row_hash IS NOT DISTINCT FROM p.row_hash THEN j.attempts END, 0) + 1 AS attempts,
               coalesce(CASE WHEN j.row_hash IS NOT DISTINCT FROM p.row_hash THEN j.first_at END, $now) AS first_at
        FROM {plan_table} AS p
        JOIN _tessera_rejected AS r USING (record_key)
        LEFT JOIN {REJECTIONS} AS j ON j.sync_name = $sync AND j.record_key = p.record_key
        WHERE p.seq > $lo AND p.seq <= $hi""",
        {"now": now, "sync": sync_name, "lo": seq_from, "hi": seq_to},
    )
    conn.execute(
        f"DELETE FROM {REJECTIONS} WHERE sync_name = ? AND record_key IN (SELECT record_key FROM _tessera_rejected)",
        [sync_name],
    )
    # a refusal is a definite answer: the destination did not apply the row
    conn.execute(
        f"DELETE FROM {INFLIGHT} WHERE sync_name = ? AND record_key IN (SELECT record_key FROM _tessera_rejected)",
        [sync_name],
    )
    conn.execute(
        f"""INSERT INTO {REJECTIONS}
            SELECT ?, record_key, row_hash, attempts, error, first_at, ? FROM _tessera_rejected_rows
            WHERE attempts < ?""",
        [sync_name, now, max_attempts],
    )
    row = conn.execute(
        f"""INSERT INTO {DEAD}
            SELECT ?, record_key, op, row_hash, idempotency_key, payload_json, attempts, error, ?, ?, NULL
            FROM _tessera_rejected_rows WHERE attempts >= ? RETURNING 1""",
        [sync_name, run_id, now, max_attempts],
    ).fetchall()
    conn.execute("DROP TABLE IF EXISTS _tessera_rejected")
    conn.execute("DROP TABLE IF EXISTS _tessera_rejected_rows")
    return len(row)


def compact(conn: duckdb.DuckDBPyConnection, sync_name: str) -> int:
    """Fold the ack journal of one sync into ``sync_state`` (latest acknowledgement per key wins).

    One transaction: a crash leaves either the journal or the folded state, never neither.
    Returns the number of journal rows folded."""
    row = conn.execute(f"SELECT count(*) FROM {ACKS} WHERE sync_name = ?", [sync_name]).fetchone()
    n = int(row[0]) if row else 0
    if not n:
        return 0
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE _tessera_ack_latest AS
            SELECT * EXCLUDE (seq, rn) FROM (
                SELECT *, row_number() OVER (PARTITION BY record_key ORDER BY acked_at DESC, seq DESC) AS rn
                FROM {ACKS} WHERE sync_name = ?
            ) WHERE rn = 1""",
            [sync_name],
        )
        conn.execute(
            f"""DELETE FROM {STATE} WHERE sync_name = ?
                AND record_key IN (SELECT record_key FROM _tessera_ack_latest)""",
            [sync_name],
        )
        conn.execute(f"INSERT INTO {STATE} SELECT * FROM _tessera_ack_latest")
        conn.execute(
            f"""DELETE FROM {INFLIGHT} WHERE sync_name = ?
                AND record_key IN (SELECT record_key FROM _tessera_ack_latest)""",
            [sync_name],
        )
        conn.execute(f"DELETE FROM {ACKS} WHERE sync_name = ?", [sync_name])
        conn.execute("DROP TABLE _tessera_ack_latest")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return n


def mark_abandoned_runs(conn: duckdb.DuckDBPyConnection, sync_name: str, now: datetime) -> int:
    """Runs of this sync still ``running`` were killed (DuckDB allows one writer): mark them."""
    rows = conn.execute(
        f"""UPDATE {RUNS} SET status = 'interrupted',
                error = coalesce(error, 'the run ended without finishing (killed or crashed); '
                                        || 'acknowledged batches were kept, the rest is re-sent')
            WHERE sync_name = ? AND status = 'running' RETURNING run_id""",
        [sync_name],
    ).fetchall()
    return len(rows)


def dead_letters(
    conn: duckdb.DuckDBPyConnection, sync_name: str, *, include_replayed: bool = False, limit: int = 100
) -> list[dict[str, Any]]:
    where = "" if include_replayed else " AND replayed_at IS NULL"
    return _dicts(
        conn.execute(
            f"""SELECT record_key, op, attempts, error, run_id, dead_at, replayed_at, idempotency_key, payload_json
                FROM {DEAD} WHERE sync_name = ?{where} ORDER BY dead_at DESC, record_key LIMIT ?""",
            [sync_name, limit],
        )
    )


def replay_dead_letters(
    conn: duckdb.DuckDBPyConnection, sync_name: str, keys: list[str] | None = None
) -> int:
    """Release dead-lettered rows (all, or ``keys``): the next run plans and sends them again."""
    params: list[Any] = [utcnow(), sync_name]
    key_filter = ""
    if keys:
        key_filter = " AND list_contains(?::VARCHAR[], record_key)"
        params.append(keys)
    conn.execute("BEGIN TRANSACTION")
    try:
        rows = conn.execute(
            f"UPDATE {DEAD} SET replayed_at = ? WHERE sync_name = ? AND replayed_at IS NULL{key_filter} "
            "RETURNING record_key",
            params,
        ).fetchall()
        if rows:
            conn.execute(
                f"DELETE FROM {REJECTIONS} WHERE sync_name = ? AND list_contains(?::VARCHAR[], record_key)",
                [sync_name, [r[0] for r in rows]],
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(rows)


def add_suppression(
    conn: duckdb.DuckDBPyConnection, kind: str, value: str, channel: str = "*", reason: str | None = None
) -> None:
    if kind not in ("profile", "email", "phone"):
        raise ValueError("kind must be profile, email or phone")
    value = value.strip().lower() if kind == "email" else value.strip()
    conn.execute(
        f"INSERT INTO {SUPPRESSIONS} VALUES (?, ?, ?, ?, ?)", [kind, value, channel or "*", reason, utcnow()]
    )


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
    """Acknowledged state including journal entries not yet compacted (read-only)."""
    row = conn.execute(
        f"""WITH merged AS (
                SELECT record_key, arg_max(op, k) AS op, max(acked_at) AS acked_at FROM (
                    SELECT record_key, op, acked_at, 0 AS k FROM {STATE} WHERE sync_name = $s
                    UNION ALL
                    SELECT record_key, op, acked_at, seq + 1 AS k FROM {ACKS} WHERE sync_name = $s
                ) GROUP BY record_key
            )
            SELECT count(*) FILTER (WHERE op <> 'delete'), count(*) FILTER (WHERE op = 'delete'), max(acked_at)
            FROM merged""",
        {"s": sync_name},
    ).fetchone()
    assert row is not None
    pending = conn.execute(
        f"SELECT count(*) FROM {REJECTIONS} WHERE sync_name = ?", [sync_name]
    ).fetchone()
    dead = conn.execute(
        f"SELECT count(*) FROM {DEAD} WHERE sync_name = ? AND replayed_at IS NULL", [sync_name]
    ).fetchone()
    return {
        "records_synced": row[0],
        "records_deleted": row[1],
        "last_acked_at": row[2],
        "rows_rejected_pending_retry": int(pending[0]) if pending else 0,
        "rows_dead_lettered": int(dead[0]) if dead else 0,
    }


def reset_state(conn: duckdb.DuckDBPyConnection, sync_name: str) -> int:
    """Forget everything Tessera sent for a sync (the next run re-sends every row as added)."""
    compact(conn, sync_name)
    row = conn.execute(f"SELECT count(*) FROM {STATE} WHERE sync_name = ?", [sync_name]).fetchone()
    conn.execute(f"DELETE FROM {STATE} WHERE sync_name = ?", [sync_name])
    conn.execute(f"DELETE FROM {REJECTIONS} WHERE sync_name = ?", [sync_name])
    conn.execute(f"DELETE FROM {INFLIGHT} WHERE sync_name = ?", [sync_name])
    return int(row[0]) if row else 0
