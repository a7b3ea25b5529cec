"""The ingest assets: keys raw/<table>, group, kinds, row-accounting checks; no DuckDB at import."""

import dagster as dg

from dagster_project.ingest import ingest_asset_checks, ingest_assets
from tessera.sources.contract import SPECS_BY_SOURCE, raw_tables


def test_ingest_asset_keys_and_checks():
    defs = dg.Definitions(assets=ingest_assets, asset_checks=ingest_asset_checks)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    expected = {f"raw/{t}" for s in SPECS_BY_SOURCE for t in raw_tables(s)}
    assert keys == expected | {"raw/quarantine", "raw/ingest_log"}
    assert "raw/events__properties__products" in keys
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name == "ingest"
        assert {"dlt", "duckdb"} <= set(node.kinds)
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert ("raw/shop_orders", "row_accounting") in checks
    assert ("raw/ingest_log", "row_accounting") in checks
    names = {a.node_def.name for a in ingest_assets}
    assert names == {f"ingest_{s}" for s in SPECS_BY_SOURCE} | {"ingest_audit"}
