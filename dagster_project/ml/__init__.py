"""Stage 4 (ML) Dagster assets: the propensity model and its scores (see docs/ml.md)."""

from dagster_project.ml.assets import propensity_model, propensity_scores

ml_assets = [propensity_model, propensity_scores]

__all__ = ["ml_assets", "propensity_model", "propensity_scores"]
