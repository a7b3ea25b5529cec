"""Write the champion's scores to ``ml.propensity_scores``.

The ``ml/propensity_scores`` asset scores every profile of ``profiles.dim_customer_profiles`` with
the ``champion`` (``ml.pipeline.score_with_champion``) and hands them here. The table is replaced
as a whole in one transaction (create or replace), so a rerun leaves exactly one row per profile:

``ml.propensity_scores(profile_id, score, model_name, model_version, mlflow_run_id, scored_at)``

``score`` is the calibrated probability of at least one completed order within the horizon;
``model_version`` is the MLflow registry version (text); ``scored_at`` is the run's as-of time,
stored like every warehouse timestamp as UTC ``timestamp`` without time zone.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tessera import paths

SCORES_SCHEMA = "ml"
SCORES_TABLE = f"{SCORES_SCHEMA}.propensity_scores"
SCORES_COLUMNS = ("profile_id", "score", "model_name", "model_version", "mlflow_run_id", "scored_at")


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
