"""The reverse-ETL sync engine: diff a warehouse model against what was delivered, send the difference.

One run of one sync:

1. open one DuckDB connection (closed before returning);
2. check the model, its key, mapping and consent columns exist;
3. in SQL, hash every model row (64-bit ``hash`` of the mapped fields, salted with the mapping and
   column types) and full-join against ``tessera_sync.sync_state`` to plan added / changed rows
   (and, in mirror mode, deletes of keys Tessera delivered that are gone from the model or lost
   consent); only planned rows get their payload JSON; rows with a NULL or duplicated key are not
   sent and are logged as errors;
4. send the plan in batches of ``batch_size``, up to ``concurrency`` at once; each batch is
   recorded in flight (committed) before it is handed out, and the acknowledged rows go to the
   ack journal, the rejected ones to ``sync_row_errors``, in one transaction per round. A crash
   loses at most the in-flight batches, which the next run re-plans and re-sends with the same
   per-row idempotency key ``sha256(sync_name, record_key, row_hash)``. After a batch-level
   failure (retries exhausted, destination unreachable) the run stops handing out batches and
   ends ``partial``.
"""

from __future__ import annotations

import json
import logging
import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from tessera import paths
from tessera.activate import state
from tessera.activate.config import (
    FileOutboxDestination as FileOutboxConfig,
)
from tessera.activate.config import (
    SyncConfig,
    SyncConfigError,
    get_sync,
    load_destinations,
    load_syncs,
)
from tessera.activate.config import (
    WebhookDestination as WebhookConfig,
)
from tessera.activate.consent import (
    check_consent_source,
    consent_join,
    qident,
    send_time_blocked,
    suppression_expr,
)
from tessera.activate.destinations import (
    BatchResult,
    Destination,
    DestinationNotConfigured,
    RowOp,
    build_destination,
)
from tessera.activate.destinations.base import STOP, RetryBudget, SyncInterrupted, WireBatch

log = logging.getLogger(__name__)

PLAN = "_tessera_sync_plan"
CANDIDATES = "_tessera_sync_candidates"
CHANGES = "_tessera_sync_changes"
KEYSTATS = "_tessera_sync_keystats"
DIFF = "_tessera_sync_diff"

MODE_OP = {"insert": "insert", "update": "update", "upsert": "upsert", "mirror": "upsert"}


class SyncError(RuntimeError):
    """A sync cannot run as configured (missing model or column, unknown destination...)."""


class SyncSourceMissing(SyncError):
    pass


@dataclass
class SyncRunResult:
    sync_name: str
    run_id: str
    status: str  # success | partial | failed | skipped | interrupted | dry_run
    destination: str
    destination_type: str
    mode: str
    started_at: datetime
    finished_at: datetime | None = None
    duration_s: float = 0.0
    dry_run: bool = False
    full_resync: bool = False
    rows_planned: int = 0
    rows_added: int = 0
    rows_changed: int = 0
    rows_deleted: int = 0
    rows_sent: int = 0
    rows_acked: int = 0
    rows_rejected: int = 0
    rows_skipped_consent: int = 0
    rows_invalid: int = 0
    """Model rows with a NULL or duplicated key (logged in sync_row_errors, included in rows_rejected)."""
    rows_dead_lettered: int = 0
    """Rows moved to the dead-letter table by this run (refused ``max_attempts`` times)."""
    rows_held_dead_letter: int = 0
    """Planned rows not sent because they sit in the dead-letter table (until replayed or changed)."""
    rows_blocked_at_send: int = 0
    """Rows that passed the plan's consent check but were blocked by the re-check before sending
    (also counted in ``rows_skipped_consent``)."""
    retries: int = 0
    diff_s: float = 0.0
    batches: int = 0
    error: str | None = None
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def rows_unacked(self) -> int:
        """Sent but neither acknowledged nor rejected (in a failed batch): re-sent next run."""
        return self.rows_sent - self.rows_acked - (self.rows_rejected - self.rows_invalid)

    @property
    def rows_not_sent(self) -> int:
        """Planned rows not sent after a failed batch (or a stop); re-planned next run."""
        return self.rows_planned - self.rows_sent - self.rows_blocked_at_send

    def counters(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in state.RUN_COUNTERS}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows_unacked"] = self.rows_unacked
        data["rows_not_sent"] = self.rows_not_sent
        return data


# -- helpers ------------------------------------------------------------------------------------------


def _new_run_id(started_at: datetime) -> str:
    return f"{started_at:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def _model_ref(sync: SyncConfig) -> str:
    return ".".join(qident(part) for part in sync.model.split("."))


def _check_model(conn: duckdb.DuckDBPyConnection, sync: SyncConfig) -> dict[str, str]:
    """Check the model and the columns the sync needs exist; return {column: DuckDB type}."""
    parts = sync.model.split(".")
    table, schema = parts[-1], (parts[-2] if len(parts) > 1 else "main")
    query = "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?"
    params: list[Any] = [schema, table]
    if len(parts) == 3:
        query += " AND table_catalog = ?"
        params.append(parts[0])
    row = conn.execute(query, params).fetchone()
    if not row or not row[0]:
        raise SyncSourceMissing(
            f"sync {sync.name!r}: source model {sync.model} does not exist in the warehouse "
            "(run the dbt models of the activation group first)"
        )
    cursor = conn.execute(f"SELECT * FROM {_model_ref(sync)} LIMIT 0")
    columns = {d[0]: str(d[1]) for d in cursor.description}
    needed = {
        "primary_key": sync.primary_key,
        "mapping": list((sync.mapping or {}).values()),
        "consent.profile_column": [sync.consent.profile_column] if sync.consent else [],
    }
    for what, names in needed.items():
        missing = [n for n in names if n not in columns]
        if missing:
            raise SyncError(
                f"sync {sync.name!r}: {what} column(s) {missing} not in {sync.model} (columns: {list(columns)})"
            )
    return columns


def _key_expr(sync: SyncConfig) -> str:
    cols = [f"m.{qident(c)}" for c in sync.primary_key]
    if len(cols) == 1:
        return f"CAST({cols[0]} AS VARCHAR)"
    any_null = " OR ".join(f"{c} IS NULL" for c in cols)
    listed = ", ".join(f"CAST({c} AS VARCHAR)" for c in cols)
    return f"CASE WHEN {any_null} THEN NULL ELSE CAST(to_json([{listed}]) AS VARCHAR) END"


def _payload_expr(mapping: dict[str, str]) -> str:
    fields = ", ".join(f"{qident(dest)} := m.{qident(src)}" for dest, src in mapping.items())
    return f"CAST(to_json(struct_pack({fields})) AS VARCHAR)"


def _timed(conn: duckdb.DuckDBPyConnection, step: str, query: str, params: Any = None) -> None:
    t = time.monotonic()
    conn.execute(query, params)
    log.debug("plan step %s: %.2fs", step, time.monotonic() - t)


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _hash_expr(mapping: dict[str, str], types: dict[str, str]) -> str:
    """64-bit hash of the mapped values (DuckDB ``hash``, computed in parallel in the warehouse).

    ``hash`` of a struct ignores field names and does not tell every type apart, so the mapping and
    the column types are hashed in too: renaming a destination field or changing a column's type
    counts as a change of every row. Stored as the decimal text of the UBIGINT."""
    fields = ", ".join(f"{qident(dest)} := m.{qident(src)}" for dest, src in mapping.items())
    signature = json.dumps([[dest, src, types.get(src, "")] for dest, src in mapping.items()])
    return f"hash(struct_pack({fields}), {_sql_str(signature)})"


LEGACY_HASH_LENGTH = 32
"""Row hashes written before the 64-bit hash were md5 hex digests of the payload JSON."""


def _is_base_table(conn: duckdb.DuckDBPyConnection, sync: SyncConfig) -> bool:
    parts = sync.model.split(".")
    query = (
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = ? AND table_name = ? AND table_type = 'BASE TABLE'"
    )
    params: list[Any] = [parts[-2] if len(parts) > 1 else "main", parts[-1]]
    if len(parts) == 3:
        query += " AND table_catalog = ?"
        params.append(parts[0])
    row = conn.execute(query, params).fetchone()
    return bool(row and row[0])


def _optional_column(columns: dict[str, str] | list[str], *names: str) -> str | None:
    for name in names:
        if name in columns:
            return name
    return None


def _migrate_legacy_hashes(
    conn: duckdb.DuckDBPyConnection, sync: SyncConfig, mapping: dict[str, str], hash_expr: str
) -> int:
    """Fill ``row_hash64`` of state rows written before it existed (cheap to find: the column's
    statistics skip every row group without NULLs).

    Rows hashed with md5 (earlier versions: md5 of the payload JSON) are rewritten to the 64-bit
    hash when the model's current content is still the acknowledged one, so an upgrade re-sends
    nothing; rows whose content changed keep their md5 hash and are planned as changed. Returns the
    number of state rows rewritten."""
    found = conn.execute(
        f"""SELECT count(*) FROM (SELECT 1 FROM {state.STATE}
            WHERE sync_name = ? AND row_hash64 IS NULL AND row_hash IS NOT NULL LIMIT 1)""",
        [sync.name],
    ).fetchone()
    if not found or not found[0]:
        return 0
    conn.execute(
        f"""UPDATE {state.STATE} SET row_hash64 = TRY_CAST(row_hash AS UBIGINT)
            WHERE sync_name = ? AND row_hash64 IS NULL AND length(row_hash) <> ?""",
        [sync.name, LEGACY_HASH_LENGTH],
    )
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE _tessera_rehash AS
        SELECT * FROM (
            SELECT {_key_expr(sync)} AS record_key, md5({_payload_expr(mapping)}) AS old_hash, {hash_expr} AS new_h
            FROM {_model_ref(sync)} AS m)
        WHERE record_key IN (SELECT record_key FROM {state.STATE}
                             WHERE sync_name = ? AND row_hash64 IS NULL AND length(row_hash) = ?)""",
        [sync.name, LEGACY_HASH_LENGTH],
    )
    total = 0
    for table in (state.STATE, state.REJECTIONS, state.DEAD):
        extra = ", row_hash64 = r.new_h" if table == state.STATE else ""
        rows = conn.execute(
            f"""UPDATE {table} AS t SET row_hash = CAST(r.new_h AS VARCHAR){extra} FROM _tessera_rehash AS r
                WHERE t.sync_name = ? AND t.record_key = r.record_key AND t.row_hash = r.old_hash
                RETURNING 1""",
            [sync.name],
        ).fetchall()
        if table == state.STATE:
            total = len(rows)
    conn.execute("DROP TABLE _tessera_rehash")
    if total:
        log.info("sync %s: %d acknowledged row hash(es) rewritten from md5 to the 64-bit hash", sync.name, total)
    return total


def _plan(
    conn: duckdb.DuckDBPyConnection, sync: SyncConfig, columns: dict[str, str], full_resync: bool
) -> list[tuple[str | None, str]]:
    """Build the temp plan table; return (key, error) pairs for rows that cannot be sent.

    Set-based, in the warehouse: every model row gets a key and a 64-bit hash of its mapped fields
    (``CANDIDATES``); one full join with the acknowledged state keeps only the rows that are not
    "acknowledged, unchanged and consented" (``_tessera_sync_changes``, small after the first
    sync); only those are checked for duplicate keys and get their payload JSON built (``PLAN``).
    """
    if not isinstance(columns, dict):  # a plain list of names: types unknown
        columns = {c: "" for c in columns}
    mapping = sync.mapping or {c: c for c in columns}
    params: dict[str, Any] = {}
    join, consent_ok = "", "true"
    profile_col = sync.consent.profile_column if sync.consent else _optional_column(columns, "profile_id")
    email_col = _optional_column(columns, "email")
    phone_col = _optional_column(columns, "phone")
    if sync.consent is not None:
        check_consent_source(conn)
        join, consent_ok, params = consent_join(sync.consent, "m", paths.as_of())
        suppressed = suppression_expr(conn, sync.consent.channel, "m", profile_col, email_col, phone_col)
        if suppressed:
            consent_ok = f"({consent_ok} AND NOT {suppressed})"

    def col(name: str | None) -> str:
        return f"CAST(m.{qident(name)} AS VARCHAR)" if name and sync.consent else "NULL::VARCHAR"

    hash_expr = _hash_expr(mapping, columns)
    _migrate_legacy_hashes(conn, sync, mapping, hash_expr)
    # a base table's rowid finds the planned rows again without a second join on the key
    by_rowid = _is_base_table(conn, sync)
    model_rowid = "m.rowid" if by_rowid else "NULL::BIGINT"
    _timed(
        conn,
        "candidates",
        f"""CREATE OR REPLACE TEMP TABLE {CANDIDATES} AS
        SELECT {_key_expr(sync)} AS record_key, {hash_expr} AS row_hash, {consent_ok} AS consent_ok,
               {model_rowid} AS model_rowid
        FROM {_model_ref(sync)} AS m {join}""",
        params or None,
    )
    uncertain_rows = conn.execute(
        f"SELECT count(*) FROM {state.INFLIGHT} WHERE sync_name = ?", [sync.name]
    ).fetchone()
    if uncertain_rows and uncertain_rows[0]:
        # rows handed over earlier, never acknowledged: the destination may hold them
        st = f"""SELECT coalesce(a.record_key, u.record_key) AS record_key, a.prev_h, a.state_rowid,
                        coalesce(a.op, 'uncertain') AS op, u.record_key IS NOT NULL AS uncertain
                 FROM (SELECT record_key, row_hash64 AS prev_h, rowid AS state_rowid, op
                       FROM {state.STATE} WHERE sync_name = $sync) AS a
                 FULL JOIN (SELECT DISTINCT record_key FROM {state.INFLIGHT} WHERE sync_name = $sync) AS u
                 USING (record_key)"""
    else:
        st = f"""SELECT record_key, row_hash64 AS prev_h, rowid AS state_rowid, op,
                        false AS uncertain
                 FROM {state.STATE} WHERE sync_name = $sync"""
    _timed(
        conn,
        "changes",
        f"""CREATE OR REPLACE TEMP TABLE {CHANGES} AS
        SELECT c.record_key IS NOT NULL OR s.record_key IS NULL AS in_model,
               coalesce(c.record_key, s.record_key) AS record_key, c.row_hash, c.consent_ok, c.model_rowid,
               s.record_key IS NOT NULL AS in_state, s.prev_h, s.state_rowid, s.op AS prev_op,
               coalesce(s.uncertain, false) AS uncertain
        FROM {CANDIDATES} AS c FULL JOIN ({st}) AS s ON c.record_key = s.record_key
        WHERE NOT coalesce(
            (c.record_key IS NOT NULL AND s.record_key IS NOT NULL AND s.op NOT IN ('delete', 'uncertain')
             AND NOT s.uncertain AND c.row_hash = s.prev_h AND c.consent_ok AND NOT $full_resync)
            OR (c.record_key IS NULL AND s.record_key IS NOT NULL AND s.op = 'delete' AND NOT s.uncertain),
            false)""",
        {"sync": sync.name, "full_resync": full_resync},
    )
    # per key of interest: how many model rows carry it (> 1: not sent) and whether one is consented
    _timed(
        conn,
        "keystats",
        f"""CREATE OR REPLACE TEMP TABLE {KEYSTATS} AS
        SELECT record_key, count(*) AS n_rows, bool_or(consent_ok) AS present
        FROM {CANDIDATES}
        WHERE record_key IN (SELECT record_key FROM {CHANGES} WHERE record_key IS NOT NULL)
        GROUP BY record_key"""
    )
    only_added = sync.mode == "insert" and not full_resync
    _timed(
        conn,
        "diff",
        f"""CREATE OR REPLACE TEMP TABLE {DIFF} AS
        WITH upserts AS (
            SELECT d.record_key, CAST(d.row_hash AS VARCHAR) AS row_hash, d.consent_ok, d.model_rowid, d.state_rowid,
                   CASE WHEN NOT d.in_state OR d.prev_op IN ('delete', 'uncertain') THEN 'added'
                        WHEN $full_resync OR d.uncertain OR d.prev_h IS DISTINCT FROM d.row_hash THEN 'changed'
                   END AS change
            FROM {CHANGES} AS d JOIN {KEYSTATS} AS k USING (record_key)
            WHERE d.in_model AND k.n_rows = 1
        ),
        gone AS (
            SELECT DISTINCT record_key, state_rowid, prev_op, uncertain FROM {CHANGES} WHERE in_state
        ),
        deletes AS (
            SELECT g.record_key, NULL::VARCHAR AS row_hash, true AS consent_ok, NULL::BIGINT AS model_rowid,
                   g.state_rowid, 'deleted' AS change
            FROM gone AS g LEFT JOIN {KEYSTATS} AS k USING (record_key)
            WHERE $mirror AND (g.prev_op <> 'delete' OR g.uncertain) AND NOT coalesce(k.present, false)
        ),
        planned AS (
            SELECT * FROM upserts
            WHERE change = 'added' OR (change = 'changed' AND NOT $only_added)
            UNION ALL
            SELECT * FROM deletes
        ),
        dead AS (
            SELECT DISTINCT record_key, coalesce(row_hash, 'delete') AS dead_hash
            FROM {state.DEAD} WHERE sync_name = $sync AND replayed_at IS NULL
        )
        SELECT planned.*, dead.record_key IS NOT NULL AS dead_lettered
        FROM planned LEFT JOIN dead
          ON dead.record_key = planned.record_key AND dead.dead_hash = coalesce(planned.row_hash, 'delete')""",
        {
            "sync": sync.name,
            "full_resync": full_resync,
            "mirror": sync.mode == "mirror",
            "only_added": only_added,
        },
    )
    prev_inflight = ""
    if uncertain_rows and uncertain_rows[0]:
        prev_inflight = f"""LEFT JOIN (
                SELECT record_key, arg_max(payload_json, sent_at) AS inflight_payload FROM {state.INFLIGHT}
                WHERE sync_name = $sync GROUP BY record_key) AS u ON u.record_key = t.record_key"""
    payload_filter = (
        "m.rowid IN (SELECT model_rowid FROM todo WHERE change <> 'deleted')"
        if by_rowid
        else f"{_key_expr(sync)} IN (SELECT record_key FROM todo WHERE change <> 'deleted')"
    )
    payload_join = "p.model_rowid = t.model_rowid" if by_rowid else "p.record_key = t.record_key"
    _timed(
        conn,
        "plan",
        f"""CREATE OR REPLACE TEMP TABLE {PLAN} AS
        WITH todo AS (SELECT * FROM {DIFF} WHERE consent_ok AND NOT dead_lettered),
        payloads AS (  -- built for the planned rows only (their key is unique in the model)
            SELECT {_key_expr(sync)} AS record_key, {model_rowid} AS model_rowid, {_payload_expr(mapping)} AS payload_json,
                   {col(profile_col)} AS profile_id, {col(email_col)} AS email, {col(phone_col)} AS phone
            FROM {_model_ref(sync)} AS m
            WHERE {payload_filter}
        ),
        previous AS (  -- what was acknowledged last for the planned keys
            SELECT rowid AS state_rowid, row_hash AS prev_hash, payload_json AS acked_payload FROM {state.STATE}
            WHERE rowid IN (SELECT state_rowid FROM todo)
        )
        SELECT * FROM (
            SELECT row_number() OVER (ORDER BY t.change = 'deleted', t.model_rowid, t.record_key) AS seq,
                   t.record_key, t.change,
                   CASE WHEN t.change = 'deleted' THEN 'delete' ELSE $op END AS op,
                   t.row_hash,
                   CASE WHEN t.change = 'deleted' THEN NULL ELSE p.payload_json END AS payload_json,
                   {"coalesce(v.acked_payload, u.inflight_payload)" if prev_inflight else "v.acked_payload"} AS prev_payload,
                   p.profile_id, p.email, p.phone,
                   substr(sha256($sync || chr(31) || t.record_key || chr(31) ||
                          coalesce(t.row_hash, 'delete:' || coalesce(v.prev_hash, ''))), 1, 32) AS idempotency_key
            FROM todo AS t
            LEFT JOIN payloads AS p ON {payload_join} AND t.change <> 'deleted'
            LEFT JOIN previous AS v ON v.state_rowid = t.state_rowid
            {prev_inflight}
        ) ORDER BY seq""",
        {"sync": sync.name, "op": MODE_OP[sync.mode]},
    )
    errors: list[tuple[str | None, str]] = []
    row = conn.execute(f"SELECT count(*) FROM {CANDIDATES} WHERE record_key IS NULL").fetchone()
    if row and row[0]:
        errors.append(
            (None, f"{row[0]} model row(s) with a NULL primary key {sync.primary_key} were not sent")
        )
    for key, n in conn.execute(
        f"SELECT record_key, n_rows FROM {KEYSTATS} WHERE n_rows > 1 ORDER BY 1"
    ).fetchall():
        errors.append((key, f"primary key is not unique in {sync.model} ({n} rows); not sent"))
    return errors


def _count_plan(conn: duckdb.DuckDBPyConnection, result: SyncRunResult, invalid_rows: int) -> None:
    row = conn.execute(
        f"""SELECT count(*), count(*) FILTER (WHERE change = 'added'), count(*) FILTER (WHERE change = 'changed'),
                   count(*) FILTER (WHERE change = 'deleted') FROM {PLAN}"""
    ).fetchone()
    assert row is not None
    result.rows_planned, result.rows_added, result.rows_changed, result.rows_deleted = map(int, row)
    skipped = conn.execute(
        f"SELECT count(*) FILTER (WHERE NOT consent_ok), count(*) FILTER (WHERE consent_ok AND dead_lettered) FROM {DIFF}"
    ).fetchone()
    result.rows_skipped_consent = int(skipped[0]) if skipped else 0
    result.rows_held_dead_letter = int(skipped[1]) if skipped else 0
    result.rows_invalid = invalid_rows
    result.rows_rejected = invalid_rows


def _invalid_row_count(conn: duckdb.DuckDBPyConnection) -> int:
    row = conn.execute(
        f"""SELECT (SELECT count(*) FROM {CANDIDATES} WHERE record_key IS NULL)
                 + (SELECT coalesce(sum(n_rows), 0) FROM {KEYSTATS} WHERE n_rows > 1)"""
    ).fetchone()
    return int(row[0]) if row else 0


def _samples(conn: duckdb.DuckDBPyConnection, limit: int) -> dict[str, list[dict[str, Any]]]:
    samples: dict[str, list[dict[str, Any]]] = {}
    for change in ("added", "changed", "deleted"):
        rows = conn.execute(
            f"SELECT record_key, op, idempotency_key, payload_json, prev_payload FROM {PLAN} "
            "WHERE change = ? ORDER BY seq LIMIT ?",
            [change, limit],
        ).fetchall()
        samples[change] = [
            {
                "key": k,
                "op": op,
                "idempotency_key": ik,
                "fields": json.loads(p) if p else {},
                **({"previous": json.loads(prev)} if prev else {}),
            }
            for k, op, ik, p, prev in rows
        ]
    samples["skipped_consent"] = [
        {"key": k}
        for (k,) in conn.execute(
            f"SELECT record_key FROM {DIFF} WHERE NOT consent_ok ORDER BY record_key LIMIT ?", [limit]
        ).fetchall()
    ]
    samples["dead_lettered"] = [
        {"key": k}
        for (k,) in conn.execute(
            f"SELECT record_key FROM {DIFF} WHERE consent_ok AND dead_lettered ORDER BY record_key LIMIT ?", [limit]
        ).fetchall()
    ]
    return samples


def _resolve(
    name_or_config: str | SyncConfig, config_dir: str | Path | None
) -> tuple[SyncConfig, FileOutboxConfig | WebhookConfig | None]:
    sync = name_or_config if isinstance(name_or_config, SyncConfig) else get_sync(name_or_config, config_dir)
    destinations = load_destinations(config_dir)
    return sync, destinations.get(sync.destination)


# -- the public API -----------------------------------------------------------------------------------


@contextmanager
def stop_on_signals(signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> Iterator[None]:
    """Graceful stop for the CLI: the first SIGTERM/SIGINT lets the batches in flight finish and be
    committed (or abandons a retry wait), then the run ends ``interrupted``; a second one raises
    ``KeyboardInterrupt`` at once. Acknowledged batches are committed either way."""

    def handler(signum: int, frame: object) -> None:
        if STOP.is_set():
            raise KeyboardInterrupt(f"signal {signum} received twice")
        log.warning("signal %s received: stopping after the batch in flight", signum)
        STOP.set()

    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        STOP.clear()



def run_sync(
    name_or_config: str | SyncConfig,
    warehouse_path: str | Path | None = None,
    dry_run: bool = False,
    full_resync: bool = False,
    *,
    config_dir: str | Path | None = None,
    destination: Destination | None = None,
    sample_size: int = 10,
) -> SyncRunResult:
    """Run one sync (by name from ``config_dir`` or as a ``SyncConfig``) against the warehouse.

    ``dry_run`` plans only: counts and up to ``sample_size`` sample rows per change type, nothing
    sent or written. ``full_resync`` re-sends every model row regardless of state. ``destination``
    overrides the configured destination (tests, custom targets); the caller then owns closing it.
    Raises ``SyncError``/``SyncConfigError`` for configuration problems (after logging a failed run
    when the warehouse is reachable); delivery problems are reported in the result's status.
    """
    sync, dest_config = _resolve(name_or_config, config_dir)
    if destination is None and dest_config is None:
        raise SyncConfigError(f"sync {sync.name!r}: destination {sync.destination!r} is not defined")
    dest_type = destination.type if destination is not None else dest_config.type  # type: ignore[union-attr]
    started_at = state.utcnow()
    t0 = time.monotonic()
    result = SyncRunResult(
        sync_name=sync.name,
        run_id=_new_run_id(started_at),
        status="running",
        destination=sync.destination,
        destination_type=dest_type,
        mode=sync.mode,
        started_at=started_at,
        dry_run=dry_run,
        full_resync=full_resync,
    )
    wh = Path(warehouse_path) if warehouse_path is not None else paths.warehouse_path()
    wh.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(wh))
    owned: Destination | None = None
    try:
        # Every batch commit is durable in the WAL (fsynced); checkpointing the WAL into the file
        # every few batches would dominate the run, so it happens when the connection closes.
        conn.execute("SET checkpoint_threshold = '4GB'")
        conn.execute("SET enable_progress_bar = false")
        state.ensure_tables(conn)
        if not dry_run:
            # a previous run of this sync that was killed left its acknowledged batches in the journal
            state.mark_abandoned_runs(conn, sync.name, started_at)
            state.compact(conn, sync.name)
            state.start_run(
                conn,
                run_id=result.run_id,
                sync_name=sync.name,
                started_at=started_at,
                destination=sync.destination,
                mode=sync.mode,
                full_resync=full_resync,
            )
        try:
            if not sync.enabled and not dry_run:
                result.status, result.error = "skipped", f"sync {sync.name!r} is disabled"
                return result
            columns = _check_model(conn, sync)
            t_plan = time.monotonic()
            invalid = _plan(conn, sync, columns, full_resync)
            _count_plan(conn, result, _invalid_row_count(conn))
            result.diff_s = round(time.monotonic() - t_plan, 3)
            if dry_run:
                result.status = "dry_run"
                result.samples = _samples(conn, sample_size)
                return result
            if invalid:
                state.record_errors(conn, result.run_id, sync.name, invalid)
            state.update_run(conn, result.run_id, result.counters())
            if result.rows_planned == 0:
                result.status = "partial" if result.rows_invalid else "success"
                result.error = (
                    f"{result.rows_invalid} model row(s) with a NULL or duplicate key" if invalid else None
                )
                return result
            if destination is None:
                try:
                    owned = destination = build_destination(dest_config, rate_limit=sync.rate_limit)  # type: ignore[arg-type]
                except DestinationNotConfigured as exc:
                    result.status, result.error = "skipped", str(exc)
                    log.warning("sync %s skipped: %s", sync.name, exc)
                    return result
            _send(conn, sync, destination, result)
        except SyncInterrupted as exc:
            result.status, result.error = "interrupted", f"stopped: {exc}"
        except Exception as exc:
            result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            result.finished_at = state.utcnow()
            result.duration_s = round(time.monotonic() - t0, 3)
            if not dry_run:
                state.update_run(
                    conn,
                    result.run_id,
                    {
                        **result.counters(),
                        "status": result.status,
                        "finished_at": result.finished_at,
                        "duration_s": result.duration_s,
                        "error": result.error,
                    },
                )
                # every row this run recorded in flight came back acknowledged (or rejected)?
                settled = result.status in ("success", "partial", "interrupted") and result.rows_unacked == 0
                state.compact(conn, sync.name, settled_run_id=result.run_id if settled else None)
    finally:
        if owned is not None:
            owned.close()
        for statement in [
            *(f"DROP TABLE IF EXISTS {t}" for t in (PLAN, DIFF, KEYSTATS, CHANGES, CANDIDATES)),
            "RESET checkpoint_threshold",
        ]:
            try:
                conn.execute(statement)
            except duckdb.Error:
                pass
        conn.close()
    return result


class _PlanReader:
    """Reads the plan in chunks of several batches (one query per chunk, not per batch).

    For destinations that take JSON (``accepts_wire``) the warehouse builds each batch's wire form
    (rows serialized and joined, keys, batch idempotency key) in that query, so no Python object is
    created per row."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, sync: SyncConfig, wire: bool) -> None:
        self.conn = conn
        self.sync_name = sync.name
        self.batch_size = sync.batch_size
        self.wire = wire
        self.chunk = max(1, 50_000 // sync.batch_size)  # batches per query
        self._batches: dict[int, tuple[list[str], list[RowOp] | None, WireBatch | None]] = {}

    _WIRE_ROW = (
        """concat('{"op":"', op, '","key":', CAST(to_json(record_key) AS VARCHAR), ',"idempotency_key":"',
                  idempotency_key, '","fields":', coalesce(payload_json, '{}'), '}')"""
    )

    def _wire_query(self, where: str) -> str:
        return f"""SELECT (seq - 1) // $bs AS b, list(record_key ORDER BY seq) AS keys,
                          string_agg({self._WIRE_ROW}, ',' ORDER BY seq) AS rows_json,
                          sha256($sync || string_agg(chr(10) || idempotency_key, '' ORDER BY idempotency_key))
                   FROM {PLAN} WHERE {where} GROUP BY b ORDER BY b"""

    def _load(self, number: int) -> None:
        lo, hi = number * self.batch_size, (number + self.chunk) * self.batch_size
        self._batches = {}
        if self.wire:
            for b, keys, rows_json, batch_key in self.conn.execute(
                self._wire_query("seq > $lo AND seq <= $hi"),
                {"bs": self.batch_size, "sync": self.sync_name, "lo": lo, "hi": hi},
            ).fetchall():
                self._batches[b] = (keys, None, WireBatch(keys, rows_json, batch_key))
            return
        for seq, key, op, ik, payload, prev, wire in self.conn.execute(
            f"""SELECT seq, record_key, op, idempotency_key, payload_json, prev_payload, {self._WIRE_ROW} AS wire
                FROM {PLAN} WHERE seq > ? AND seq <= ? ORDER BY seq""",
            [lo, hi],
        ).fetchall():
            entry = self._batches.setdefault((seq - 1) // self.batch_size, ([], [], None))
            entry[0].append(key)
            entry[1].append(RowOp(op, key, ik, raw_fields=payload, previous_raw=prev, wire=wire))  # type: ignore[union-attr]

    def get(self, number: int) -> tuple[list[str], list[RowOp] | None, WireBatch | None]:
        if number not in self._batches:
            self._load(number)
        return self._batches.pop(number, ([], [], None))

    def wire_without(self, number: int, skip: list[str]) -> WireBatch:
        """Batch ``number`` in wire form without the ``skip`` keys (blocked at send time)."""
        rows = self.conn.execute(
            self._wire_query(
                "seq > $lo AND seq <= $hi AND NOT list_contains($skip::VARCHAR[], record_key)"
            ),
            {
                "bs": self.batch_size,
                "sync": self.sync_name,
                "lo": number * self.batch_size,
                "hi": (number + 1) * self.batch_size,
                "skip": skip,
            },
        ).fetchall()
        if not rows:
            return WireBatch([], "", "")
        _, keys, rows_json, batch_key = rows[0]
        return WireBatch(keys, rows_json, batch_key)


@dataclass
class _Batch:
    number: int
    seq_from: int
    seq_to: int
    keys: list[str]
    blocked: dict[str, str]
    rows: list[RowOp] | None = None
    wire: WireBatch | None = None


def _prepare(
    conn: duckdb.DuckDBPyConnection,
    sync: SyncConfig,
    reader: _PlanReader,
    result: SyncRunResult,
    number: int,
    as_of: datetime,
) -> _Batch | None:
    """Fetch batch ``number`` and re-check consent/suppression for it, just before it is sent."""
    seq_from = number * sync.batch_size
    if seq_from >= result.rows_planned:
        return None
    seq_to = seq_from + sync.batch_size
    keys, rows, wire = reader.get(number)
    blocked: dict[str, str] = {}
    if sync.consent is not None:
        blocked = send_time_blocked(conn, sync.consent, PLAN, seq_from, seq_to, as_of)
        if blocked:
            keys = [k for k in keys if k not in blocked]
            if rows is not None:
                rows = [row for row in rows if row.key not in blocked]
            if wire is not None:
                wire = reader.wire_without(number, sorted(blocked))
            result.rows_skipped_consent += len(blocked)
            result.rows_blocked_at_send += len(blocked)
    return _Batch(number, seq_from, seq_to, keys, blocked, rows, wire)


def _deliver(destination: Destination, sync_name: str, batch_id: str, batch: _Batch) -> BatchResult:
    """Hand one batch to the destination; never raises (a failure acknowledges nothing)."""
    try:
        if batch.wire is not None:
            return destination.send_wire(sync_name, batch_id, batch.wire)
        return destination.send_batch(sync_name, batch_id, batch.rows or [])
    except SyncInterrupted as exc:
        return BatchResult.failed(f"interrupted: {exc}")
    except Exception as exc:  # a destination bug must not mark anything as synced
        log.exception("sync %s: destination raised on batch %s", sync_name, batch_id)
        return BatchResult.failed(f"{type(exc).__name__}: {exc}")


def _send(
    conn: duckdb.DuckDBPyConnection, sync: SyncConfig, destination: Destination, result: SyncRunResult
) -> None:
    """Send the plan batch by batch, up to ``concurrency`` batches in flight.

    The main thread owns the warehouse connection: it prepares batches, and in one transaction per
    round commits every batch that came back (acknowledged rows to the journal, rejections,
    errors, run counters) together with the in-flight record of the batches it is about to hand
    out. So a batch is always recorded in flight before it is sent, and acknowledged rows are
    committed as soon as their batch returns; worker threads only talk to the destination."""
    batch_errors: list[str] = []
    budget = RetryBudget(sync.retry_budget)
    destination.retry_budget = budget
    as_of = paths.as_of()
    track_inflight = sync.mode != "insert"  # insert mode never re-sends nor deletes a delivered key
    has_rejections = bool(
        conn.execute(f"SELECT count(*) FROM {state.REJECTIONS} WHERE sync_name = ?", [sync.name]).fetchone()[0]  # type: ignore[index]
    )
    reader = _PlanReader(conn, sync, wire=destination.accepts_wire)
    workers = max(1, min(sync.concurrency, destination.max_concurrency))
    pool = ThreadPoolExecutor(workers, thread_name_prefix=f"sync-{sync.name}") if workers > 1 else None
    running: dict[Future[BatchResult], _Batch] = {}
    done: list[tuple[_Batch, BatchResult]] = []
    number = 0
    failed = False
    clean_exit = False
    try:
        while True:
            new: list[_Batch] = []
            while not failed and not STOP.is_set() and len(running) + len(new) < workers:
                batch = _prepare(conn, sync, reader, result, number, as_of)
                if batch is None:
                    break
                number += 1
                new.append(batch)
            if done or new:
                inflight = [(b.seq_from, b.seq_to, sorted(b.blocked)) for b in new if b.keys] if track_inflight else []
                has_rejections = _commit(conn, sync, destination, result, budget, done, inflight, has_rejections, batch_errors)
                done = []
            if not new and not running:
                break
            for batch in new:
                batch_id = f"{result.run_id}-{batch.number:05d}"
                if not batch.keys:  # every row blocked at send time
                    done.append((batch, BatchResult()))
                elif pool is None:
                    outcome = _deliver(destination, sync.name, batch_id, batch)
                    failed = failed or bool(outcome.error)
                    done.append((batch, outcome))
                else:
                    running[pool.submit(_deliver, destination, sync.name, batch_id, batch)] = batch
            if running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    batch = running.pop(future)
                    outcome = future.result()
                    failed = failed or bool(outcome.error)
                    done.append((batch, outcome))
        clean_exit = True
    finally:
        if pool is not None:
            pool.shutdown(wait=clean_exit, cancel_futures=True)
    result.retries = budget.used
    sent_all = number * sync.batch_size >= result.rows_planned
    if STOP.is_set() and (failed or not sent_all):
        if failed:
            raise SyncInterrupted("stop requested during a batch; its rows were not acknowledged")
        raise SyncInterrupted("stop requested (SIGTERM/SIGINT); every acknowledged batch is committed")
    if result.rows_acked == result.rows_planned - result.rows_blocked_at_send and not result.rows_rejected:
        result.status = "success"
    else:
        result.status = "partial"
        not_sent = result.rows_not_sent
        parts = [*batch_errors]
        if result.rows_rejected - result.rows_invalid:
            parts.append(f"{result.rows_rejected - result.rows_invalid} row(s) rejected by the destination")
        if result.rows_dead_lettered:
            parts.append(f"{result.rows_dead_lettered} row(s) moved to the dead-letter table")
        if result.rows_invalid:
            parts.append(f"{result.rows_invalid} model row(s) with a NULL or duplicate key")
        if not_sent:
            parts.append(f"{not_sent} row(s) not sent after a failed batch")
        result.error = "; ".join(parts) or None


def _commit(
    conn: duckdb.DuckDBPyConnection,
    sync: SyncConfig,
    destination: Destination,
    result: SyncRunResult,
    budget: RetryBudget,
    done: list[tuple[_Batch, BatchResult]],
    inflight_next: list[tuple[int, int, list[str]]],
    has_rejections: bool,
    batch_errors: list[str],
) -> bool:
    """Account for the batches that came back and commit them (and the next in-flight record) in
    one transaction. Returns whether rejections may exist now."""
    acks: list[state.BatchAck] = []
    any_rejected = False
    for batch, outcome in done:
        batch_id = f"{result.run_id}-{batch.number:05d}"
        keys = set(batch.keys)
        acked = outcome.acked_keys & keys
        rejected = {k: v for k, v in outcome.rejected.items() if k in keys and k not in outcome.acked_keys}
        unacked = keys - acked - rejected.keys()
        errors: list[tuple[str | None, str]] = [(k, f"rejected: {v}") for k, v in sorted(rejected.items())]
        if unacked:
            reason = outcome.error or "destination did not acknowledge the row"
            errors += [(k, f"not acknowledged (batch {batch_id}): {reason}") for k in sorted(unacked)]
        result.batches += 1
        result.rows_sent += len(keys)
        result.rows_acked += len(acked)
        result.rows_rejected += len(rejected)
        all_acked = len(acked) == len(keys) and not batch.blocked
        acks.append(
            state.BatchAck(batch.seq_from, batch.seq_to, None if all_acked else sorted(acked), rejected, errors)
        )
        any_rejected = any_rejected or bool(rejected)
        if outcome.error:
            batch_errors.append(f"batch {batch_id}: {outcome.error}")
        log.info(
            "sync %s batch %s: %d sent, %d acked, %d rejected, %d unacked, %d blocked at send time",
            sync.name, batch_id, len(keys), len(acked), len(rejected), len(unacked), len(batch.blocked),
        )
    result.retries = budget.used
    result.rows_dead_lettered += state.commit_batches(
        conn,
        run_id=result.run_id,
        sync_name=sync.name,
        plan_table=PLAN,
        batches=acks,
        progress=result.counters(),
        max_attempts=sync.max_attempts,
        clear_rejections=has_rejections,
        inflight_next=inflight_next,
        inflight_payloads=destination.uses_previous,
    )
    return has_rejections or any_rejected


def sync_status(
    name: str,
    warehouse_path: str | Path | None = None,
    *,
    config_dir: str | Path | None = None,
    runs: int = 5,
) -> dict[str, Any]:
    """Configuration, state size, the last ``runs`` runs and the last run's row errors of one sync.

    Does not create the warehouse if it does not exist yet.
    """
    sync = get_sync(name, config_dir)
    status: dict[str, Any] = {
        "name": sync.name,
        "enabled": sync.enabled,
        "model": sync.model,
        "destination": sync.destination,
        "mode": sync.mode,
        "schedule": sync.schedule,
        "consent": sync.consent.model_dump() if sync.consent else None,
        "records_synced": 0,
        "records_deleted": 0,
        "last_acked_at": None,
        "last_run": None,
        "recent_runs": [],
        "last_run_errors": [],
        "rows_rejected_pending_retry": 0,
        "rows_dead_lettered": 0,
        "dead_letters": [],
    }
    wh = Path(warehouse_path) if warehouse_path is not None else paths.warehouse_path()
    if not wh.exists():
        return status
    conn = duckdb.connect(str(wh))
    try:
        if not state.tables_exist(conn):
            return status
        status.update(state.state_counts(conn, sync.name))
        recent = state.last_runs(conn, sync.name, runs)
        status["recent_runs"] = recent
        if recent:
            status["last_run"] = recent[0]
            status["last_run_errors"] = state.run_errors(conn, recent[0]["run_id"])
        status["dead_letters"] = state.dead_letters(conn, sync.name, limit=20)
    finally:
        conn.close()
    return status


def sync_list(
    config_dir: str | Path | None = None, warehouse_path: str | Path | None = None
) -> list[dict[str, Any]]:
    """One summary row per configured sync (for ``tessera sync list``), with its last run's status."""
    out = []
    syncs = load_syncs(config_dir)
    wh = Path(warehouse_path) if warehouse_path is not None else paths.warehouse_path()
    last: dict[str, dict[str, Any]] = {}
    if wh.exists() and syncs:
        conn = duckdb.connect(str(wh))
        try:
            if state.tables_exist(conn):
                for sync in syncs:
                    runs = state.last_runs(conn, sync.name, 1)
                    if runs:
                        last[sync.name] = runs[0]
        finally:
            conn.close()
    for sync in syncs:
        run = last.get(sync.name) or {}
        out.append(
            {
                "name": sync.name,
                "enabled": sync.enabled,
                "model": sync.model,
                "destination": sync.destination,
                "mode": sync.mode,
                "schedule": sync.schedule,
                "last_status": run.get("status"),
                "last_started_at": run.get("started_at"),
                "last_rows_acked": run.get("rows_acked"),
            }
        )
    return out


def reset_sync_state(name: str, warehouse_path: str | Path | None = None) -> int:
    """Forget what was delivered for one sync; the next run sends every row as added. Returns rows removed."""
    wh = Path(warehouse_path) if warehouse_path is not None else paths.warehouse_path()
    conn = duckdb.connect(str(wh))
    try:
        state.ensure_tables(conn)
        return state.reset_state(conn, name)
    finally:
        conn.close()


def _writable(warehouse_path: str | Path | None) -> duckdb.DuckDBPyConnection:
    wh = Path(warehouse_path) if warehouse_path is not None else paths.warehouse_path()
    wh.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(wh))
    state.ensure_tables(conn)
    return conn


def dead_letters(
    name: str, warehouse_path: str | Path | None = None, *, include_replayed: bool = False, limit: int = 100
) -> list[dict[str, Any]]:
    """Rows of one sync refused ``max_attempts`` times (newest first)."""
    conn = _writable(warehouse_path)
    try:
        return state.dead_letters(conn, name, include_replayed=include_replayed, limit=limit)
    finally:
        conn.close()


def replay_dead_letters(
    name: str, keys: list[str] | None = None, warehouse_path: str | Path | None = None
) -> int:
    """Release dead-lettered rows (all, or ``keys``) so the next run sends them; returns how many."""
    conn = _writable(warehouse_path)
    try:
        return state.replay_dead_letters(conn, name, keys)
    finally:
        conn.close()


def add_suppression(
    kind: str,
    value: str,
    *,
    channel: str = "*",
    reason: str | None = None,
    warehouse_path: str | Path | None = None,
) -> None:
    """Never send to this profile / email / phone on ``channel`` (``*`` = all) in consent-gated syncs."""
    conn = _writable(warehouse_path)
    try:
        state.add_suppression(conn, kind, value, channel, reason)
    finally:
        conn.close()
