"""Consent gate for syncs: a row goes out only if its profile's latest consent is ``opt_in``.

The source of truth is ``intermediate.int_consent_latest(profile_id, channel, purpose, status,
occurred_at)``. The check is evaluated in SQL at send time (the run's as-of time), joined to the
sync model; profiles with no consent record are treated as not consenting (fail closed). If a sync
asks for consent and the table is missing, the run fails rather than send unchecked.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from tessera.activate.config import ConsentConfig

CONSENT_TABLE = ("intermediate", "int_consent_latest")


class ConsentSourceMissing(RuntimeError):
    pass


def qident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def check_consent_source(conn: duckdb.DuckDBPyConnection) -> None:
    schema, table = CONSENT_TABLE
    row = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchone()
    if not row or not row[0]:
        raise ConsentSourceMissing(
            f"sync requires consent but {schema}.{table} does not exist in the warehouse; "
            "build the dbt models first (refusing to send without a consent check)"
        )


def consent_join(
    consent: ConsentConfig, source_alias: str, as_of: datetime
) -> tuple[str, str, dict[str, object]]:
    """Return (join clause, boolean 'consent_ok' expression, parameters) for a model aliased ``source_alias``."""
    schema, table = CONSENT_TABLE
    join = f"""LEFT JOIN (
            SELECT CAST(profile_id AS VARCHAR) AS profile_id, arg_max(status, occurred_at) AS status
            FROM {qident(schema)}.{qident(table)}
            WHERE channel = $consent_channel AND purpose = $consent_purpose
              AND (occurred_at IS NULL OR occurred_at <= $consent_as_of)
            GROUP BY 1
        ) AS _consent ON _consent.profile_id = CAST({source_alias}.{qident(consent.profile_column)} AS VARCHAR)"""
    expression = "coalesce(_consent.status = 'opt_in', false)"
    params: dict[str, object] = {
        "consent_channel": consent.channel,
        "consent_purpose": consent.purpose,
        "consent_as_of": as_of,
    }
    return join, expression, params
