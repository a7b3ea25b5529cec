"""The activation assets: built from YAML without a warehouse, and materializable."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project.activate import build_sync_assets

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"


class _Warehouse(dg.ConfigurableResource):
    path: str = ""


def test_demo_config_builds_one_asset_per_enabled_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESSERA_WAREHOUSE", str(tmp_path / "must-not-exist.duckdb"))
    assets = build_sync_assets(REPO_CONFIG)
    by_key = {a.key.to_user_string(): a for a in assets}
    assert "activation/sync_run__crm_profiles" in by_key and "activation/sync_run__email_decisions" in by_key
    crm = by_key["activation/sync_run__crm_profiles"]
    spec = crm.specs_by_key[crm.key]
    assert spec.group_name == "activation"
    assert spec.kinds == {"reverse_etl", "webhook"}
    assert {dep.asset_key for dep in spec.deps} == {dg.AssetKey(["activation", "sync_crm__profiles"])}
    assert not (tmp_path / "must-not-exist.duckdb").exists()


def test_asset_materializes_with_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "data"))
    cfg = tmp_path / "config"
    (cfg / "syncs").mkdir(parents=True)
    (cfg / "destinations.yml").write_text("destinations:\n  box: {type: file_outbox, path: box}\n")
    (cfg / "syncs" / "things.yml").write_text(
        "model: activation.sync_test__things\nprimary_key: id\ndestination: box\nmode: mirror\n"
    )
    (cfg / "syncs" / "off.yml").write_text(
        "model: activation.sync_test__things\nprimary_key: id\ndestination: box\nenabled: false\n"
    )
    wh = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(wh))
    con.execute(
        "CREATE SCHEMA activation; CREATE TABLE activation.sync_test__things AS SELECT range AS id FROM range(7)"
    )
    con.close()

    assets = build_sync_assets(cfg)
    assert [a.key.path for a in assets] == [["activation", "sync_run__things"]]
    result = dg.materialize(assets, resources={"warehouse": _Warehouse(path=str(wh))})
    assert result.success
    [mat] = result.asset_materializations_for_node(assets[0].op.name)
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert meta["status"] == "success" and meta["rows_planned"] == 7 and meta["rows_acked"] == 7
    assert meta["rows_skipped_consent"] == 0 and meta["destination"] == "box (file_outbox)"
    assert len(list((tmp_path / "data" / "outbox" / "box").glob("*.jsonl"))) == 1
