"""Run identity resolution against the warehouse's identifier tables.

Reads ``intermediate.int_identity__records`` and ``intermediate.int_identifiers_unioned`` (built by
dbt), and writes the ``identity`` schema:

- ``record_profiles``: record_id, profile_id, source, resolved_at (replaced each run)
- ``profile_history``: run_id, changed_at, profile_id, change_type, related_profile_id, record_count
- ``quarantined_identifiers``: id_type, id_value, record_count, reason (replaced each run)
- ``resolution_runs``: one row of statistics per run
- ``survivorship_rules``: trait, rule (the golden-record rule per trait, from ``survivorship:``)
- ``source_priority``: source, priority (1 = most trusted), for the ``source_priority`` rule

dbt's golden-record model (``int_profile_traits__golden``) reads the last two, so a change to the
survivorship settings takes effect on the next run without recompiling the dbt project.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from tessera import paths
from tessera.identity.config import ResolverConfig, load_config
from tessera.identity.engine import resolve
from tessera.warehouse import table_exists


def load_warehouse_config(config_dir: Path | None = None) -> ResolverConfig:
    path = (config_dir or paths.config_dir()) / "identity.yml"
    return load_config(path) if path.exists() else ResolverConfig()


def mask_value(value) -> str:
    """An identifier value shortened for display (run metadata is not the place for full emails and
    phone numbers): the first two characters of an email's local part and its domain
    (``in***@shop.com``), else the first two and last two characters (``+1***67``)."""
    v = str(value)
    if "@" in v:
        local, _, domain = v.partition("@")
        return f"{local[:2]}***@{domain}"
    return v if len(v) <= 4 else f"{v[:2]}***{v[-2:]}"


def write_survivorship(con: duckdb.DuckDBPyConnection, config: ResolverConfig) -> None:
    """Replace identity.survivorship_rules and identity.source_priority from the configuration."""
    con.execute("create schema if not exists identity")
    con.execute("create or replace table identity.survivorship_rules (trait varchar, rule varchar)")
    con.executemany("insert into identity.survivorship_rules values (?, ?)",
                    [[t, r] for t, r in config.survivorship_rules().items()])
    con.execute("create or replace table identity.source_priority (source varchar, priority integer)")
    con.executemany("insert into identity.source_priority values (?, ?)",
                    [[src, rank] for src, rank in config.source_ranks().items()])


def run_identity_resolution(
    warehouse: Path | None = None, config: ResolverConfig | None = None
) -> dict:
    """Resolve identities in the warehouse and return the run's statistics."""
    config = config or load_warehouse_config()
    run_id = uuid.uuid4().hex
    now = datetime.now(UTC).replace(tzinfo=None)
    con = duckdb.connect(str(warehouse or paths.warehouse_path()))
    try:
        for schema, table in (("intermediate", "int_identity__records"), ("intermediate", "int_identifiers_unioned")):
            if not table_exists(con, schema, table):
                raise RuntimeError(f"{schema}.{table} does not exist: build the dbt identity models first")
        records = con.execute(
            "select r.record_id, r.source, r.first_name, r.last_name, r.full_name, r.email, r.phone, r.customer_id, "
            "r.loyalty_id, r.device_id, r.date_of_birth, r.street, r.city, r.postcode, r.country, r.updated_at, "
            "c.crm_id from intermediate.int_identity__records r left join ("
            "  select record_id, min(id_value) as crm_id from intermediate.int_identifiers_unioned "
            "  where id_type = 'crm_id' group by record_id) c using (record_id) order by r.record_id"
        ).df()
        previous = (
            con.execute("select record_id, profile_id from identity.record_profiles").df()
            if table_exists(con, "identity", "record_profiles")
            else None
        )
        result = resolve(records, config, previous)

        assignments = result.assignments.assign(resolved_at=now)
        history = result.history.assign(run_id=run_id, changed_at=now)
        hubs = result.quarantined
        top = hubs.sort_values("record_count", ascending=False, kind="stable").head(20) if len(hubs) else hubs
        stats = dict(
            result.stats, run_id=run_id, resolved_at=now.isoformat(),
            quarantined_values=[dict(id_type=r.id_type, id_value=mask_value(r.id_value),
                                     record_count=int(r.record_count), reason=r.reason) for r in top.itertuples()],
            survivorship_rules=config.survivorship_rules(), source_priority=config.source_ranks(),
        )

        con.execute("create schema if not exists identity")
        con.execute("begin transaction")
        con.register("assignments_df", assignments)
        con.execute(
            "create or replace table identity.record_profiles as "
            "select record_id::varchar as record_id, profile_id::varchar as profile_id, "
            "source::varchar as source, resolved_at::timestamp as resolved_at from assignments_df"
        )
        con.execute(
            "create table if not exists identity.profile_history (run_id varchar, changed_at timestamp, "
            "profile_id varchar, change_type varchar, related_profile_id varchar, record_count bigint)"
        )
        if len(history):
            con.register("history_df", history)
            con.execute(
                "insert into identity.profile_history select run_id, changed_at, profile_id, change_type, "
                "related_profile_id, record_count from history_df"
            )
        con.register("hubs_df", hubs if len(hubs) else pd.DataFrame(
            {"id_type": pd.Series(dtype=str), "id_value": pd.Series(dtype=str),
             "record_count": pd.Series(dtype="int64"), "reason": pd.Series(dtype=str)}))
        con.execute(
            "create or replace table identity.quarantined_identifiers as select id_type::varchar as id_type, "
            "id_value::varchar as id_value, record_count::bigint as record_count, reason::varchar as reason "
            "from hubs_df"
        )
        con.execute(
            "create table if not exists identity.resolution_runs (run_id varchar, resolved_at timestamp, "
            "records_in bigint, profiles_out bigint, merges bigint, splits bigint, hub_values_quarantined bigint, "
            "stats_json varchar)"
        )
        con.execute(
            "insert into identity.resolution_runs values (?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, now, stats["records_in"], stats["profiles_out"], stats["merges"], stats["splits"],
             stats["hub_values_quarantined"], json.dumps(stats, default=str)],
        )
        write_survivorship(con, config)
        con.execute("commit")
    finally:
        con.close()
    return stats
