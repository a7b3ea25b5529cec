"""Tessera ML: purchase propensity, recommendations, evaluation, registry and scoring.

Plain Python (no Dagster imports) so the same code runs from Dagster assets, the CLI, notebooks
and tests. Modules:

- :mod:`ml.orders`     reading and validating purchase logs (CSV, Parquet, warehouse frames)
- :mod:`ml.clv`        BG/NBD and Pareto/NBD fits (pymc-marketing) for features and baselines
- :mod:`ml.propensity` the propensity engine: features, stacked cutoffs, backtest, calibration
- :mod:`ml.pipeline`   MLflow logging, registration, champion/challenger, scoring, quality gate
- :mod:`ml.registry`   MLflow setup, the registered model and its aliases
- :mod:`ml.evaluate`   metrics (ROC AUC, PR AUC, Brier, top-decile lift) and plots
- :mod:`ml.score`      writing the champion's scores to ``ml.propensity_scores``
- :mod:`ml.recommend`  item-to-item product recommendations
- :mod:`ml.synthetic`  synthetic purchase logs for tests and benchmarks

MLflow is imported lazily (inside functions), never at import time of this package. MLflow
sends anonymous usage telemetry unless told not to; Tessera never phones home, so the opt-outs
MLflow honours are defaulted here, before any ``import mlflow`` made through this package.
"""

from __future__ import annotations

import os

# MLflow >= 3.2 reads MLFLOW_DISABLE_TELEMETRY (and the generic DO_NOT_TRACK) when it is imported
# and before each event is sent. setdefault: an explicit user choice wins.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

MODEL_NAME = "tessera_purchase_propensity"
EXPERIMENT_NAME = "tessera_purchase_propensity"
CHAMPION_ALIAS = "champion"

__all__ = ["CHAMPION_ALIAS", "EXPERIMENT_NAME", "MODEL_NAME"]
