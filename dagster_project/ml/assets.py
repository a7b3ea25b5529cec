"""Dagster assets for Stage 4 (ML): train + register the propensity model, then score profiles.

Thin wrappers around :mod:`ml.train` and :mod:`ml.score`; no DuckDB or MLflow work happens at
import time (the ``ml`` modules that import MLflow are imported inside the asset functions).
"""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from dagster_project.resources import WarehouseResource

GROUP = "analytics"
TRAINING_MART_KEY = AssetKey(["ml_features", "ml_propensity_training"])
SCORING_MART_KEY = AssetKey(["ml_features", "ml_propensity_scoring"])
MODEL_KEY = AssetKey(["ml", "propensity_model"])
SCORES_KEY = AssetKey(["ml", "propensity_scores"])


@asset(
    key=MODEL_KEY,
    group_name=GROUP,
    kinds={"scikitlearn", "mlflow"},
    deps=[TRAINING_MART_KEY],
    description=(
        "Purchase-propensity classifier trained on ml_features.ml_propensity_training (time split: "
        "earlier cutoffs train, the latest validates), calibrated, logged to MLflow and registered "
        "as `tessera_purchase_propensity`; alias `champion` moves to it unless its validation "
        "ROC AUC is below the current champion's."
    ),
    tags={"tessera/stage": "ml"},
)
def propensity_model(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    from ml.train import train_propensity_model

    result = train_propensity_model(warehouse.path or None)
    m = result.metrics
    context.log.info(
        f"{result.model_name} v{result.model_version}: {result.selected_candidate}, "
        f"val AUC {m['val_roc_auc']:.4f} (baseline {m['baseline_val_roc_auc']:.4f}), "
        f"champion={result.is_champion}, {result.duration_seconds:.1f}s"
    )
    return MaterializeResult(
        metadata={
            "auc": MetadataValue.float(m["val_roc_auc"]),
            "pr_auc": MetadataValue.float(m["val_pr_auc"]),
            "brier": MetadataValue.float(m["val_brier"]),
            "top_decile_lift": MetadataValue.float(m["val_top_decile_lift"]),
            "baseline_auc": MetadataValue.float(m["baseline_val_roc_auc"]),
            "mlflow_run_id": MetadataValue.text(result.run_id),
            "model_name": MetadataValue.text(result.model_name),
            "model_version": MetadataValue.text(result.model_version),
            "is_champion": MetadataValue.bool(result.is_champion),
            "selected_candidate": MetadataValue.text(result.selected_candidate),
            "rows": MetadataValue.int(result.train_rows + result.valid_rows),
            "train_rows": MetadataValue.int(result.train_rows),
            "valid_rows": MetadataValue.int(result.valid_rows),
            "valid_cutoff": MetadataValue.text(result.valid_cutoff),
            "training_seconds": MetadataValue.float(round(result.duration_seconds, 2)),
        }
    )


@asset(
    key=SCORES_KEY,
    group_name=GROUP,
    kinds={"scikitlearn", "mlflow", "duckdb"},
    deps=[MODEL_KEY, SCORING_MART_KEY],
    description=(
        "ml.propensity_scores: the `champion` model's calibrated purchase probability for every "
        "profile in ml_features.ml_propensity_scoring; the table is replaced on every run."
    ),
    tags={"tessera/stage": "ml"},
)
def propensity_scores(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    from ml.score import score_propensity

    result = score_propensity(warehouse.path or None)
    context.log.info(f"scored {result.rows} profiles with {result.model_name} v{result.model_version}")
    return MaterializeResult(
        metadata={
            "rows": MetadataValue.int(result.rows),
            "score_mean": MetadataValue.float(result.score_mean if result.score_mean is not None else 0.0),
            "model_name": MetadataValue.text(result.model_name),
            "model_version": MetadataValue.text(result.model_version),
            "mlflow_run_id": MetadataValue.text(result.mlflow_run_id),
            "table": MetadataValue.text(result.table),
        }
    )
