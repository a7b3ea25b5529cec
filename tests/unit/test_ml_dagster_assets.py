"""The ML Dagster assets: keys, groups, dependencies, import-time hygiene and one materialization."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import pytest


def test_asset_keys_groups_kinds_and_deps():
    from dagster import AssetKey

    from dagster_project.ml import ml_assets

    specs = {spec.key: spec for a in ml_assets for spec in a.specs}
    model, scores = specs[AssetKey(["ml", "propensity_model"])], specs[AssetKey(["ml", "propensity_scores"])]
    assert model.group_name == scores.group_name == "analytics"
    assert {"scikitlearn", "mlflow"} <= set(model.kinds) and {"scikitlearn", "mlflow"} <= set(scores.kinds)
    assert {d.asset_key for d in model.deps} == {AssetKey(["ml_features", "ml_propensity_training"])}
    assert {d.asset_key for d in scores.deps} == {
        AssetKey(["ml", "propensity_model"]),
        AssetKey(["ml_features", "ml_propensity_scoring"]),
    }


def test_import_does_no_mlflow_or_warehouse_work(tmp_path):
    code = (
        "import sys; import dagster_project.ml; "
        "assert 'mlflow' not in sys.modules, 'mlflow imported'; "
        "import os; assert not os.listdir(os.environ['TESSERA_DATA_DIR'])"
    )
    env = dict(os.environ, TESSERA_DATA_DIR=str(tmp_path), DAGSTER_DISABLE_TELEMETRY="1")
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_materialize_model_then_scores(tmp_path, monkeypatch):
    from dagster import DagsterInstance, materialize

    from dagster_project.ml import ml_assets
    from dagster_project.resources import WarehouseResource
    from tests.unit.test_ml_propensity import AS_OF, synthetic_frames, write_warehouse

    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TESSERA_AS_OF", AS_OF.isoformat())
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}")
    training, scoring = synthetic_frames(n_profiles=800)
    warehouse = write_warehouse(tmp_path / "wh.duckdb", training, scoring)

    result = materialize(
        ml_assets,
        resources={"warehouse": WarehouseResource(path=str(warehouse))},
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success
    by_key = {
        m.asset_key.to_user_string(): m.metadata
        for m in result.get_asset_materialization_events()
        and [e.materialization for e in result.get_asset_materialization_events()]
    }
    model_md, scores_md = by_key["ml/propensity_model"], by_key["ml/propensity_scores"]
    assert model_md["auc"].value > 0.7
    assert model_md["model_version"].value == scores_md["model_version"].value == "1"
    assert model_md["rows"].value == len(training)
    assert model_md["mlflow_run_id"].value
    assert scores_md["rows"].value == len(scoring)
    assert 0 < scores_md["score_mean"].value < 1
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert con.execute("select count(*) from ml.propensity_scores").fetchone()[0] == len(scoring)
    finally:
        con.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
