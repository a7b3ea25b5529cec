"""Exposure logging: a decision is exposed when a sync's destination acknowledged it.

The sync engine keeps only the last acknowledged state per record (tessera_sync.sync_state);
``log_exposures`` appends every newly acknowledged decision to ``experiments.exposures`` (one row
per sync, decision and acknowledgement), so the log keeps the history that caps, fatigue and
experiment readouts need. It is idempotent: rerunning it logs nothing new."""

from __future__ import annotations

import duckdb

from tessera.warehouse import table_exists

TABLE = "experiments.exposures"

DDL = [
    "CREATE SCHEMA IF NOT EXISTS experiments",
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        exposure_id VARCHAR NOT NULL,
        sync_name VARCHAR NOT NULL,
        record_key VARCHAR,
        decision_id VARCHAR NOT NULL,
        profile_id VARCHAR,
        channel VARCHAR,
        offer_id VARCHAR,
        arm VARCHAR,
        experiment_name VARCHAR,
        decided_at TIMESTAMP,
        exposed_at TIMESTAMPTZ,
        sync_run_id VARCHAR
    )""",
]


def log_exposures(con: duckdb.DuckDBPyConnection, sync_names: list[str]) -> int:
    """Append the decisions the given syncs acknowledged and that are not logged yet."""
    for statement in DDL:
        con.execute(statement)
    exists = table_exists(con, "tessera_sync", "sync_state")
    has_decisions = table_exists(con, "decisions", "fct_decisions")
    if not exists or not has_decisions or not sync_names:
        return 0
    before = con.execute(f"select count(*) from {TABLE}").fetchone()[0]
    con.execute(
        f"""
        insert into {TABLE}
        with acked as (
            select
                s.sync_name,
                s.record_key,
                json_extract_string(s.payload_json, '$.decision_id') as decision_id,
                s.acked_at,
                s.run_id
            from tessera_sync.sync_state as s
            where s.op <> 'delete' and list_contains(?::VARCHAR[], s.sync_name)
        )
        select
            md5(a.sync_name || '|' || a.decision_id || '|' || a.run_id) as exposure_id,
            a.sync_name, a.record_key, a.decision_id,
            d.profile_id, d.channel, d.offer_id, d.arm, d.experiment_name, d.decided_at,
            a.acked_at as exposed_at, a.run_id as sync_run_id
        from acked as a
        inner join decisions.fct_decisions as d on d.decision_id = a.decision_id
        where a.decision_id is not null
          and not exists (
              select 1 from {TABLE} as e
              where e.sync_name = a.sync_name and e.decision_id = a.decision_id and e.sync_run_id = a.run_id
          )
        """,
        [sync_names],
    )
    return con.execute(f"select count(*) from {TABLE}").fetchone()[0] - before
