"""Score every profile with the champion model into ``ml.propensity_scores``.

The table is replaced as a whole in one transaction (create or replace), so a rerun leaves
exactly one row per profile of ``ml_features.ml_propensity_scoring``:

``ml.propensity_scores(profile_id, score, model_name, model_version, mlflow_run_id, scored_at)``

``score`` is the calibrated probability of at least one completed order within the horizon;
``model_version`` is the MLflow registry version (text); ``scored_at`` is the run's as-of time,
stored like every warehouse timestamp as UTC ``timestamp`` without time zone.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ml import MODEL_NAME, registry
from ml import features as F
from tessera import paths

log = logging.getLogger(__name__)

SCORES_SCHEMA = "ml"
SCORES_TABLE = f"{SCORES_SCHEMA}.propensity_scores"
SCORES_COLUMNS = ("profile_id", "score", "model_name", "model_version", "mlflow_run_id", "scored_at")


@dataclass(frozen=True)
class ScoringResult:
    rows: int
    score_mean: float | None
    model_name: str
    model_version: str
    mlflow_run_id: str
    scored_at: datetime
    table: str = SCORES_TABLE


def predict_scores(model, frame: pd.DataFrame) -> np.ndarray:
    """Probability of purchase for each row of a feature frame."""
    if frame.empty:
        return np.empty(0, dtype=float)
    return np.clip(model.predict_proba(F.feature_matrix(frame))[:, 1].astype(float), 0.0, 1.0)


def write_scores(scores: pd.DataFrame, warehouse: str | Path | None = None) -> int:
    """Replace ``ml.propensity_scores`` with ``scores`` (columns :data:`SCORES_COLUMNS`)."""
    import duckdb

    path = Path(warehouse) if warehouse is not None else paths.warehouse_path()
    con = duckdb.connect(str(path))
    try:
        con.register("tessera_scores_df", scores.loc[:, list(SCORES_COLUMNS)])
        con.execute("begin transaction")
        con.execute(f"create schema if not exists {SCORES_SCHEMA}")
        con.execute(
            f"""
            create or replace table {SCORES_TABLE} as
            select profile_id,
                   cast(score as double)            as score,
                   cast(model_name as varchar)      as model_name,
                   cast(model_version as varchar)   as model_version,
                   cast(mlflow_run_id as varchar)   as mlflow_run_id,
                   cast(scored_at as timestamp)     as scored_at
            from tessera_scores_df
            """
        )
        con.execute("commit")
        con.unregister("tessera_scores_df")
        return int(con.execute(f"select count(*) from {SCORES_TABLE}").fetchone()[0])
    except Exception:
        try:
            con.execute("rollback")
        except duckdb.Error:
            pass
        raise
    finally:
        con.close()


def score_propensity(
    warehouse: str | Path | None = None,
    tracking_uri: str | None = None,
    *,
    scored_at: datetime | None = None,
    model_name: str = MODEL_NAME,
) -> ScoringResult:
    """Load ``models:/<model_name>@champion``, score ``ml_features.ml_propensity_scoring`` and
    replace ``ml.propensity_scores``. Idempotent for a given champion and as-of."""
    champion = registry.load_champion(tracking_uri, model_name)
    frame = F.load_scoring_frame(warehouse)
    dupes = frame[F.ID_COLUMN].duplicated()
    if dupes.any():
        raise ValueError(f"{F.SCORING_TABLE} has {int(dupes.sum())} duplicate {F.ID_COLUMN} values")
    when = scored_at or paths.as_of()
    if when.tzinfo is not None:  # the warehouse convention: naive UTC
        when = when.astimezone(UTC).replace(tzinfo=None)
    scores = pd.DataFrame(
        {
            "profile_id": frame[F.ID_COLUMN].reset_index(drop=True),
            "score": predict_scores(champion.model, frame),
            "model_name": champion.model_name,
            "model_version": champion.version,
            "mlflow_run_id": champion.run_id,
            "scored_at": pd.Timestamp(when),
        }
    )
    rows = write_scores(scores, warehouse)
    mean = float(scores["score"].mean()) if rows else None
    log.info(
        "scored %d profiles with %s v%s (mean %.4f)",
        rows,
        model_name,
        champion.version,
        mean if mean is not None else math.nan,
    )
    return ScoringResult(
        rows=rows,
        score_mean=mean,
        model_name=champion.model_name,
        model_version=champion.version,
        mlflow_run_id=champion.run_id,
        scored_at=when,
    )
