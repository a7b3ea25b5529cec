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


SUPPRESSIONS = "tessera_sync.suppressions"
LIVE_EVENTS = ("staging", "stg_consent__events")
IDENTIFIERS = ("intermediate", "int_identifier_profiles")


def _exists(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def suppression_expr(
    conn: duckdb.DuckDBPyConnection,
    channel: str,
    alias: str,
    profile_col: str | None,
    email_col: str | None,
    phone_col: str | None,
) -> str | None:
    """A boolean SQL expression, true when the row of ``alias`` is on the suppression list for
    ``channel`` (or all channels); ``None`` when the list is empty (nothing to check)."""
    if not _exists(conn, "tessera_sync", "suppressions"):
        return None
    row = conn.execute(f"SELECT count(*) FROM {SUPPRESSIONS}").fetchone()
    if not row or not row[0]:
        return None
    checks = []
    for kind, column, norm in (
        ("profile", profile_col, "CAST({} AS VARCHAR)"),
        ("email", email_col, "lower(trim(CAST({} AS VARCHAR)))"),
        ("phone", phone_col, "trim(CAST({} AS VARCHAR))"),
    ):
        if column:
            value = norm.format(f"{alias}.{qident(column)}")
            checks.append(
                f"EXISTS (SELECT 1 FROM {SUPPRESSIONS} AS s WHERE s.kind = '{kind}' AND s.value = {value} "
                f"AND s.channel IN ('*', {_lit(channel)}))"
            )
    return "(" + " OR ".join(checks) + ")" if checks else None


def send_time_blocked(
    conn: duckdb.DuckDBPyConnection,
    consent: ConsentConfig,
    plan_table: str,
    seq_from: int,
    seq_to: int,
    as_of: datetime,
) -> dict[str, str]:
    """Re-check consent and suppression for plan rows ``seq_from < seq <= seq_to`` just before they
    are sent. Returns {record_key: reason} for rows that must not go out.

    Sources, most recent wins: ``intermediate.int_consent_latest`` (as of the dbt build) and, when
    present, the live consent events (``staging.stg_consent__events``, a view over the raw table
    the ingestion keeps loading) resolved to profiles through ``intermediate.int_identifier_profiles``.
    An opt-out counts whenever it happened (even after the run's as-of time); an opt-in only up to it.
    A row whose profile has no opt-in at all is blocked (fail closed).
    """
    schema, table = CONSENT_TABLE
    params: dict[str, object] = {
        "lo": seq_from,
        "hi": seq_to,
        "channel": consent.channel,
        "purpose": consent.purpose,
        "as_of": as_of,
    }
    sources = [
        f"""SELECT CAST(profile_id AS VARCHAR) AS profile_id, status, occurred_at, 0 AS src
            FROM {qident(schema)}.{qident(table)}
            WHERE channel = $channel AND purpose = $purpose
              AND CAST(profile_id AS VARCHAR) IN (SELECT profile_id FROM _batch)"""
    ]
    if _exists(conn, *LIVE_EVENTS) and _exists(conn, *IDENTIFIERS):
        ev = f"{qident(LIVE_EVENTS[0])}.{qident(LIVE_EVENTS[1])}"
        ids = f"{qident(IDENTIFIERS[0])}.{qident(IDENTIFIERS[1])}"
        for id_type, column in (("customer_id", "customer_id"), ("email", "email"), ("phone", "phone")):
            sources.append(
                f"""SELECT CAST(ip.profile_id AS VARCHAR), e.status, e.occurred_at, 1
                    FROM {ev} AS e JOIN {ids} AS ip
                      ON ip.id_type = '{id_type}' AND ip.id_value = e.{column}
                    WHERE e.channel = $channel AND e.purpose = $purpose
                      AND CAST(ip.profile_id AS VARCHAR) IN (SELECT profile_id FROM _batch)"""
            )
    suppressed = suppression_expr(conn, consent.channel, "b", "profile_id", "email", "phone")
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE _batch AS
            SELECT record_key, profile_id, email, phone FROM {plan_table}
            WHERE seq > $lo AND seq <= $hi AND op <> 'delete'""",
        {"lo": seq_from, "hi": seq_to},
    )
    params.pop("lo"), params.pop("hi")
    rows = conn.execute(
        f"""WITH events AS ({" UNION ALL ".join(sources)}),
        latest AS (
            SELECT profile_id,
                   arg_max(status, (occurred_at, CASE WHEN status = 'opt_out' THEN 1 ELSE 0 END)) AS status
            FROM events
            WHERE occurred_at IS NOT NULL AND (status = 'opt_out' OR occurred_at <= $as_of)
            GROUP BY profile_id
        )
        SELECT b.record_key,
               CASE WHEN {suppressed or "false"} THEN 'suppressed'
                    ELSE 'consent: ' || coalesce(l.status, 'none') END AS reason
        FROM _batch AS b LEFT JOIN latest AS l ON l.profile_id = b.profile_id
        WHERE {suppressed or "false"} OR coalesce(l.status, '') <> 'opt_in'""",
        params,
    ).fetchall()
    conn.execute("DROP TABLE IF EXISTS _batch")
    return dict(rows)
