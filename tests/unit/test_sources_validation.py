"""Unit tests of the ingest stage's validation, flattening, quarantine ids and file readers."""

from datetime import UTC, datetime

import pytest

from tessera.sources.base import read_csv, read_jsonl
from tessera.sources.contract import EVENTS, SHOP_ORDERS, SPECS_BY_SOURCE, raw_tables
from tessera.sources.events import flatten_message
from tessera.sources.quarantine import quarantine_id
from tessera.sources.validation import (
    InvalidValue,
    parse_float,
    parse_int,
    parse_timestamp,
    validate_row,
)


def test_parse_timestamp_to_utc():
    assert parse_timestamp("2026-11-20T14:03:11Z") == datetime(2026, 11, 20, 14, 3, 11, tzinfo=UTC)
    assert parse_timestamp("2026-11-20T15:03:11+01:00") == datetime(2026, 11, 20, 14, 3, 11, tzinfo=UTC)
    assert parse_timestamp("2026-11-20 14:03:11") == datetime(2026, 11, 20, 14, 3, 11, tzinfo=UTC)
    for bad in ("yesterday", "2024-13-45", "31/02/2024", "0000-00-00", "2023-02-30T25:61:00Z", "", 5):
        with pytest.raises(InvalidValue, match="not an ISO 8601 timestamp"):
            parse_timestamp(bad)


def test_parse_numbers():
    assert parse_float("12.99") == 12.99
    assert parse_float(3) == 3.0
    assert parse_int("1200") == 1200
    assert parse_int(4.0) == 4
    with pytest.raises(InvalidValue, match="not a number: '12,99 EUR'"):
        parse_float("12,99 EUR")
    for bad in ("1,200", "two", 1.5, True):
        with pytest.raises(InvalidValue, match="not an integer"):
            parse_int(bad)
    with pytest.raises(InvalidValue):
        parse_float("nan")


def test_validate_row_types_and_reasons():
    row = {
        "order_id": "O1", "customer_id": "C1", "ordered_at": "2026-11-20T10:00:00Z",
        "status": "completed", "currency": "EUR", "total_amount": "12.5", "channel": "web",
        "updated_at": "2026-11-20T10:00:00Z", "not_in_contract": "x",
    }
    typed = validate_row(SHOP_ORDERS, row)
    assert list(typed) == list(SHOP_ORDERS.columns)  # exactly the contract columns
    assert typed["total_amount"] == 12.5
    assert typed["ordered_at"].tzinfo is not None
    with pytest.raises(InvalidValue, match=r"^orders.total_amount: not a number: '12,99 EUR'$"):
        validate_row(SHOP_ORDERS, {**row, "total_amount": "12,99 EUR"})
    with pytest.raises(InvalidValue, match=r"^orders.order_id: missing required value$"):
        validate_row(SHOP_ORDERS, {**row, "order_id": None})


def test_flatten_segment_message():
    message = {
        "messageId": "m-1", "type": "track", "event": "Order Completed", "anonymousId": "a1",
        "userId": "C0000001", "timestamp": "2026-11-20T14:03:11Z", "receivedAt": "2026-11-22T00:00:00Z",
        "context": {"ip": "1.2.3.4", "userAgent": "UA", "library": {"name": "js"},
                    "device": {"id": "d1", "type": "ios", "token": "tok"}},
        "traits": {"firstName": "Ann"},
        "properties": {"revenue": "37.5", "products": [{"product_id": "P1", "price": 12, "quantity": 2, "sku": "s"}]},
        "_source_file": "events-0001.jsonl",
    }
    row = flatten_message(EVENTS, message)
    assert set(row) == set(EVENTS.columns) | {"properties__products"}
    assert row["message_id"] == "m-1" and row["anonymous_id"] == "a1"
    assert row["context__device__token"] == "tok" and row["traits__first_name"] == "Ann"
    assert row["properties__revenue"] == 37.5 and row["sent_at"] is None
    assert row["properties__products"] == [{"product_id": "P1", "category": None, "price": 12.0, "quantity": 2}]
    with pytest.raises(InvalidValue, match=r"events.properties.products\[0\].price: not a number"):
        flatten_message(EVENTS, {**message, "properties": {"products": [{"price": "x"}]}})
    with pytest.raises(InvalidValue, match="events.messageId: missing required value"):
        flatten_message(EVENTS, {**message, "messageId": ""})


def test_quarantine_id_is_deterministic():
    a = quarantine_id("shop", "shop_orders", '{"order_id": "O1"}')
    assert a == quarantine_id("shop", "shop_orders", '{"order_id": "O1"}')
    assert a != quarantine_id("shop", "shop_customers", '{"order_id": "O1"}')
    assert len(a) == 32


def test_readers_keep_original_text(tmp_path):
    csv_file = tmp_path / "m.csv"
    csv_file.write_text('a,b,c\n1,"x, y",\n2,3\n', encoding="utf-8")
    rows = list(read_csv(csv_file, "m.csv"))
    assert rows[0].record == {"a": "1", "b": "x, y", "c": None}
    assert rows[0].text == '1,"x, y",' and rows[0].line_no == 2
    assert rows[1].error == "expected 3 fields, got 2" and rows[1].text == "2,3"

    jsonl = tmp_path / "e.jsonl"
    jsonl.write_text('{"a": 1}\n\n{"a": \n[1]\n', encoding="utf-8")
    lines = list(read_jsonl(jsonl, "e.jsonl"))
    assert [line.line_no for line in lines] == [1, 3, 4]
    assert lines[0].record == {"a": 1}
    assert lines[1].error.startswith("invalid JSON") and lines[1].text == '{"a": '
    assert lines[2].error == "not a JSON object: list"


def test_every_source_declares_its_raw_tables():
    assert raw_tables("events") == ["events", "events__properties__products"]
    assert raw_tables("shop") == ["shop_customers", "shop_products", "shop_orders", "shop_order_lines"]
    assert set(SPECS_BY_SOURCE) == {"events", "shop", "crm", "loyalty", "support", "consent", "feedback"}
