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


@asset(
    key=["measurement", "attribution_credits"],
    group_name="measurement",
    kinds={"python", "duckdb"},
    deps=[["measurement", "fct_attribution_touches"], ["measurement", "fct_attribution_conversions"]],
    description=(
        "Attribution of conversions (shop orders) to the touches before them (decisions sent and channel "
        "feedback): first, last, linear, position-based, time-decay and Markov removal effects, per channel "
        "and per channel x offer (measurement.attribution_credits)."
    ),
)
def attribution_credits(context: AssetExecutionContext, warehouse: WarehouseResource):
    from tessera.experiments.attribution import CREDITS_TABLE, MODELS, attribute_warehouse

    with warehouse.connect() as con:
        credits = attribute_warehouse(con)
        touches = con.execute("select count(*) from measurement.fct_attribution_touches").fetchone()[0]
    conversions = int(credits["conversions"].iloc[0]) if len(credits) else 0

    def table(level: str, key: list[str]) -> str:
        part = credits[credits["level"] == level]
        if part.empty:
            return "(no conversions)"
        wide = part.pivot_table(index=key, columns="model", values="credit", aggfunc="sum", dropna=False)
        wide = wide.reindex(columns=list(MODELS)).fillna(0.0).sort_values("markov", ascending=False)
        head = "| " + " | ".join(key) + " | " + " | ".join(MODELS) + " |"
        lines = [head, "|" + "---|" * (len(key) + len(MODELS))]
        for idx, row in wide.iterrows():
            ids = idx if isinstance(idx, tuple) else (idx,)
            lines.append("| " + " | ".join("" if v is None else str(v) for v in ids) + " | "
                         + " | ".join(f"{row[m]:.2f}" for m in MODELS) + " |")
        lines.append("| **total** |" + " |" * (len(key) - 1) + " "
                     + " | ".join(f"{wide[m].sum():.2f}" for m in MODELS) + " |")
        return "\n".join(lines)

    sums = credits[credits["level"] == "channel"].groupby("model")["credit"].sum().to_dict() if len(credits) else {}
    context.add_output_metadata({
        "table": CREDITS_TABLE,
        "conversions": conversions,
        "touches": touches,
        "credits_per_model": MetadataValue.json({m: round(float(v), 6) for m, v in sums.items()}),
        "by_channel": MetadataValue.md(table("channel", ["channel"])),
        "by_channel_and_offer": MetadataValue.md(table("channel_offer", ["channel", "offer_id"])),
    })


@asset(
    key=["experiments", "demo_responses"],
    group_name="measurement",
    kinds={"python", "duckdb"},
    deps=[["experiments", "exposures"], ["decisions", "fct_decisions"]],
    description=(
        "Demo only: the recipients' channel feedback for the decisions the syncs delivered (and organic "
        "conversions in every arm), ingested into raw.channel_feedback through the feedback source, so "
        "response rates and the lift against the holdout are measurable (tessera.demo.responses)."
    ),
)
def demo_responses(context: AssetExecutionContext, warehouse: WarehouseResource):
    from tessera.demo.responses import ENV_FLAG, ingest_file, should_simulate, simulate, write_file, write_log

    rows = []
    if should_simulate():
        with warehouse.connect(read_only=True) as con:
            rows = simulate(con)
        if rows:
            result = ingest_file(write_file(rows))
            context.log.info(f"ingested {result.tables} simulated feedback rows")
    else:
        context.log.info(f"not the demo (or {ENV_FLAG}=0): no responses simulated")
    with warehouse.connect() as con:
        write_log(con, rows)
        by_event = dict(con.execute("select event_type, count(*) from experiments.demo_responses "
                                    "group by all order by 1").fetchall())
        by_arm = dict(con.execute("select arm, count(*) from experiments.demo_responses "
                                  "where event_type = 'converted' group by all order by 1").fetchall())
    context.add_output_metadata({"simulated": bool(rows), "rows": len(rows),
                                 "by_event": MetadataValue.json(by_event),
                                 "conversions_by_arm": MetadataValue.json(by_arm)})


@asset(
    key=["experiments", "arm_ranges"],
    group_name="decisions",
    kinds={"python", "duckdb"},
    description=(
        "The bucket ranges of the experiments in config/experiments.yml (weighted and factorial arms, the "
        "global holdout), for the SQL assignment decisions.fct_experiment_assignments."
    ),
)
def experiment_arm_ranges(context: AssetExecutionContext, warehouse: WarehouseResource):
    from tessera.decide.assignment import RANGES_TABLE, load_experiments, write_arm_ranges

    config = load_experiments()
    with warehouse.connect() as con:
        rows = write_arm_ranges(con, config)
    context.add_output_metadata({
        "table": RANGES_TABLE, "rows": rows,
        "experiments": MetadataValue.json({name: sorted(spec.arm_weights()) for name, spec in config.experiments.items()}),
    })


decide_assets = [experiment_arm_ranges, decision_report, exposure_log, experiment_readout, attribution_credits, demo_responses]
