"""Dagster assets for Stage 4 (ML): the propensity engine trains + registers (champion/challenger)
on the warehouse's purchase log, a blocking quality gate guards it, and the champion scores every
profile; product recommendations go to the warehouse too.

Thin wrappers around :mod:`ml.pipeline` and :mod:`ml.recommend`; no DuckDB or MLflow work at
import time.
"""


from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    asset,
)

from dagster_project.resources import WarehouseResource

GROUP = "analytics"
ORDERS_MART_KEY = AssetKey(["ml_features", "ml_propensity_orders"])
ORDER_LINES_KEY = AssetKey(["intermediate", "int_order_lines_resolved"])
MODEL_KEY = AssetKey(["ml", "propensity_model"])
SCORES_KEY = AssetKey(["ml", "propensity_scores"])
RECS_KEY = AssetKey(["ml", "product_recommendations"])
PROFILES_KEY = AssetKey(["profiles", "dim_customer_profiles"])
GATE_CHECK = "propensity_quality_gate"


def _history_end():
    import pandas as pd

    from tessera import paths

    ts = pd.Timestamp(paths.as_of())
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.ceil("D")  # orders strictly before the as-of are in the mart


def _read(warehouse: WarehouseResource, sql: str):
    import duckdb

    from tessera import paths

    con = duckdb.connect(str(warehouse.path or paths.warehouse_path()), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def _orders(warehouse: WarehouseResource):
    from ml.orders import load_orders

    df = _read(warehouse, "select order_id, customer_id, ordered_at, amount, status from ml_features.ml_propensity_orders")
    return load_orders(df)


@asset(
    key=MODEL_KEY,
    group_name=GROUP,
    kinds={"scikitlearn", "mlflow"},
    deps=[ORDERS_MART_KEY],
    check_specs=[AssetCheckSpec(GATE_CHECK, asset=MODEL_KEY, blocking=True,
                                description="Champion holdout ROC AUC above the floor and no feature drift "
                                            "(PSI of scoring vs training features) beyond the threshold.")],
    description=(
        "The propensity engine (ml/propensity.py) on ml_features.ml_propensity_orders: stacked cutoffs, "
        "time-based backtest against BG/NBD, Pareto/NBD, RFM and recency baselines, calibrated; logged to "
        "MLflow and registered as `tessera_purchase_propensity`, `champion` only when it beats the champion "
        "on the same backtest by the promotion margin, else `challenger`."
    ),
    tags={"tessera/stage": "ml"},
)
def propensity_model(context: AssetExecutionContext, warehouse: WarehouseResource):
    from ml import propensity as P
    from ml.pipeline import champion_reference, quality_gate, score_with_champion, train_and_register

    log = _orders(warehouse)
    end = _history_end()
    result = train_and_register(log.orders, end, P.EngineConfig(), data_source="ml_features.ml_propensity_orders")
    m = result.metrics
    context.log.info(
        f"{result.model_name} v{result.model_version}: {result.selected_candidate}, holdout AUC "
        f"{m['tessera_roc_auc']:.4f} (best baseline {m['best_baseline_roc_auc']:.4f}), champion={result.is_champion}"
    )
    ref, champ_auc = champion_reference()
    current = score_with_champion(log.orders, end).features
    gate = quality_gate(champ_auc, ref, current)
    yield MaterializeResult(
        metadata={
            "auc": MetadataValue.float(m["tessera_roc_auc"]),
            "pr_auc": MetadataValue.float(m["tessera_pr_auc"]),
            "brier": MetadataValue.float(m["tessera_brier"]),
            "top_decile_lift": MetadataValue.float(m["tessera_top_decile_lift"]),
            "baseline_auc": MetadataValue.float(m["best_baseline_roc_auc"]),
            **{f"{b}_auc": MetadataValue.float(m[f"{b}_roc_auc"]) for b in P.BASELINES},
            "bgnbd_brier": MetadataValue.float(m["bgnbd_brier"]),
            "mlflow_run_id": MetadataValue.text(result.run_id),
            "model_name": MetadataValue.text(result.model_name),
            "model_version": MetadataValue.text(result.model_version),
            "is_champion": MetadataValue.bool(result.is_champion),
            "selected_candidate": MetadataValue.text(result.selected_candidate),
            "train_rows": MetadataValue.int(result.run.rows["training_rows"]),
            "holdout_rows": MetadataValue.int(result.run.rows["holdout_rows"]),
            "holdout_cutoff": MetadataValue.text(result.run.cutoffs["holdout"][0]),
            "training_seconds": MetadataValue.float(round(result.duration_seconds, 2)),
        },
        check_results=[
            AssetCheckResult(
                check_name=GATE_CHECK,
                passed=gate.passed,
                severity=AssetCheckSeverity.ERROR,
                metadata={
                    "champion_auc": MetadataValue.float(float(gate.auc) if gate.auc is not None else -1.0),
                    "auc_floor": MetadataValue.float(gate.auc_floor),
                    "max_psi": MetadataValue.float(gate.max_psi),
                    "psi_threshold": MetadataValue.float(gate.psi_threshold),
                    "worst_feature": MetadataValue.text(gate.worst_feature or ""),
                    "reasons": MetadataValue.text("; ".join(gate.reasons) or "ok"),
                },
            )
        ],
    )


@asset(
    key=SCORES_KEY,
    group_name=GROUP,
    kinds={"scikitlearn", "mlflow", "duckdb"},
    deps=[MODEL_KEY, ORDERS_MART_KEY, PROFILES_KEY],
    description=(
        "ml.propensity_scores: the `champion` model's calibrated purchase probability for every profile of "
        "profiles.dim_customer_profiles (from its orders; a profile without orders gets the model's score for "
        "no purchase history), with the champion's version; replaced on every run. Blocked by the "
        "propensity quality gate."
    ),
    tags={"tessera/stage": "ml"},
)
def propensity_scores(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    import pandas as pd

    from ml.pipeline import score_with_champion
    from ml.score import write_scores
    from tessera import paths

    log = _orders(warehouse)
    profiles = _read(warehouse, "select profile_id from profiles.dim_customer_profiles")["profile_id"]
    res = score_with_champion(log.orders, _history_end(), customers=profiles.astype(str).tolist())
    scores = res.scores[res.scores["customer_id"].isin(set(profiles.astype(str)))]
    when = pd.Timestamp(paths.as_of())
    if when.tzinfo is not None:
        when = when.tz_convert("UTC").tz_localize(None)
    frame = pd.DataFrame({
        "profile_id": scores["customer_id"].astype(str).to_numpy(),
        "score": scores["score"].to_numpy(),
        "model_name": res.model_name,
        "model_version": res.model_version,
        "mlflow_run_id": res.run_id,
        "scored_at": when,
    })
    rows = write_scores(frame, warehouse.path or None)
    context.log.info(f"scored {rows} profiles with {res.model_name} v{res.model_version}")
    return MaterializeResult(
        metadata={
            "rows": MetadataValue.int(rows),
            "score_mean": MetadataValue.float(float(frame["score"].mean()) if rows else 0.0),
            "model_name": MetadataValue.text(res.model_name),
            "model_version": MetadataValue.text(res.model_version),
            "mlflow_run_id": MetadataValue.text(res.run_id),
            "table": MetadataValue.text("ml.propensity_scores"),
        }
    )


@asset(
    key=RECS_KEY,
    group_name=GROUP,
    kinds={"scipy", "duckdb"},
    deps=[ORDER_LINES_KEY, PROFILES_KEY],
    description=(
        "ml.product_recommendations(profile_id, product_id, rank, score, generated_at): top 10 products for "
        "every profile from item-to-item co-purchase similarity and category affinity, the most popular "
        "products for profiles without purchases (ml/recommend.py). The decisions put them in email and "
        "web content."
    ),
    tags={"tessera/stage": "ml"},
)
def product_recommendations(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    import duckdb
    import pandas as pd

    from ml import recommend as R
    from ml.orders import load_orders
    from tessera import paths
    from tessera.warehouse import replace_table

    end = _history_end()
    lines = _read(
        warehouse,
        "select l.order_id, o.profile_id as customer_id, o.ordered_at, l.line_amount as amount, l.quantity, "
        "l.product_id, l.category, o.status from intermediate.int_order_lines_resolved l "
        "join intermediate.int_orders_resolved o using (order_id) where o.profile_id is not null",
    )
    profiles = _read(warehouse, "select profile_id from profiles.dim_customer_profiles")["profile_id"]
    history = None
    if not lines.empty:
        log = load_orders(lines, keep_lines=True)
        if log.lines is not None:
            history = log.lines[log.lines["ts"] < end]
    if history is None or history.empty:
        context.log.warning("no purchase lines before the history end: no recommendations")
        recs = pd.DataFrame(columns=["customer_id", "product_id", "rank", "score"])
    else:
        recs = R.fit(history, end, R.RecConfig()).top_k(profiles.astype(str).tolist())
    recs = recs.rename(columns={"customer_id": "profile_id"})
    recs["generated_at"] = end
    con = duckdb.connect(str(warehouse.path or paths.warehouse_path()))
    try:
        replace_table(con, "ml.product_recommendations", recs,
                      "profile_id, product_id, cast(rank as integer) as rank, cast(score as double) as score, "
                      "cast(generated_at as timestamp) as generated_at")
        n = con.execute("select count(*) from ml.product_recommendations").fetchone()[0]
    finally:
        con.close()
    context.log.info(f"wrote {n} recommendations for {recs['profile_id'].nunique()} profiles")
    return MaterializeResult(metadata={"rows": MetadataValue.int(int(n)),
                                       "profiles": MetadataValue.int(int(recs["profile_id"].nunique()))})
