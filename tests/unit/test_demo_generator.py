"""The demo company generator: layout, determinism, counts, mess, truth and planted cases."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tessera.demo.generator import generate

AS_OF = date(2026, 3, 1)
T = datetime(2026, 3, 1, tzinfo=UTC)
N = 1500
SEED = 11

MALFORMED_KEYS = (
    "events_bad_timestamp", "events_missing_message_id", "events_truncated_lines",
    "shop.customers_bad_date_of_birth", "shop.customers_bad_created_at", "shop.customers_missing_customer_id",
    "shop.orders_bad_total_amount", "shop.orders_bad_ordered_at", "shop.orders_missing_order_id",
    "crm.bad_created_at", "crm.missing_id", "loyalty.bad_points_balance", "loyalty.bad_date_of_birth",
    "loyalty.bad_enrolled_at", "loyalty.missing_member_id", "support.bad_created_at", "support.missing_ticket_id",
    "support.truncated_lines", "consent.bad_occurred_at", "consent.missing_consent_id",
    "feedback.bad_occurred_at", "feedback.missing_feedback_id", "feedback.truncated_lines",
)

CONTRACT_FILES = [
    "manifest.json",
    "shop/shop.sqlite",
    "crm/contacts.json",
    "loyalty/members.csv",
    "support/tickets.jsonl",
    "consent/consent_events.csv",
    "feedback/channel_feedback.jsonl",
    "truth/truth.csv",
    "truth/planted.json",
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("demo") / "a"
    manifest = generate(N, SEED, out, AS_OF)
    return out, manifest


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _jsonl(path: Path) -> tuple[list[dict], int]:
    """(parsed objects, number of lines that are not valid JSON)."""
    good, bad = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            good.append(json.loads(line))
        except json.JSONDecodeError:
            bad += 1
    return good, bad


def _csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _events(root: Path) -> tuple[list[dict], int]:
    events, bad = [], 0
    for path in sorted((root / "events").glob("events-*.jsonl")):
        g, b = _jsonl(path)
        events += g
        bad += b
    return events, bad


def _ts(value: str | None) -> datetime | None:
    if not value or not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", value):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _norm_email(value: str | None) -> str | None:
    return value.strip().lower() if value and value.strip() else None


def test_layout_matches_contract(demo):
    root, manifest = demo
    for rel in CONTRACT_FILES:
        assert (root / rel).is_file(), rel
    event_files = sorted((root / "events").glob("events-*.jsonl"))
    assert len(event_files) >= 10  # one per month of a year of history
    assert event_files[0].name == "events-0001.jsonl"
    assert manifest["parameters"] == {"customers": N, "seed": SEED, "as_of": "2026-03-01"}
    assert json.loads((root / "manifest.json").read_text()) == manifest


def test_same_seed_is_byte_identical_and_other_seed_differs(demo, tmp_path):
    root, _ = demo
    generate(N, SEED, tmp_path / "same", AS_OF)
    assert _files(tmp_path / "same") == _files(root)
    generate(N, SEED + 1, tmp_path / "other", AS_OF)
    other = _files(tmp_path / "other")
    assert other.keys() >= {f for f in _files(root) if not f.startswith("events/")}
    for rel in ("crm/contacts.json", "loyalty/members.csv", "truth/truth.csv", "shop/shop.sqlite"):
        assert other[rel] != _files(root)[rel], rel


def test_manifest_counts_match_files(demo):
    root, manifest = demo
    files = manifest["files"]
    for rel, count in files.items():
        path = root / rel
        if rel.endswith(".jsonl"):
            assert len(path.read_bytes().splitlines()) == count, rel
        elif rel.endswith(".csv"):
            assert len(_csv(path)) == count, rel
        elif rel.endswith(".json"):
            assert len(json.loads(path.read_text())) == count, rel
        elif rel.endswith(".sqlite"):
            con = sqlite3.connect(path)
            for table, n in count.items():
                assert con.execute(f"select count(*) from {table}").fetchone()[0] == n, table
            con.close()
    assert manifest["population"]["persons"] == N
    assert 0.6 * N < manifest["population"]["shop_customers"] < 0.8 * N


def test_shop_sqlite_has_expected_tables(demo):
    root, _ = demo
    con = sqlite3.connect(root / "shop" / "shop.sqlite")
    tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
    assert tables == {"customers", "products", "orders", "order_lines"}
    cols = [r[1] for r in con.execute("pragma table_info(customers)")]
    assert cols == ["customer_id", "email", "phone", "first_name", "last_name", "date_of_birth", "street",
                    "city", "postcode", "state", "country", "created_at", "updated_at"]
    assert con.execute("select count(*) from products").fetchone()[0] == 200
    assert con.execute("select count(distinct category) from products").fetchone()[0] == 10
    statuses = dict(con.execute("select status, count(*) from orders group by 1").fetchall())
    assert set(statuses) == {"completed", "cancelled", "refunded"}
    assert statuses["completed"] > 0.8 * sum(statuses.values())
    assert {r[0] for r in con.execute("select distinct channel from orders")} == {"web", "app", "store"}
    # every order line belongs to an order, and orders total their lines
    orphan = con.execute("select count(*) from order_lines where order_id not in (select order_id from orders "
                         "where order_id is not null)").fetchone()[0]
    assert orphan == 0
    mismatch = con.execute(
        """select count(*) from orders o join (select order_id, round(sum(quantity*unit_price), 2) s
           from order_lines group by 1) l using (order_id)
           where typeof(o.total_amount) = 'real' and abs(o.total_amount - l.s) > 0.01""").fetchone()[0]
    assert mismatch == 0
    # all valid order timestamps lie before as_of and within about two years
    for (ts,) in con.execute("select ordered_at from orders"):
        parsed = _ts(ts)
        if parsed:
            assert T - timedelta(days=800) < parsed < T
    con.close()


def test_malformed_rows_are_present(demo):
    root, manifest = demo
    con = sqlite3.connect(root / "shop" / "shop.sqlite")
    bad_amounts = con.execute("select total_amount from orders where typeof(total_amount) = 'text'").fetchall()
    assert bad_amounts and all(not re.fullmatch(r"-?\d+(\.\d+)?", r[0]) for r in bad_amounts)
    assert con.execute("select count(*) from customers where customer_id is null").fetchone()[0] >= 1
    assert con.execute("select count(*) from orders where order_id is null").fetchone()[0] >= 1
    assert con.execute("select count(*) from customers where date_of_birth in "
                       "('2024-13-45','yesterday','31/02/2024','0000-00-00','not a date',"
                       "'2023-02-30T25:61:00Z')").fetchone()[0] >= 1
    con.close()
    events, broken = _events(root)
    assert broken >= 1
    assert any("messageId" not in e for e in events)
    assert any(e.get("timestamp") and _ts(e["timestamp"]) is None for e in events)
    members = _csv(root / "loyalty" / "members.csv")
    assert any(m["points_balance"] and not m["points_balance"].isdigit() for m in members)
    assert any(not m["member_id"] for m in members)
    contacts = json.loads((root / "crm" / "contacts.json").read_text())
    assert any(c["id"] is None for c in contacts)
    tickets, broken_tickets = _jsonl(root / "support" / "tickets.jsonl")
    assert broken_tickets >= 1 and any("ticket_id" not in t for t in tickets)
    consent = _csv(root / "consent" / "consent_events.csv")
    assert any(not c["consent_id"] for c in consent)
    assert any(_ts(c["occurred_at"]) is None for c in consent)
    feedback, broken_feedback = _jsonl(root / "feedback" / "channel_feedback.jsonl")
    assert broken_feedback >= 1 and any("feedback_id" not in f for f in feedback)
    for key in MALFORMED_KEYS + ("households_shared_phone", "households_shared_email", "events_late",
                                 "events_duplicate_messages", "crm.name_nickname", "crm.name_initial"):
        assert manifest["mess"][key] >= 1, key


def test_truth_covers_every_person_bearing_record(demo):
    root, _ = demo
    truth = {r["record_id"]: r["person_id"] for r in _csv(root / "truth" / "truth.csv")}
    assert all(re.fullmatch(r"P\d{7}", p) for p in truth.values())
    con = sqlite3.connect(root / "shop" / "shop.sqlite")
    expected = {f"shop:{c}" for (c,) in con.execute("select customer_id from customers where customer_id is not null")}
    con.close()
    expected |= {f"crm:{c['id']}" for c in json.loads((root / "crm" / "contacts.json").read_text()) if c["id"]}
    expected |= {f"loyalty:{m['member_id']}" for m in _csv(root / "loyalty" / "members.csv") if m["member_id"]}
    tickets, _ = _jsonl(root / "support" / "tickets.jsonl")
    expected |= {f"support:{t['ticket_id']}" for t in tickets if t.get("ticket_id")}
    events, _ = _events(root)
    expected |= {f"web:{e['anonymousId']}" for e in events}
    assert expected == set(truth)
    # the same person shows up in several sources
    per_person = defaultdict(set)
    for rid, p in truth.items():
        per_person[p].add(rid.split(":")[0])
    assert sum(1 for s in per_person.values() if len(s) >= 3) > 0.2 * len(per_person)


def test_planted_duplicates_share_an_identifier(demo):
    root, _ = demo
    planted = json.loads((root / "truth" / "planted.json").read_text())
    truth = {r["record_id"]: r["person_id"] for r in _csv(root / "truth" / "truth.csv")}
    ids: dict[str, set[str]] = {}
    con = sqlite3.connect(root / "shop" / "shop.sqlite")
    for cid, email in con.execute("select customer_id, email from customers where customer_id is not null"):
        ids[f"shop:{cid}"] = {f"cid:{cid}", f"email:{_norm_email(email)}"}
    con.close()
    for c in json.loads((root / "crm" / "contacts.json").read_text()):
        ids[f"crm:{c['id']}"] = {f"cid:{c['customer_id']}", f"email:{_norm_email(c['email'])}"}
    for m in _csv(root / "loyalty" / "members.csv"):
        ids[f"loyalty:{m['member_id']}"] = {f"cid:{m['customer_id'] or None}", f"email:{_norm_email(m['email'])}"}
    tickets, _ = _jsonl(root / "support" / "tickets.jsonl")
    for t in tickets:
        if t.get("ticket_id"):
            ids[f"support:{t['ticket_id']}"] = {f"email:{_norm_email(t['requester_email'])}"}
    dups = planted["duplicates"]
    assert len(dups) >= 5
    for dup in dups:
        recs = dup["record_ids"]
        assert len({r.split(":")[0] for r in recs}) >= 2
        assert all(truth[r] == dup["person_id"] for r in recs)
        # connected through shared normalized email / customer id
        keys = [ids[r] - {"cid:None", "email:None"} for r in recs]
        reached, frontier = set(keys[0]), True
        linked = {0}
        while frontier:
            frontier = False
            for i, k in enumerate(keys):
                if i not in linked and k & reached:
                    linked.add(i)
                    reached |= k
                    frontier = True
        assert linked == set(range(len(recs))), dup
        assert f"email:{dup['shared']['email']}" in reached
    # the raw values really differ (names / case / whitespace) across a duplicate's records
    contacts = {c["id"]: c for c in json.loads((root / "crm" / "contacts.json").read_text())}
    crm_names = [contacts[r.split(":")[1]]["full_name"] for d in dups for r in d["record_ids"] if r.startswith("crm:")]
    assert any(n != d["name"] for n, d in zip(crm_names, dups, strict=True))


def _shop_orders(root: Path) -> dict[str, list[tuple[datetime, str, float | None]]]:
    con = sqlite3.connect(root / "shop" / "shop.sqlite")
    out = defaultdict(list)
    for cid, ts, status, amount in con.execute("select customer_id, ordered_at, status, total_amount from orders"):
        out[cid].append((_ts(ts), status, amount if isinstance(amount, float) else None))
    con.close()
    return out


def _member(segment: str, cid: str, root: Path, cache: dict) -> bool:
    """A tiny reference evaluator of the four demo segments, straight from the source files."""
    if "orders" not in cache:
        cache["orders"] = _shop_orders(root)
        cache["events"] = _events(root)[0]
        cache["consent"] = _csv(root / "consent" / "consent_events.csv")
        cache["loyalty"] = {m["customer_id"] for m in _csv(root / "loyalty" / "members.csv") if m["customer_id"]}
    orders = [o for o in cache["orders"].get(cid, []) if o[0]]
    last = max((o[0] for o in orders), default=None)
    days_since = (T - last).days if last else None
    if segment == "cart_abandoners_7d":
        mine = [e for e in cache["events"] if e.get("userId") == cid and e.get("type") == "track" and _ts(e.get("timestamp"))]
        recent = [e for e in mine if T - _ts(e["timestamp"]) <= timedelta(days=7)]
        return any(e["event"] == "Product Added" for e in recent) and not any(
            e["event"] == "Order Completed" for e in recent)
    if segment == "high_value_at_risk":
        ltv = sum(o[2] or 0 for o in orders if o[1] == "completed")
        return ltv >= 500 and days_since is not None and days_since >= 90
    if segment == "new_subscribers":
        rows = sorted((c for c in cache["consent"] if c["customer_id"] == cid and c["channel"] == "email"
                       and c["purpose"] == "marketing" and _ts(c["occurred_at"])), key=lambda c: c["occurred_at"])
        if not rows or rows[-1]["status"] != "opt_in":
            return False
        return T - _ts(rows[-1]["occurred_at"]) <= timedelta(days=14)
    if segment == "lapsed_loyalty":
        return cid in cache["loyalty"] and (days_since is None or days_since >= 180)
    raise AssertionError(segment)


def test_planted_segment_cases_hold_in_the_source_files(demo):
    root, _ = demo
    planted = json.loads((root / "truth" / "planted.json").read_text())
    segments = {p.stem for p in (Path(__file__).parents[2] / "config" / "segments").glob("*.yml")}
    assert set(planted["segments"]) >= segments
    truth = {r["record_id"]: r["person_id"] for r in _csv(root / "truth" / "truth.csv")}
    cache: dict = {}
    for segment, cases in planted["segments"].items():
        assert len(cases["members"]) >= 3 and len(cases["non_members"]) >= 3
        for case in cases["members"]:
            assert truth[case["record_id"]] == case["person_id"]
            assert _member(segment, case["customer_id"], root, cache), (segment, case)
        for case in cases["non_members"]:
            assert not _member(segment, case["customer_id"], root, cache), (segment, case)


def test_events_follow_the_segment_spec(demo):
    root, _ = demo
    events, _ = _events(root)
    types = {e["type"] for e in events}
    assert types == {"identify", "track", "page", "screen"}
    names = {e.get("event") for e in events if e["type"] == "track"}
    assert names == {"Product Viewed", "Product Added", "Checkout Started", "Order Completed"}
    ids = [e["messageId"] for e in events if "messageId" in e]
    assert len(ids) > len(set(ids))  # duplicates repeat a messageId
    late = [e for e in events if _ts(e.get("timestamp")) and
            _ts(e["receivedAt"]) - _ts(e["timestamp"]) > timedelta(days=1)]
    assert late
    for e in events:
        if e["type"] == "page":
            assert "page" in e["context"]
        if e["type"] == "screen":
            assert e["context"]["device"]["type"] in ("ios", "android")
        if e["type"] == "identify":
            assert e["userId"] and set(e["traits"]) == {"email", "phone", "firstName", "lastName"}
        ts = _ts(e.get("timestamp"))
        if ts:
            assert T - timedelta(days=366) <= ts < T
    # Order Completed matches a shop order
    con = sqlite3.connect(root / "shop" / "shop.sqlite")
    orders = {o: (c, a) for o, c, a in con.execute("select order_id, customer_id, total_amount from orders")}
    con.close()
    completed = [e for e in events if e.get("event") == "Order Completed"]
    assert completed
    for e in completed:
        cid, amount = orders[e["properties"]["order_id"]]
        assert e["userId"] == cid
        if isinstance(amount, float):
            assert abs(e["properties"]["revenue"] - amount) < 0.01
    # some visitors browse anonymously first and identify later
    by_anon = defaultdict(list)
    for e in events:
        if _ts(e.get("timestamp")):
            by_anon[e["anonymousId"]].append(e)
    identified_later = 0
    never = 0
    for evs in by_anon.values():
        evs.sort(key=lambda e: e["timestamp"])
        if any(e["type"] == "identify" for e in evs):
            first_identify = next(i for i, e in enumerate(evs) if e["type"] == "identify")
            identified_later += any(evs[i]["userId"] is None for i in range(first_identify))
        else:
            never += all(e["userId"] is None for e in evs)
    assert identified_later > 0
    assert 0.15 < never / len(by_anon) < 0.5


def test_channel_feedback_is_funnel_consistent(demo):
    root, _ = demo
    rows, _ = _jsonl(root / "feedback" / "channel_feedback.jsonl")
    by_msg = defaultdict(set)
    meta = {}
    for r in rows:
        by_msg[r["message_id"]].add(r["event_type"])
        meta[r["message_id"]] = (r["offer_id"], r["channel"])
        assert r["customer_id"] or r["email"]
    offers = {m[0] for m in meta.values()}
    assert offers == {"cart_reminder_10", "vip_winback_20", "welcome_free_shipping", "loyalty_double_points",
                      "new_arrivals", "default_newsletter"}
    assert {m[1] for m in meta.values()} == {"email", "sms", "push", "web"}
    for msg, evs in by_msg.items():
        assert "delivered" in evs
        if "converted" in evs:
            assert "clicked" in evs
        if "clicked" in evs and meta[msg][1] in ("email", "push"):
            assert "opened" in evs
        if meta[msg][1] in ("sms", "web"):
            assert "opened" not in evs


def test_purchase_history_carries_signal(demo):
    """Recency before a cut-off predicts buying after it (what the propensity model learns)."""
    from sklearn.metrics import roc_auc_score

    root, _ = demo
    cut = T - timedelta(days=90)
    labels, scores = [], []
    for cid, orders in _shop_orders(root).items():
        past = [o[0] for o in orders if o[0] and o[0] < cut]
        if not past or cid is None:
            continue
        labels.append(int(any(o[0] and o[0] >= cut for o in orders)))
        scores.append(-(cut - max(past)).days)
    assert 0 < sum(labels) < len(labels)
    assert roc_auc_score(labels, scores) > 0.62


def test_rejects_tiny_populations(tmp_path):
    with pytest.raises(ValueError):
        generate(10, 1, tmp_path / "x", AS_OF)
