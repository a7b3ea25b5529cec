"""Stage 4 (ML) Dagster assets: the propensity model, its scores, product recommendations (docs/ml.md)."""

from dagster_project.ml.assets import product_recommendations, propensity_model, propensity_scores

ml_assets = [propensity_model, propensity_scores, product_recommendations]

__all__ = ["ml_assets", "product_recommendations", "propensity_model", "propensity_scores"]
