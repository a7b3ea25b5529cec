"""Purchase-propensity feature frames: loading the dbt feature marts and the time-based split.

The features themselves are computed in SQL by dbt (``dbt_project/macros/ml_propensity_features.sql``,
used by ``ml_features.ml_propensity_training`` and ``ml_features.ml_propensity_scoring``), so that
training and scoring share one definition. :data:`FEATURE_COLUMNS` must list exactly the feature
columns that macro produces; :func:`feature_matrix` fails loudly when a column is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tessera import paths

FEATURE_SCHEMA = "ml_features"
TRAINING_TABLE = f"{FEATURE_SCHEMA}.ml_propensity_training"
SCORING_TABLE = f"{FEATURE_SCHEMA}.ml_propensity_scoring"

ID_COLUMN = "profile_id"
CUTOFF_COLUMN = "cutoff_at"
LABEL_COLUMN = "label"

#: Feature columns, in model input order. Shared by the training and scoring marts.
FEATURE_COLUMNS: tuple[str, ...] = (
    "recency_days",  # days since the last completed order (null: never ordered)
    "frequency",  # completed orders
    "monetary_total",  # sum of completed order amounts
    "monetary_avg",  # average completed order amount (null: never ordered)
    "tenure_days",  # days since the first order or event
    "orders_30d",
    "orders_90d",
    "orders_180d",
    "non_completed_orders",  # cancelled or refunded orders
    "distinct_categories",  # distinct product categories bought
    "events_30d",
    "product_views_30d",
    "product_adds_30d",
    "checkouts_30d",
    "days_since_last_event",  # null: no events
    "is_loyalty_member",  # 0/1
)

#: The single feature the recency-only baseline uses.
BASELINE_FEATURES: tuple[str, ...] = ("recency_days",)


@dataclass(frozen=True)
class TimeSplit:
    """Rows of the earlier cutoffs for training and of the latest cutoff for validation."""

    train: pd.DataFrame
    valid: pd.DataFrame
    train_cutoffs: tuple[str, ...]
    valid_cutoff: str


def _read_table(table: str, warehouse: str | Path | None) -> pd.DataFrame:
    import duckdb

    path = Path(warehouse) if warehouse is not None else paths.warehouse_path()
    if not path.exists():
        raise FileNotFoundError(f"warehouse {path} does not exist; run ingestion and dbt first")
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(f"select * from {table}").df()
    finally:
        con.close()


def load_training_frame(warehouse: str | Path | None = None) -> pd.DataFrame:
    """All rows of ``ml_features.ml_propensity_training`` (one per profile and cutoff)."""
    df = _read_table(TRAINING_TABLE, warehouse)
    missing = {ID_COLUMN, CUTOFF_COLUMN, LABEL_COLUMN} - set(df.columns)
    if missing:
        raise ValueError(f"{TRAINING_TABLE} lacks columns {sorted(missing)}")
    return df


def load_scoring_frame(warehouse: str | Path | None = None) -> pd.DataFrame:
    """All rows of ``ml_features.ml_propensity_scoring`` (one per profile, features as of now)."""
    df = _read_table(SCORING_TABLE, warehouse)
    if ID_COLUMN not in df.columns:
        raise ValueError(f"{SCORING_TABLE} lacks column {ID_COLUMN}")
    return df


def feature_matrix(df: pd.DataFrame, columns: Sequence[str] = FEATURE_COLUMNS) -> pd.DataFrame:
    """The model input: the feature columns in fixed order, as float64 (nulls become NaN)."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"feature columns missing from the frame: {missing}")
    out = df.loc[:, list(columns)].apply(pd.to_numeric, errors="raise").astype("float64")
    return out.reset_index(drop=True)


def labels(df: pd.DataFrame) -> pd.Series:
    return df[LABEL_COLUMN].astype("int64").reset_index(drop=True)


def time_split(df: pd.DataFrame) -> TimeSplit:
    """Train on every cutoff but the latest, validate on the latest. Never a random split: with
    cutoffs one horizon apart, every training label window ends on or before the validation
    cutoff, so validation measures what the model does on a later, unseen period."""
    cutoffs = sorted(pd.Series(df[CUTOFF_COLUMN].unique()).tolist())
    if len(cutoffs) < 2:
        raise ValueError(f"need at least two cutoffs for a time split, got {len(cutoffs)}")
    latest = cutoffs[-1]
    is_valid = df[CUTOFF_COLUMN] == latest
    train, valid = df[~is_valid], df[is_valid]
    for name, part in (("training", train), ("validation", valid)):
        n_pos = int(part[LABEL_COLUMN].sum())
        if n_pos == 0 or n_pos == len(part):
            raise ValueError(f"the {name} rows have a single class ({n_pos} positives of {len(part)})")
    return TimeSplit(
        train=train.reset_index(drop=True),
        valid=valid.reset_index(drop=True),
        train_cutoffs=tuple(str(c) for c in cutoffs[:-1]),
        valid_cutoff=str(latest),
    )
