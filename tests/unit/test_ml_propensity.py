"""Propensity model end to end on a synthetic warehouse: train -> MLflow run + registry -> scores.

The feature marts are created directly here (not by dbt) with a planted signal: recent, frequent
buyers are more likely to buy in the next horizon.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml import evaluate as ev
from ml import features as F

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
HORIZON = 90


def synthetic_frames(n_profiles: int = 1500, n_cutoffs: int = 3, seed: int = 7):
    """(training, scoring) frames with the mart columns and a recency/frequency signal."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"P{i:07d}" for i in range(n_profiles)])
    engagement = rng.normal(size=n_profiles)  # latent, stable per profile
    loyalty = (rng.random(n_profiles) < 0.3).astype(int)

    def features(n_rows_seed: int):
        r = np.random.default_rng(seed + n_rows_seed)
        lam = np.exp(0.8 * engagement)
        freq = r.poisson(2 * lam)
        recency = np.where(freq > 0, r.exponential(120 / lam), np.nan)
        monetary_avg = np.where(freq > 0, r.gamma(2.0, 40.0, n_profiles), np.nan)
        events_30d = r.poisson(3 * lam)
        df = pd.DataFrame(
            {
                "profile_id": ids,
                "recency_days": recency,
                "frequency": freq,
                "monetary_total": np.nan_to_num(monetary_avg * freq),
                "monetary_avg": monetary_avg,
                "tenure_days": r.integers(30, 900, n_profiles),
                "orders_30d": r.binomial(freq, 0.1),
                "orders_90d": r.binomial(freq, 0.25),
                "orders_180d": r.binomial(freq, 0.45),
                "non_completed_orders": r.poisson(0.2, n_profiles),
                "distinct_categories": np.minimum(freq, r.integers(1, 6, n_profiles)),
                "events_30d": events_30d,
                "product_views_30d": r.binomial(events_30d, 0.6),
                "product_adds_30d": r.binomial(events_30d, 0.2),
                "checkouts_30d": r.binomial(events_30d, 0.05),
                "days_since_last_event": np.where(events_30d > 0, r.integers(0, 30, n_profiles), np.nan),
                "is_loyalty_member": loyalty,
            }
        )
        logit = -1.2 + 1.1 * engagement - 0.6 * np.log1p(np.nan_to_num(recency, nan=720) / 30) + 0.4 * loyalty
        return df, logit, r

    parts = []
    for k in range(1, n_cutoffs + 1):
        df, logit, r = features(k)
        df.insert(1, "cutoff_at", AS_OF - timedelta(days=k * HORIZON))
        df.insert(2, "cutoff_index", k)
        df.insert(3, "horizon_days", HORIZON)
        df["label"] = (r.random(n_profiles) < 1 / (1 + np.exp(-logit))).astype(int)
        parts.append(df)
    training = pd.concat(parts, ignore_index=True)
    scoring, _, _ = features(0)
    scoring.insert(1, "cutoff_at", AS_OF)
    return training, scoring


def write_warehouse(path: Path, training: pd.DataFrame, scoring: pd.DataFrame) -> Path:
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists ml_features")
        con.register("t", training)
        con.register("s", scoring)
        # integer columns with nulls, as the dbt marts have them (pandas reads them as Int32 + NA)
        ints = "replace (cast(recency_days as integer) as recency_days, cast(days_since_last_event as integer) as days_since_last_event)"
        con.execute(f"create or replace table ml_features.ml_propensity_training as select * {ints} from t")
        con.execute(f"create or replace table ml_features.ml_propensity_scoring as select * {ints} from s")
    finally:
        con.close()
    return path


@pytest.fixture()
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TESSERA_AS_OF", AS_OF.isoformat())
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    training, scoring = synthetic_frames()
    warehouse = write_warehouse(tmp_path / "wh.duckdb", training, scoring)
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    return {"warehouse": warehouse, "tracking_uri": tracking_uri, "tmp": tmp_path, "scoring": scoring}


# -- pure helpers ------------------------------------------------------------------------------


def test_top_decile_lift():
    y = np.array([1] * 10 + [0] * 90)
    perfect = np.linspace(1, 0, 100)
    assert ev.top_decile_lift(y, perfect) == pytest.approx(10.0)
    assert ev.top_decile_lift(y, np.zeros(100)) == pytest.approx(10.0)  # stable sort: first rows
    assert np.isnan(ev.top_decile_lift(np.zeros(5), np.ones(5)))


def test_time_split_uses_latest_cutoff_for_validation():
    training, _ = synthetic_frames(n_profiles=200)
    split = F.time_split(training)
    assert split.valid[F.CUTOFF_COLUMN].nunique() == 1
    assert split.valid[F.CUTOFF_COLUMN].iloc[0] == training[F.CUTOFF_COLUMN].max()
    assert split.train[F.CUTOFF_COLUMN].max() < split.valid[F.CUTOFF_COLUMN].min()
    assert len(split.train_cutoffs) == 2 and len(split.train) + len(split.valid) == len(training)


def test_feature_matrix_is_float_in_fixed_order_and_checks_columns():
    training, _ = synthetic_frames(n_profiles=50)
    X = F.feature_matrix(training.iloc[:, ::-1])
    assert list(X.columns) == list(F.FEATURE_COLUMNS)
    assert all(dt == "float64" for dt in X.dtypes)
    with pytest.raises(ValueError, match="recency_days"):
        F.feature_matrix(training.drop(columns=["recency_days"]))


def test_time_split_rejects_a_single_cutoff():
    training, _ = synthetic_frames(n_profiles=50, n_cutoffs=1)
    with pytest.raises(ValueError, match="two cutoffs"):
        F.time_split(training)


# -- end to end ---------------------------------------------------------------------------------


def _scores(warehouse: Path) -> pd.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute("select * from ml.propensity_scores").df()
    finally:
        con.close()


def test_train_register_and_score_idempotently(env):
    from mlflow.tracking import MlflowClient

    from ml import CHAMPION_ALIAS, EXPERIMENT_NAME, MODEL_NAME
    from ml.score import score_propensity
    from ml.train import train_propensity_model

    result = train_propensity_model(env["warehouse"], env["tracking_uri"])

    # metrics: the planted signal is found and the model beats nothing-but-recency at least a bit
    assert result.metrics["val_roc_auc"] > 0.7
    for key in (
        "val_pr_auc",
        "val_brier",
        "val_top_decile_lift",
        "baseline_val_roc_auc",
        "baseline_val_brier",
        "logistic_regression_val_roc_auc",
        "hist_gradient_boosting_val_roc_auc",
    ):
        assert key in result.metrics
    assert 0 <= result.metrics["val_brier"] <= 0.25
    assert result.selected_candidate in ("logistic_regression", "hist_gradient_boosting")
    assert result.train_rows == 3000 and result.valid_rows == 1500

    client = MlflowClient(tracking_uri=env["tracking_uri"], registry_uri=env["tracking_uri"])
    run = client.get_run(result.run_id)
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT_NAME
    assert run.data.metrics["val_roc_auc"] == pytest.approx(result.metrics["val_roc_auc"])
    assert run.data.params["valid_cutoff"] == result.valid_cutoff
    assert run.data.params["horizon_days"] == "90"
    artifacts = {a.path for d in ("plots", "data") for a in client.list_artifacts(result.run_id, d)}
    assert {
        "plots/roc_curve.png",
        "plots/calibration_curve.png",
        "data/features.json",
        "data/data_window.json",
    } <= artifacts
    # artifacts live next to the sqlite store, not in ./mlruns
    assert (env["tmp"] / "mlflow" / "artifacts").is_dir()
    assert not (Path.cwd() / "mlruns").exists() or Path.cwd() == env["tmp"]

    champion = client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS)
    assert str(champion.version) == result.model_version == "1" and result.is_champion
    assert champion.run_id == result.run_id

    scored = score_propensity(env["warehouse"], env["tracking_uri"])
    df = _scores(env["warehouse"])
    assert list(df.columns) == [
        "profile_id",
        "score",
        "model_name",
        "model_version",
        "mlflow_run_id",
        "scored_at",
    ]
    assert len(df) == scored.rows == len(env["scoring"]) and df["profile_id"].is_unique
    assert set(df["profile_id"]) == set(env["scoring"]["profile_id"])
    assert df["score"].between(0, 1).all()
    assert set(df["model_version"]) == {"1"} and set(df["model_name"]) == {MODEL_NAME}
    assert set(df["mlflow_run_id"]) == {result.run_id}
    assert pd.Timestamp(df["scored_at"].iloc[0]) == pd.Timestamp(AS_OF.replace(tzinfo=None))  # naive UTC
    # recent buyers score higher than people who never bought
    s = df.set_index("profile_id")["score"]
    sc = env["scoring"].set_index("profile_id")
    assert s[sc["recency_days"] < 30].mean() > s[sc["recency_days"].isna()].mean()

    # rerun: a new version (same data, same AUC -> becomes champion), same row count
    again = train_propensity_model(env["warehouse"], env["tracking_uri"])
    assert again.model_version == "2" and again.is_champion
    assert again.metrics["val_roc_auc"] == pytest.approx(result.metrics["val_roc_auc"])
    rescored = score_propensity(env["warehouse"], env["tracking_uri"])
    df2 = _scores(env["warehouse"])
    assert len(df2) == len(df) == rescored.rows
    assert set(df2["model_version"]) == {"2"}
    np.testing.assert_allclose(
        df2.sort_values("profile_id")["score"].to_numpy(), df.sort_values("profile_id")["score"].to_numpy()
    )


def test_worse_model_does_not_take_the_champion_alias(env):
    from mlflow.tracking import MlflowClient

    from ml import CHAMPION_ALIAS, MODEL_NAME
    from ml.registry import configure_mlflow, promote_if_not_worse
    from ml.train import train_propensity_model

    first = train_propensity_model(env["warehouse"], env["tracking_uri"])
    # A noise-only frame trains a much worse model.
    training, _ = synthetic_frames(n_profiles=1500)
    training["label"] = np.random.default_rng(1).permutation(training["label"].to_numpy())
    second = train_propensity_model(frame=training, tracking_uri=env["tracking_uri"])
    assert second.metrics["val_roc_auc"] < first.metrics["val_roc_auc"]
    assert not second.is_champion
    client = MlflowClient(tracking_uri=env["tracking_uri"], registry_uri=env["tracking_uri"])
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS).version) == first.model_version
    # equal AUC is "not worse"
    client, _ = configure_mlflow(env["tracking_uri"])
    assert promote_if_not_worse(client, second.model_version, first.metrics["val_roc_auc"]).promoted


def test_scoring_without_a_champion_says_so(env):
    from ml.score import score_propensity

    with pytest.raises(Exception, match="champion|not found|RESOURCE_DOES_NOT_EXIST"):
        score_propensity(env["warehouse"], env["tracking_uri"])
