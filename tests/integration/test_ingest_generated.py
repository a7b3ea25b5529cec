"""The ingest stage on the demo generator's output (300 customers) and as Dagster assets:
every planted malformed row lands in the quarantine, accounting balances, reruns add nothing."""

import dagster as dg
import duckdb
import pytest

from dagster_project.ingest import ingest_assets
from tessera.demo.crm_server import serve_in_background
from tessera.demo.generator import generate
from tessera.sources import SOURCE_NAMES, raw_tables


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("generated")
    manifest = generate(300, 11, root / "demo", "2026-11-20")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TESSERA_DATA_DIR", str(root / "data"))
        mp.setenv("TESSERA_WAREHOUSE", str(root / "data" / "warehouse.duckdb"))
        mp.setenv("TESSERA_DEMO_DIR", str(root / "demo"))
        mp.delenv("TESSERA_CONFIG_DIR", raising=False)
        with serve_in_background(root / "demo" / "crm" / "contacts.json") as url:
            mp.setenv("TESSERA_CRM_URL", url)
            first = dg.materialize(ingest_assets, instance=dg.DagsterInstance.ephemeral())
            second = dg.materialize(ingest_assets, instance=dg.DagsterInstance.ephemeral())
    return root, manifest, first, second


def _metadata(result, asset_key: str) -> dict:
    (event,) = [
        e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset_key
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_assets_materialize_and_checks_pass(generated):
    _root, _manifest, first, second = generated
    assert first.success and second.success
    evaluations = first.get_asset_check_evaluations()
    expected_checks = sum(len(raw_tables(s)) for s in SOURCE_NAMES) + 1
    assert len(evaluations) == expected_checks
    assert all(e.passed for e in evaluations)
    meta = _metadata(first, "raw/events")
    assert meta["rows_read"] == meta["rows_loaded"] + meta["rows_quarantined"]
    assert meta["rows_quarantined"] > 0
    second_meta = _metadata(second, "raw/events")
    assert second_meta["rows_read"] == 0
    audit = _metadata(first, "raw/quarantine")
    assert audit["rows_total"] > 0


def test_planted_malformed_rows_are_quarantined(generated):
    root, manifest, _first, _second = generated
    mess = manifest["mess"]
    with duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True) as con:
        quarantined = dict(con.execute("select source, count(*) from raw.quarantine group by 1").fetchall())
        events = con.execute("select count(*), count(distinct message_id) from raw.events").fetchall()[0]
        log = con.execute(
            "select source, source_table, rows_read, rows_loaded, rows_quarantined from raw.ingest_log"
        ).fetchall()
    assert quarantined["events"] == (
        mess["events_bad_timestamp"] + mess["events_missing_message_id"] + mess["events_truncated_lines"]
    )
    assert quarantined["shop"] == (
        mess["shop.customers_bad_created_at"] + mess["shop.customers_missing_customer_id"]
        + mess["shop.orders_bad_ordered_at"] + mess["shop.orders_bad_total_amount"]
        + mess["shop.orders_missing_order_id"]
    )
    assert quarantined["consent"] == mess["consent.bad_occurred_at"] + mess["consent.missing_consent_id"]
    assert events[0] == events[1]  # merged on message_id
    assert all(r == lo + q for _s, _t, r, lo, q in log)
    # second materialization: every table read 0 rows
    second_rows = [row for row in log if row[2:] == (0, 0, 0)]
    assert len(second_rows) == sum(len(raw_tables(s)) for s in SOURCE_NAMES)
