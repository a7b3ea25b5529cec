"""Champion / challenger on a temporary MLflow store: the first version is champion, a version that
does not beat it on the same backtest by the margin is challenger, promote and rollback override."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from ml import propensity as P
from ml.orders import load_orders
from tests.unit.test_ml_engine import AS_OF, small_log


@pytest.fixture()
def store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "data"))
    return uri


def test_champion_challenger_promote_rollback(store):
    from mlflow.tracking import MlflowClient

    from ml import MODEL_NAME, registry
    from ml.pipeline import score_with_champion, train_and_register
    from tessera.predict.cli import ml_app

    log = load_orders(small_log(700), AS_OF)
    cfg = P.EngineConfig(horizon_days=90, n_cutoffs=2)
    first = train_and_register(log.orders, log.as_of_end, cfg, tracking_uri=store)
    assert first.is_champion and first.model_version == "1"
    client = MlflowClient(tracking_uri=store)
    run = client.get_run(first.run_id)
    for k in ("tessera_roc_auc", "bgnbd_roc_auc", "pareto_nbd_brier", "rfm_logistic_pr_auc", "recency_top_decile_lift"):
        assert k in run.data.metrics
    arts = {a.path for a in client.list_artifacts(first.run_id, "plots")}
    assert {"plots/roc_curve.png", "plots/calibration_curve.png", "plots/lift_curve.png"} <= arts

    # the same data again: no improvement by the margin -> challenger. The champion's refit has
    # learnt from this holdout's labels, so it is compared by its own recorded backtest score
    second = train_and_register(log.orders, log.as_of_end, cfg, tracking_uri=store, promotion_margin=0.01)
    assert not second.is_champion
    assert second.champion_same_backtest_auc is None
    assert second.metrics["tessera_roc_auc"] < first.metrics["tessera_roc_auc"] + 0.01
    assert str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == "1"
    assert str(client.get_model_version_by_alias(MODEL_NAME, "challenger").version) == "2"
    scored = score_with_champion(log.orders, log.as_of_end, tracking_uri=store)
    assert scored.model_version == "1" and len(scored.scores) == log.orders["customer_id"].nunique()

    runner = CliRunner()
    res = runner.invoke(ml_app, ["promote"])
    assert res.exit_code == 0 and "version 2" in res.output
    assert str(registry.champion_version(client).version) == "2"
    res = runner.invoke(ml_app, ["rollback"])
    assert res.exit_code == 0 and "version 1" in res.output
    assert str(registry.champion_version(client).version) == "1"
    assert str(client.get_model_version_by_alias(MODEL_NAME, "challenger").version) == "2"
    res = runner.invoke(ml_app, ["promote", "99"])
    assert res.exit_code == 2 and "error:" in res.output


def test_quality_gate_blocks_on_floor_and_drift():
    from ml.pipeline import quality_gate

    ref = pd.DataFrame({f: [float(i % 7) for i in range(500)] for f in P.FEATURES})
    assert quality_gate(0.8, ref, ref).passed
    assert not quality_gate(0.55, ref, ref, auc_floor=0.6).passed
    drifted = ref.assign(recency_days=ref["recency_days"] + 30)
    gate = quality_gate(0.8, ref, drifted)
    assert not gate.passed and gate.worst_feature == "recency_days"


def test_a_champion_older_than_the_holdout_is_rescored_on_it(store):
    """A champion trained on a history that ends before this run's holdout window has never seen
    its labels: it is re-scored on the same rows as the new version."""
    from ml.pipeline import train_and_register

    cfg = P.EngineConfig(horizon_days=90, n_cutoffs=2)
    early = load_orders(small_log(700), "2024-08-31")
    first = train_and_register(early.orders, early.as_of_end, cfg, tracking_uri=store)
    assert first.is_champion
    late = load_orders(small_log(700), AS_OF)  # holdout window 2024-10-02 .. 2024-12-31
    second = train_and_register(late.orders, late.as_of_end, cfg, tracking_uri=store, promotion_margin=0.0)
    assert second.champion_same_backtest_auc is not None
    assert 0.5 < second.champion_same_backtest_auc < 1.0
    assert second.is_champion == (second.metrics["tessera_roc_auc"] >= second.champion_same_backtest_auc)
