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
from dataclasses import dataclass, field
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
    # the row hash as a number, compared by the diff (row_hash keeps its text form); NULL in rows
    # written before it existed, which the engine fills in (and migrates from md5) on their next run
    f"ALTER TABLE {STATE} ADD COLUMN IF NOT EXISTS row_hash64 UBIGINT",
    # the plan position of an in-flight row, so the acknowledgement of its batch can clear it
    f"ALTER TABLE {INFLIGHT} ADD COLUMN IF NOT EXISTS seq BIGINT",
]

STATE_COLUMNS = "sync_name, record_key, row_hash, payload_json, op, acked_at, run_id, idempotency_key"
INFLIGHT_COLUMNS = "sync_name, record_key, op, idempotency_key, payload_json, run_id, sent_at, seq"


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


@dataclass
class BatchAck:
    """What one sent batch (plan rows ``seq_from < seq <= seq_to``) left to record."""

    seq_from: int
    seq_to: int
    acked_keys: list[str] | None
    """``None``: every row of the range was acknowledged."""
    rejected: Mapping[str, str] = field(default_factory=dict)
    errors: list[tuple[str | None, str]] = field(default_factory=list)


def _ranges(column: str, ranges: Iterable[tuple[int, int]]) -> str:
    return "(" + " OR ".join(f"({column} > {int(lo)} AND {column} <= {int(hi)})" for lo, hi in ranges) + ")"


def commit_batches(
    conn: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    sync_name: str,
    plan_table: str,
    batches: list[BatchAck],
    progress: Mapping[str, Any],
    max_attempts: int = 3,
    clear_rejections: bool = False,
    inflight_next: list[tuple[int, int, list[str]]] | None = None,
    inflight_payloads: bool = True,
) -> int:
    """In one transaction (one fsync), for each finished batch: append its acknowledged rows to the
    ack journal (``compact`` clears them from ``sync_inflight``), count its rejected rows in
    ``sync_rejections`` (moving those at ``max_attempts`` to the dead letters), log its errors;
    then update the run's counters and record the rows of the batches about to be sent
    (``inflight_next``: ``(seq_from, seq_to, keys not sent)``) as in flight. Returns the number of
    rows dead-lettered."""
    now = utcnow()
    dead = 0
    conn.execute("BEGIN TRANSACTION")
    try:
        whole = [(b.seq_from, b.seq_to) for b in batches if b.acked_keys is None]
        partial = [b for b in batches if b.acked_keys]
        selections: list[tuple[str, dict[str, Any]]] = []
        if whole:
            selections.append((_ranges("seq", whole), {}))
        for b in partial:
            selections.append(
                (f"{_ranges('seq', [(b.seq_from, b.seq_to)])} AND list_contains($keys::VARCHAR[], record_key)",
                 {"keys": b.acked_keys})
            )
        for where, extra in selections:
            conn.execute(
                f"""INSERT INTO {ACKS}
                    SELECT $sync, record_key, row_hash, payload_json, op, $now, $run, idempotency_key, seq
                    FROM {plan_table} WHERE {where}""",
                {"sync": sync_name, "now": now, "run": run_id, **extra},
            )
            if clear_rejections:  # acknowledged now: forget earlier refusals of these rows
                conn.execute(
                    f"""DELETE FROM {REJECTIONS} WHERE sync_name = $sync AND record_key IN (
                        SELECT record_key FROM {plan_table} WHERE {where})""",
                    {"sync": sync_name, **extra},
                )
        for b in batches:
            if b.rejected:
                dead += _record_rejections(
                    conn, run_id, sync_name, plan_table, b.seq_from, b.seq_to, b.rejected, max_attempts, now
                )
            record_errors(conn, run_id, sync_name, b.errors)
        if dead:
            progress = {**progress, "rows_dead_lettered": int(progress.get("rows_dead_lettered", 0)) + dead}
        update_run(conn, run_id, progress)
        if inflight_next:  # the next batches, about to be sent
            record_inflight(
                conn,
                run_id=run_id,
                sync_name=sync_name,
                plan_table=plan_table,
                ranges=[(lo, hi) for lo, hi, _ in inflight_next],
                skip_keys=[k for _, _, keys in inflight_next for k in keys],
                payloads=inflight_payloads,
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
    ranges: list[tuple[int, int]],
    skip_keys: list[str],
    payloads: bool = True,
) -> None:
    """Before batches go out: remember their rows as handed over but not yet acknowledged.

    ``payloads=False`` leaves ``payload_json`` NULL: it only serves as the ``previous`` fields of
    a row that was never acknowledged before, which only some destinations read."""
    if not ranges:
        return
    skip = " AND NOT list_contains($skip::VARCHAR[], record_key)" if skip_keys else ""
    conn.execute(
        f"""INSERT INTO {INFLIGHT} ({INFLIGHT_COLUMNS})
            SELECT $sync, record_key, op, idempotency_key,
                   {"coalesce(payload_json, prev_payload)" if payloads else "NULL"}, $run, $now, seq
            FROM {plan_table} WHERE {_ranges("seq", ranges)}{skip}""",
        {"sync": sync_name, "run": run_id, "now": utcnow(), **({"skip": skip_keys} if skip_keys else {})},
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


def compact(conn: duckdb.DuckDBPyConnection, sync_name: str, settled_run_id: str | None = None) -> int:
    """Fold the ack journal of one sync into ``sync_state`` (latest acknowledgement per key wins).

    ``settled_run_id``: a run every in-flight row of which was acknowledged (or rejected); its
    ``sync_inflight`` rows are cleared by run id instead of by key.

    One transaction: a crash leaves either the journal or the folded state, never neither. Set
    based: one insert of the journal rows, and deletes only where there is something to replace.
    Returns the number of journal rows folded."""
    row = conn.execute(
        f"SELECT count(*), count(DISTINCT run_id), (SELECT count(*) FROM {ACKS}) FROM {ACKS} WHERE sync_name = ?",
        [sync_name],
    ).fetchone()
    n, runs, everything = (int(v) for v in row) if row else (0, 0, 0)
    if not n:
        return 0
    conn.execute("BEGIN TRANSACTION")
    try:
        if runs == 1:  # one run's plan has each key once: the journal is the latest state
            latest = f"SELECT {STATE_COLUMNS} FROM {ACKS} WHERE sync_name = $sync"
        else:  # a killed run and the next one: the later acknowledgement of a key wins
            conn.execute(
                f"""CREATE OR REPLACE TEMP TABLE _tessera_ack_latest AS
                SELECT {STATE_COLUMNS} FROM {ACKS} WHERE sync_name = ?
                QUALIFY row_number() OVER (PARTITION BY record_key ORDER BY acked_at DESC, seq DESC) = 1""",
                [sync_name],
            )
            latest = "SELECT * FROM _tessera_ack_latest WHERE sync_name = $sync"
        params = {"sync": sync_name}
        if _has_rows(conn, STATE, sync_name):
            conn.execute(
                f"""DELETE FROM {STATE} WHERE sync_name = $sync
                    AND record_key IN (SELECT record_key FROM ({latest}))""",
                params,
            )
        conn.execute(
            f"""INSERT INTO {STATE} ({STATE_COLUMNS}, row_hash64)
                SELECT {STATE_COLUMNS}, TRY_CAST(row_hash AS UBIGINT) FROM ({latest})""",
            params,
        )
        if settled_run_id is not None:
            conn.execute(f"DELETE FROM {INFLIGHT} WHERE sync_name = ? AND run_id = ?", [sync_name, settled_run_id])
        if _has_rows(conn, INFLIGHT, sync_name):  # acknowledged: no longer uncertain
            conn.execute(
                f"""DELETE FROM {INFLIGHT} WHERE sync_name = $sync
                    AND record_key IN (SELECT record_key FROM ({latest}))""",
                params,
            )
        if everything == n:
            conn.execute(f"DELETE FROM {ACKS}")
        else:
            conn.execute(f"DELETE FROM {ACKS} WHERE sync_name = ?", [sync_name])
        conn.execute("DROP TABLE IF EXISTS _tessera_ack_latest")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return n


def _has_rows(conn: duckdb.DuckDBPyConnection, table: str, sync_name: str) -> bool:
    row = conn.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE sync_name = ? LIMIT 1)", [sync_name]
    ).fetchone()
    return bool(row and row[0])


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
