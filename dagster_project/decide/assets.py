"""Decision reporting, the exposure log and the experiment readout. The decisions themselves are
dbt models (pass 3: decisions.fct_decisions), so the arbitration runs as SQL in the warehouse."""


import base64

from dagster import AssetExecutionContext, AssetKey, MetadataValue, asset

from dagster_project.resources import WarehouseResource


def _decision_syncs() -> list[str]:
    """The syncs that deliver decisions (their models read int_decisions_deliverable)."""
    try:
        from tessera.activate import load_syncs

        return sorted(s.name for s in load_syncs() if s.enabled and s.model_table.endswith("__decisions"))
    except Exception:  # noqa: BLE001 - no sync configuration: nothing to log
        return []


DECISION_SYNCS = _decision_syncs()


@asset(
    key=["decisions", "decision_report"],
    group_name="decisions",
    kinds={"python", "duckdb"},
    deps=[["decisions", "fct_decisions"]],
    description="Decisions per offer, channel and arm, and the reason codes behind them.",
)
def decision_report(context: AssetExecutionContext, warehouse: WarehouseResource):
    with warehouse.connect(read_only=True) as con:
        by_offer = con.execute(
            "select offer_id, channel, count(*) from decisions.fct_decisions "
            "group by all order by offer_id, channel"
        ).fetchall()
        by_arm = dict(con.execute("select arm, count(*) from decisions.fct_decisions group by all").fetchall())
        by_reason = dict(
            con.execute("select reason_code, count(*) from decisions.fct_decisions group by all").fetchall()
        )
        total, profiles = con.execute(
            "select count(*), count(distinct profile_id) from decisions.fct_decisions"
        ).fetchone()
    table = "| offer | channel | decisions |\n|---|---|---|\n" + "\n".join(
        f"| {o} | {c} | {n} |" for o, c, n in by_offer
    )
    context.add_output_metadata(
        {
            "decisions": total,
            "profiles": profiles,
            "by_offer_and_channel": MetadataValue.md(table),
            "by_arm": MetadataValue.json(by_arm),
            "by_reason": MetadataValue.json(by_reason),
        }
    )


@asset(
    key=["experiments", "exposures"],
    group_name="decisions",
    kinds={"python", "duckdb"},
    deps=[["decisions", "fct_decisions"], *(AssetKey(["activation", f"sync_run__{s}"]) for s in DECISION_SYNCS)],
    description="The exposure log: every decision a sync's destination acknowledged (experiments.exposures).",
)
def exposure_log(context: AssetExecutionContext, warehouse: WarehouseResource):
    from tessera.decide.exposures import TABLE, log_exposures

    with warehouse.connect() as con:
        added = log_exposures(con, DECISION_SYNCS)
        total = con.execute(f"select count(*) from {TABLE}").fetchone()[0]
        by_arm = dict(con.execute(f"select arm, count(*) from {TABLE} group by all").fetchall())
    context.add_output_metadata({"exposures_added": added, "exposures_total": total,
                                 "by_arm": MetadataValue.json(by_arm), "syncs": ", ".join(DECISION_SYNCS)})


@asset(
    key=["experiments", "nbo_readout"],
    group_name="measurement",
    kinds={"python", "duckdb"},
    deps=[["decisions", "fct_decisions"], ["measurement", "fct_decision_outcomes"]],
    description=(
        "Readout of the decision experiment: every arm against the control (and the program against the "
        "global holdout) on conversion and revenue, with statsmodels/scipy figures and a lift plot."
    ),
)
def experiment_readout(context: AssetExecutionContext, warehouse: WarehouseResource):
    from tessera.experiments.readout import (
        ReadoutError,
        ReadoutInput,
        compute_readout,
        lift_plot_png,
        markdown_table,
    )

    with warehouse.connect(read_only=True) as con:
        assignments = con.execute(
            "select profile_id as unit_id, any_value(arm) as arm from decisions.fct_decisions group by 1"
        ).df()
        outcomes = con.execute(
            "select profile_id as unit_id, max(converted)::int as converted, sum(revenue) as revenue "
            "from measurement.fct_decision_outcomes group by 1"
        ).df()
        shares = con.execute("select holdout_percent, control_percent from config.experiment").fetchone()
    weights = {"holdout": shares[0], "control": shares[1], "treatment": 100 - shares[0] - shares[1]}
    arms = set(assignments["arm"])
    weights = {k: v for k, v in weights.items() if k in arms}
    try:
        readout = compute_readout(ReadoutInput(assignments, outcomes), control="control", weights=weights
                                  and {k: v / sum(weights.values()) for k, v in weights.items()})
    except ReadoutError as exc:
        context.log.warning(f"no readout: {exc}")
        context.add_output_metadata({"status": f"no readout: {exc}"})
        return
    png = base64.b64encode(lift_plot_png(readout)).decode()
    context.add_output_metadata({
        "units": readout["units"],
        "srm_p_value": readout["srm"]["p_value"],
        "readout": MetadataValue.md(markdown_table(readout)),
        "lift_plot": MetadataValue.md(f"![lift](data:image/png;base64,{png})"),
        "json": MetadataValue.json(readout),
    })


decide_assets = [decision_report, exposure_log, experiment_readout]
