"""Every source, end to end, into a throw-away DuckDB: loaded rows, quarantine with reasons, row
accounting, and that a second run loads nothing new. Uses the small fixture company of
tessera.sources.testing (planted bad rows listed in PLANTED)."""

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from tessera.demo.crm_server import serve_in_background
from tessera.sources import SOURCE_NAMES, IngestResult, raw_tables, run_source
from tessera.sources.contract import QUARANTINE_COLUMNS, SPECS_BY_SOURCE
from tessera.sources.quarantine import quarantine_id
from tessera.sources.testing import EVENTS_1, LOYALTY_CSV, PLANTED, write_fixture_demo

DLT_COLUMNS = {"_dlt_load_id", "_dlt_id"}


@dataclass
class Ingested:
    root: Path
    warehouse: Path
    first: dict[str, IngestResult]
    second: dict[str, IngestResult]
    counts_first: dict[str, int]
    counts_second: dict[str, int]

    def query(self, sql, params=None):
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()


def _table_counts(warehouse: Path) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema='raw' "
            "and table_name not like '\\_dlt%' escape '\\'").fetchall()]
        return {t: con.execute(f'select count(*) from raw."{t}"').fetchall()[0][0] for t in tables}


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    root = tmp_path_factory.mktemp("ingest")
    demo = write_fixture_demo(root / "demo")
    warehouse = root / "data" / "warehouse.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TESSERA_DATA_DIR", str(root / "data"))
        mp.setenv("TESSERA_WAREHOUSE", str(warehouse))
        mp.setenv("TESSERA_DEMO_DIR", str(demo))
        mp.delenv("TESSERA_CONFIG_DIR", raising=False)
        with serve_in_background(demo / "crm" / "contacts.json") as url:
            mp.setenv("TESSERA_CRM_URL", url)
            first = {name: run_source(name) for name in SOURCE_NAMES}
            counts_first = _table_counts(warehouse)
            second = {name: run_source(name) for name in SOURCE_NAMES}
            counts_second = _table_counts(warehouse)
    return Ingested(root, warehouse, first, second, counts_first, counts_second)


def test_first_run_counts(ingested):
    for source, tables in PLANTED.items():
        result = ingested.first[source]
        assert set(result.tables) == set(raw_tables(source))
        for table, (read, loaded, quarantined) in tables.items():
            counts = result.tables[table]
            assert (counts.rows_read, counts.rows_loaded, counts.rows_quarantined) == (
                read, loaded, quarantined,
            ), f"{source}.{table}"
            assert counts.balanced
        assert result.load_ids and result.duration_s > 0


def test_second_run_adds_nothing(ingested):
    for result in ingested.second.values():
        for table, counts in result.tables.items():
            assert (counts.rows_read, counts.rows_loaded, counts.rows_quarantined) == (0, 0, 0), table
    grew = {t: n for t, n in ingested.counts_second.items() if n != ingested.counts_first.get(t)}
    # only the append-only log grows: one row per raw table per run
    n_tables = sum(len(raw_tables(s)) for s in SOURCE_NAMES)
    assert grew == {"ingest_log": ingested.counts_first["ingest_log"] + n_tables}


def test_raw_tables_have_exactly_the_contract_columns(ingested):
    rows = ingested.query(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = 'raw'"
    )
    columns: dict[str, dict[str, str]] = {}
    for table, column, dtype in rows:
        columns.setdefault(table, {})[column] = dtype
    expected_type = {"text": "VARCHAR", "double": "DOUBLE", "bigint": "BIGINT",
                     "timestamp": "TIMESTAMP WITH TIME ZONE"}
    for specs in SPECS_BY_SOURCE.values():
        for spec in specs:
            got = columns[spec.table]
            assert set(got) - DLT_COLUMNS == set(spec.columns), spec.table
            for column, dtype in spec.columns.items():
                assert got[column] == expected_type[dtype], f"{spec.table}.{column}"
    child = columns["events__properties__products"]
    assert {"product_id", "category", "price", "quantity", "_dlt_parent_id", "_dlt_list_idx"} <= set(child)
    assert child["price"] == "DOUBLE" and child["quantity"] == "BIGINT"
    assert set(columns["quarantine"]) - DLT_COLUMNS == set(QUARANTINE_COLUMNS)
    assert columns["quarantine"]["quarantined_at"] == "TIMESTAMP WITH TIME ZONE"


def test_events_flattened_and_deduplicated(ingested):
    ids = [r[0] for r in ingested.query("select message_id from raw.events order by 1")]
    assert ids == ["m-1", "m-2", "m-3", "m-4", "m-7"]  # m-2 appears twice in the files
    (m1,) = ingested.query(
        "select type, user_id, traits__email, traits__first_name, context__page__path, _source_file, "
        "timestamp from raw.events where message_id = 'm-1'")
    assert m1[:6] == ("identify", "C0000001", "ann@example.com", "Ann", "/p/1", "events-0001.jsonl")
    assert m1[6].utcoffset().total_seconds() == 0
    (m3,) = ingested.query(
        "select context__device__id, context__device__token, context__campaign__name, "
        "properties__revenue, _dlt_id from raw.events where message_id = 'm-3'")
    assert m3[:4] == ("dev-1", "push-tok-1", "winter", 37.5)
    products = ingested.query(
        "select product_id, category, price, quantity, _dlt_list_idx from raw.events__properties__products "
        "where _dlt_parent_id = ? order by _dlt_list_idx", [m3[4]])
    assert products == [("P001", "home", 12.5, 1, 0), ("P002", "garden", 25.0, 1, 1)]


def test_quarantine_rows_and_reasons(ingested):
    rows = ingested.query(
        "select quarantine_id, source, source_table, record_key, raw_payload, reason, quarantined_at "
        "from raw.quarantine")
    assert len(rows) == len({r[0] for r in rows}) == sum(
        q for tables in PLANTED.values() for (_r, _l, q) in tables.values())
    by_reason = {r[5]: r for r in rows}
    expected = {
        "orders.total_amount: not a number: '12,99 EUR'": ("shop", "shop_orders", "O0000003"),
        "order_lines.quantity: not an integer: 'two'": ("shop", "shop_order_lines", "OL0000003"),
        "customers.updated_at: not an ISO 8601 timestamp: 'not-a-date'": ("shop", "shop_customers", "C0000003"),
        "contacts.id: missing required value": ("crm", "crm_contacts", None),
        "members.csv line 4: members.points_balance: not an integer: '1,200'": ("loyalty", "loyalty_members", "L0000003"),
        "members.csv line 5: expected 12 fields, got 6": ("loyalty", "loyalty_members", None),
        "tickets.jsonl line 3: tickets.csat: not an integer: 'great'": ("support", "support_tickets", "T0000003"),
        "consent_events.csv line 4: consent_events.occurred_at: not an ISO 8601 timestamp: '31/12/2026'": (
            "consent", "consent_events", "CS0000003"),
        "channel_feedback.jsonl line 3: channel_feedback.revenue: not a number: 'n/a'": (
            "feedback", "channel_feedback", "F0000003"),
        "events-0001.jsonl line 6: events.timestamp: not an ISO 8601 timestamp: '20/11/2026 14:03'": (
            "events", "events", "m-5"),
        "events-0001.jsonl line 7: events.messageId: missing required value": ("events", "events", None),
        "events-0001.jsonl line 8: events.properties.price: not a number: 'abc'": ("events", "events", "m-6"),
    }
    for reason, (source, table, key) in expected.items():
        assert reason in by_reason, reason
        assert by_reason[reason][1:4] == (source, table, key)
    # the original line is kept verbatim, and the id is the hash of (source, table, payload)
    bad_json = [r for r in rows if r[5].startswith("events-0001.jsonl line 5: invalid JSON")]
    assert bad_json and bad_json[0][4] == EVENTS_1[4]
    assert by_reason["members.csv line 4: members.points_balance: not an integer: '1,200'"][4] == (
        LOYALTY_CSV.splitlines()[3])
    order = by_reason["orders.total_amount: not a number: '12,99 EUR'"]
    assert json.loads(order[4])["total_amount"] == "12,99 EUR"
    for qid, source, table, _key, payload, _reason, _at in rows:
        assert qid == quarantine_id(source, table, payload)


def test_ingest_log_rows(ingested):
    rows = ingested.query(
        "select run_id, source, source_table, rows_read, rows_loaded, rows_quarantined "
        "from raw.ingest_log")
    first_run = {(r[1], r[2]): r[3:] for r in rows if r[0] == ingested.first[r[1]].run_id}
    assert first_run[("shop", "shop_orders")] == (3, 2, 1)
    assert first_run[("events", "events__properties__products")] == (2, 2, 0)
    assert all(read == loaded + quarantined for _, _, _, read, loaded, quarantined in rows)
    assert len(rows) == 2 * sum(len(raw_tables(s)) for s in SOURCE_NAMES)


def test_incremental_changes_are_picked_up(ingested, monkeypatch):
    """New/updated rows load on the next run; rows seen before are skipped or merged."""
    root = ingested.root
    monkeypatch.setenv("TESSERA_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("TESSERA_WAREHOUSE", str(ingested.warehouse))
    monkeypatch.setenv("TESSERA_DEMO_DIR", str(root / "demo"))
    with sqlite3.connect(root / "demo" / "shop" / "shop.sqlite") as con:
        con.execute("update orders set status = 'cancelled', updated_at = '2026-11-23T08:00:00Z' "
                    "where order_id = 'O0000001'")
        con.execute("insert into orders values ('O0000004', 'C0000001', '2026-11-23T09:00:00Z', "
                    "'completed', 'EUR', 9.5, 'web', '2026-11-23T09:00:00Z')")
    con.close()
    shop = run_source("shop")
    assert (shop.tables["shop_orders"].rows_read, shop.tables["shop_orders"].rows_loaded) == (2, 2)
    assert shop.tables["shop_customers"].rows_read == 0 and shop.balanced
    assert ingested.query("select status from raw.shop_orders where order_id = 'O0000001'") == [("cancelled",)]
    assert ingested.query("select count(*) from raw.shop_orders") == [(3,)]

    # a changed file is read again: known bad rows are not re-quarantined, good rows merge
    members = root / "demo" / "loyalty" / "members.csv"
    members.write_text(members.read_text() + "L0000005,,new@example.com,,New,Member,,bronze,5,"
                       "2026-11-23T00:00:00Z,,2026-11-23T00:00:00Z\n")
    loyalty = run_source("loyalty")
    counts = loyalty.tables["loyalty_members"]
    assert (counts.rows_read, counts.rows_loaded, counts.rows_quarantined) == (3, 3, 0)
    assert ingested.query("select count(*) from raw.loyalty_members") == [(3,)]
    assert ingested.query("select count(*) from raw.quarantine where source = 'loyalty'") == [(2,)]
