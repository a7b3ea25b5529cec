"""The end-of-run summary: what each stage did, read back from the warehouse and MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from tessera import paths
from tessera.warehouse import table_exists


def collect_summary(warehouse: Path | None = None) -> dict[str, Any]:
    """Gather the figures a user wants after a run. Missing stages are reported as None."""
    out: dict[str, Any] = {}
    con = duckdb.connect(str(warehouse or paths.warehouse_path()), read_only=True)
    try:
        if table_exists(con, "raw", "ingest_log"):
            rows = con.execute(
                """
                with latest as (
                    select *, row_number() over (partition by source, source_table order by finished_at desc) as rn
                    from raw.ingest_log
                )
                select source, sum(rows_read), sum(rows_loaded), sum(rows_quarantined)
                from latest where rn = 1 group by source order by source
                """
            ).fetchall()
            out["ingest"] = [dict(source=s, read=int(r), loaded=int(lo), quarantined=int(q)) for s, r, lo, q in rows]
        if table_exists(con, "raw", "quarantine"):
            out["quarantine_total"] = con.execute("select count(*) from raw.quarantine").fetchone()[0]
        if table_exists(con, "identity", "resolution_runs"):
            row = con.execute(
                "select records_in, profiles_out, merges, splits, hub_values_quarantined "
                "from identity.resolution_runs order by resolved_at desc limit 1"
            ).fetchone()
            if row:
                out["identity"] = dict(records=row[0], profiles=row[1], merges=row[2], splits=row[3],
                                       hubs_quarantined=row[4])
        if table_exists(con, "segments", "segment_memberships"):
            out["segments"] = dict(
                con.execute("select segment, count(*) from segments.segment_memberships group by 1 order by 1").fetchall()
            )
        if table_exists(con, "ml", "propensity_scores"):
            row = con.execute(
                "select any_value(model_name), max(model_version), any_value(mlflow_run_id), count(*), avg(score) "
                "from ml.propensity_scores"
            ).fetchone()
            out["ml"] = dict(model_name=row[0], model_version=row[1], mlflow_run_id=row[2], scored=row[3],
                             mean_score=round(row[4], 4) if row[4] is not None else None)
        if table_exists(con, "decisions", "fct_decisions"):
            out["decisions"] = [
                dict(offer_id=o, channel=c, decisions=n)
                for o, c, n in con.execute(
                    "select offer_id, channel, count(*) from decisions.fct_decisions group by 1, 2 order by 1, 2"
                ).fetchall()
            ]
            out["decisions_by_arm"] = dict(
                con.execute("select arm, count(*) from decisions.fct_decisions group by 1 order by 1").fetchall()
            )
        if table_exists(con, "tessera_sync", "sync_runs"):
            out["syncs"] = [
                dict(sync=s, status=st, planned=p, sent=se, acked=a, rejected=r, skipped_consent=k)
                for s, st, p, se, a, r, k in con.execute(
                    """
                    with latest as (
                        select *, row_number() over (partition by sync_name order by started_at desc) as rn
                        from tessera_sync.sync_runs
                    )
                    select sync_name, status, rows_planned, rows_sent, rows_acked, rows_rejected,
                           rows_skipped_consent
                    from latest where rn = 1 order by sync_name
                    """
                ).fetchall()
            ]
        if table_exists(con, "measurement", "mart_offer_channel_response_rates"):
            out["responses"] = con.execute(
                "select sum(delivered), sum(converted) from measurement.mart_offer_channel_response_rates"
            ).fetchone()
    finally:
        con.close()
    if out.get("ml") and out["ml"].get("mlflow_run_id"):
        out["ml"]["metrics"] = _mlflow_metrics(out["ml"]["mlflow_run_id"])
    return out


def _mlflow_metrics(run_id: str) -> dict[str, float]:
    try:
        from mlflow.tracking import MlflowClient

        run = MlflowClient(tracking_uri=paths.mlflow_tracking_uri()).get_run(run_id)
        return {k: round(v, 4) for k, v in run.data.metrics.items()}
    except Exception as exc:  # the summary must never hide the run's own result
        return {"error": str(exc)}


def render_summary(summary: dict[str, Any], console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    console.rule("[bold]Tessera run summary")

    if summary.get("ingest"):
        t = Table(title="1. Ingest (latest load per source)")
        for col in ("source", "rows read", "loaded", "quarantined"):
            t.add_column(col, justify="right" if col != "source" else "left")
        for r in summary["ingest"]:
            t.add_row(r["source"], f"{r['read']:,}", f"{r['loaded']:,}", f"{r['quarantined']:,}")
        console.print(t)
    if summary.get("identity"):
        i = summary["identity"]
        console.print(
            f"[bold]2. Profiles[/bold]  {i['records']:,} source records -> {i['profiles']:,} profiles "
            f"({i['records'] - i['profiles']:,} records merged; merges {i['merges']}, splits {i['splits']}, "
            f"hub values quarantined {i['hubs_quarantined']})"
        )
    if summary.get("segments") is not None:
        t = Table(title="3. Segments")
        t.add_column("segment")
        t.add_column("members", justify="right")
        for name, n in summary["segments"].items():
            t.add_row(name, f"{n:,}")
        console.print(t)
    if summary.get("ml"):
        m = summary["ml"]
        metrics = m.get("metrics", {})
        auc = metrics.get("roc_auc", metrics.get("val_roc_auc", "n/a"))
        console.print(
            f"[bold]4. Propensity model[/bold]  {m['model_name']} v{m['model_version']}  ROC AUC {auc}  "
            f"MLflow run {m['mlflow_run_id']}  ({m['scored']:,} profiles scored, mean score {m['mean_score']})"
        )
    if summary.get("decisions"):
        t = Table(title="5. Decisions per offer and channel")
        channels = sorted({d["channel"] for d in summary["decisions"]})
        t.add_column("offer")
        for ch in channels:
            t.add_column(ch, justify="right")
        offers = sorted({d["offer_id"] for d in summary["decisions"]})
        cell = {(d["offer_id"], d["channel"]): d["decisions"] for d in summary["decisions"]}
        for o in offers:
            t.add_row(o, *(f"{cell.get((o, ch), 0):,}" for ch in channels))
        console.print(t)
        console.print(f"   arms: {summary.get('decisions_by_arm')}")
    if summary.get("syncs"):
        t = Table(title="6. Activation (latest sync run)")
        for col in ("sync", "status", "planned", "sent", "acked", "rejected", "skipped (consent)"):
            t.add_column(col, justify="left" if col in ("sync", "status") else "right")
        for s in summary["syncs"]:
            t.add_row(s["sync"], str(s["status"]), *(f"{s[k] or 0:,}" for k in
                      ("planned", "sent", "acked", "rejected", "skipped_consent")))
        console.print(t)
    if summary.get("responses"):
        delivered, converted = summary["responses"]
        console.print(f"[bold]7. Measurement[/bold]  {delivered or 0:,} deliveries and {converted or 0:,} conversions "
                      "in measurement.mart_offer_channel_response_rates")


def where_next(console=None) -> None:
    from rich.console import Console

    console = console or Console()
    console.rule("[bold]Where to look next")
    console.print(
        f"  Warehouse:       {paths.warehouse_path()}  (duckdb -ui, or any DuckDB client)\n"
        "  Dagster UI:      make ui          (asset graph, runs, checks, schedules)\n"
        "  MLflow UI:       make mlflow-ui   (runs, metrics, plots, registered model)\n"
        "  dbt docs:        make dbt-docs    (models, lineage, tests)\n"
        f"  Channel outbox:  {paths.outbox_dir()}\n"
        "  Your own data:   docs/configuration.md"
    )
