"""The ML Dagster assets: keys, groups, dependencies, the blocking gate, import-time hygiene and one
materialization of model -> scores on a small synthetic warehouse."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import pandas as pd
import pytest

from tests.unit.test_ml_engine import AS_OF, small_log


def test_asset_keys_groups_kinds_deps_and_gate():
    from dagster import AssetKey

    from dagster_project.ml import ml_assets

    specs = {spec.key: spec for a in ml_assets for spec in a.specs}
    model, scores = specs[AssetKey(["ml", "propensity_model"])], specs[AssetKey(["ml", "propensity_scores"])]
    assert model.group_name == scores.group_name == "analytics"
    assert {"scikitlearn", "mlflow"} <= set(model.kinds) and {"scikitlearn", "mlflow"} <= set(scores.kinds)
    assert AssetKey(["ml_features", "ml_propensity_orders"]) in {d.asset_key for d in model.deps}
    assert AssetKey(["ml", "propensity_model"]) in {d.asset_key for d in scores.deps}
    model_asset = next(a for a in ml_assets if AssetKey(["ml", "propensity_model"]) in a.keys)
    checks = list(model_asset.check_specs)
    assert [c.name for c in checks] == ["propensity_quality_gate"] and checks[0].blocking


def test_import_does_no_mlflow_or_warehouse_work(tmp_path):
    code = (
        "import sys; import dagster_project.ml; "
        "assert 'mlflow' not in sys.modules, 'mlflow imported'; "
        "import os; assert not os.listdir(os.environ['TESSERA_DATA_DIR'])"
    )
    env = dict(os.environ, TESSERA_DATA_DIR=str(tmp_path), DAGSTER_DISABLE_TELEMETRY="1")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_materialize_model_then_scores(tmp_path, monkeypatch):
    from dagster import DagsterInstance, materialize

    from dagster_project.ml import propensity_model, propensity_scores
    from dagster_project.resources import WarehouseResource

    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TESSERA_AS_OF", f"{AS_OF}T00:00:00+00:00")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}")
    orders = small_log(n=700)
    orders = orders[pd.to_datetime(orders["ordered_at"]) < pd.Timestamp(AS_OF)]
    orders = orders.assign(status="completed")
    wh = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(wh))
    con.execute("create schema ml_features")
    con.register("o", orders)
    con.execute("create table ml_features.ml_propensity_orders as select order_id, customer_id, "
                "cast(ordered_at as timestamp) as ordered_at, cast(amount as double) as amount, status from o")
    con.execute("create schema profiles")
    con.execute("create table profiles.dim_customer_profiles as "
                "select distinct customer_id as profile_id from o union all select 'P-no-orders'")
    con.close()

    result = materialize([propensity_model, propensity_scores],
                         resources={"warehouse": WarehouseResource(path=str(wh))},
                         instance=DagsterInstance.ephemeral())
    assert result.success
    md = {e.materialization.asset_key.to_user_string(): e.materialization.metadata
          for e in result.get_asset_materialization_events()}
    model_md, scores_md = md["ml/propensity_model"], md["ml/propensity_scores"]
    assert model_md["auc"].value > 0.6
    assert model_md["model_version"].value == scores_md["model_version"].value == "1"
    checks = result.get_asset_check_evaluations()
    assert [c.check_name for c in checks] == ["propensity_quality_gate"] and checks[0].passed
    con = duckdb.connect(str(wh), read_only=True)
    try:
        n, versions = con.execute("select count(*), list(distinct model_version) from ml.propensity_scores").fetchone()
    finally:
        con.close()
    assert n == orders["customer_id"].nunique() + 1 and versions == ["1"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
