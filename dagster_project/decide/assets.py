"""Decision reporting. The decisions themselves are dbt models (pass 3: decisions.fct_decisions),
so the arbitration runs as SQL in the warehouse; this asset reports what was decided."""


from dagster import AssetExecutionContext, MetadataValue, asset

from dagster_project.resources import WarehouseResource


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


decide_assets = [decision_report]
