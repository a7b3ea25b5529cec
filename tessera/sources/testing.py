"""Small source fixtures with planted bad rows, for tests of the ingest stage.

``write_fixture_demo(dir)`` writes a tiny demo company in the Contract 1 layout; ``PLANTED`` lists
what each source should load and quarantine. Serve ``crm/contacts.json`` with
``tessera.demo.crm_server.serve_in_background``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any


def _event(mid: str, **fields: Any) -> dict[str, Any]:
    base = {
        "messageId": mid,
        "type": "track",
        "anonymousId": "anon-1",
        "userId": None,
        "timestamp": "2026-11-20T14:03:11Z",
        "sentAt": "2026-11-20T14:03:12Z",
        "receivedAt": "2026-11-20T14:03:13Z",
        "context": {
            "ip": "10.0.0.1",
            "userAgent": "Mozilla/5.0",
            "library": {"name": "analytics.js", "version": "4.1.0"},
            "page": {"url": "https://shop.example/p/1", "path": "/p/1", "referrer": "", "title": "P1"},
        },
    }
    base.update(fields)
    return base


EVENTS_1 = [
    json.dumps(
        _event(
            "m-1",
            type="identify",
            userId="C0000001",
            traits={"email": "ann@example.com", "phone": "+4915112345678", "firstName": "Ann", "lastName": "Lee"},
        )
    ),
    json.dumps(
        _event(
            "m-2",
            event="Product Viewed",
            properties={"product_id": "P001", "name": "Mug", "category": "home", "price": 12.5, "quantity": 1},
        )
    ),
    json.dumps(
        _event(
            "m-3",
            event="Order Completed",
            userId="C0000001",
            context={
                "ip": "10.0.0.2",
                "userAgent": "TesseraApp/1.0",
                "device": {"id": "dev-1", "type": "ios", "token": "push-tok-1"},
                "campaign": {"source": "newsletter", "medium": "email", "name": "winter"},
            },
            properties={
                "order_id": "O0000001",
                "revenue": 37.5,
                "currency": "EUR",
                "products": [
                    {"product_id": "P001", "category": "home", "price": 12.5, "quantity": 1},
                    {"product_id": "P002", "category": "garden", "price": 25, "quantity": 1, "sku": "x"},
                ],
            },
        )
    ),
    json.dumps(_event("m-4", type="page", name="Home")),
    '{"messageId": "m-bad-json", "type": "track", ',  # truncated line
    json.dumps(_event("m-5", timestamp="20/11/2026 14:03")),
    json.dumps(_event("", event="Product Added")),
    json.dumps(_event("m-6", event="Product Added", properties={"product_id": "P001", "price": "abc"})),
]
EVENTS_2 = [
    json.dumps(_event("m-2", event="Product Viewed", properties={"product_id": "P001", "price": 12.5})),
    json.dumps(_event("m-7", type="screen", name="Cart", context={"device": {"id": "dev-1", "type": "ios"}})),
]

SHOP = {
    "customers": (
        ("customer_id TEXT PRIMARY KEY, email TEXT, phone TEXT, first_name TEXT, last_name TEXT, "
        "date_of_birth TEXT, street TEXT, city TEXT, postcode TEXT, state TEXT, country TEXT, "
        "created_at TEXT, updated_at TEXT"),
        [
            ("C0000001", "ann@example.com", "+4915112345678", "Ann", "Lee", "1990-02-03", "Main St 1",
             "Berlin", "10115", "BE", "DE", "2025-01-01T10:00:00Z", "2026-11-01T10:00:00Z"),
            ("C0000002", "bob@example.com", None, "Bob", "Ray", "03/04/1985", None, "Hamburg", "20095",
             None, "DE", "2025-02-01T10:00:00Z", "2026-11-02T10:00:00Z"),
            ("C0000003", "cy@example.com", None, "Cy", "Ng", None, None, None, None, None, "DE",
             "2025-03-01T10:00:00Z", "not-a-date"),
        ],
    ),
    "products": (
        "product_id TEXT PRIMARY KEY, name TEXT, category TEXT, price REAL, updated_at TEXT",
        [
            ("P001", "Mug", "home", 12.5, "2026-01-01T00:00:00Z"),
            ("P002", "Rake", "garden", 25.0, "2026-01-01T00:00:00Z"),
        ],
    ),
    "orders": (
        ("order_id TEXT PRIMARY KEY, customer_id TEXT, ordered_at TEXT, status TEXT, currency TEXT, "
        "total_amount REAL, channel TEXT, updated_at TEXT"),
        [
            ("O0000001", "C0000001", "2026-11-20T14:05:00Z", "completed", "EUR", 37.5, "app",
             "2026-11-20T14:05:00Z"),
            ("O0000002", "C0000002", "2026-11-21T09:00:00+01:00", "refunded", "EUR", 12.5, "web",
             "2026-11-22T09:00:00Z"),
            ("O0000003", "C0000002", "2026-11-21T10:00:00Z", "completed", "EUR", "12,99 EUR", "store",
             "2026-11-21T10:00:00Z"),
        ],
    ),
    "order_lines": (
        ("order_line_id TEXT PRIMARY KEY, order_id TEXT, product_id TEXT, quantity INTEGER, "
        "unit_price REAL, updated_at TEXT"),
        [
            ("OL0000001", "O0000001", "P001", 1, 12.5, "2026-11-20T14:05:00Z"),
            ("OL0000002", "O0000001", "P002", 1, 25.0, "2026-11-20T14:05:00Z"),
            ("OL0000003", "O0000002", "P001", "two", 12.5, "2026-11-22T09:00:00Z"),
        ],
    ),
}

CONTACTS = [
    {"id": "CRM-0000001", "full_name": "Ann Lee", "first_name": "Ann", "last_name": "Lee",
     "email": "ann@example.com", "phone": "+49 151 12345678", "company": "Acme", "job_title": "CTO",
     "customer_id": "C0000001", "lifecycle_stage": "customer", "created_at": "2025-01-01T00:00:00Z",
     "updated_at": "2026-10-01T00:00:00Z"},
    {"id": "CRM-0000002", "full_name": "Dee Fox", "first_name": "Dee", "last_name": "Fox",
     "email": "dee@example.com", "phone": None, "company": None, "job_title": None,
     "customer_id": None, "lifecycle_stage": "lead", "created_at": "2025-01-02T00:00:00Z",
     "updated_at": "2026-10-02T00:00:00Z"},
    {"id": "CRM-0000003", "full_name": "Eve Park", "first_name": "Eve", "last_name": "Park",
     "email": "eve@example.com", "phone": None, "company": "Initech", "job_title": None,
     "customer_id": None, "lifecycle_stage": "lead", "created_at": "2025-01-03T00:00:00Z",
     "updated_at": "2026-10-03T00:00:00Z"},
    {"id": None, "full_name": "No Id", "first_name": "No", "last_name": "Id", "email": "noid@example.com",
     "phone": None, "company": None, "job_title": None, "customer_id": None, "lifecycle_stage": "lead",
     "created_at": "2025-01-04T00:00:00Z", "updated_at": "2026-10-04T00:00:00Z"},
]

LOYALTY_CSV = """member_id,customer_id,email,phone,first_name,last_name,date_of_birth,tier,points_balance,enrolled_at,last_activity_at,updated_at
L0000001,C0000001,ann@example.com,+4915112345678,Ann,Lee,03.02.1990,gold,1200,2025-05-01T00:00:00Z,2026-11-01T00:00:00Z,2026-11-01T00:00:00Z
L0000002,,"bob.ray@example.com",,Bob,"Ray, Jr.",,silver,80,2025-06-01T00:00:00Z,,2026-11-02T00:00:00Z
L0000003,,zed@example.com,,Zed,Zee,,bronze,"1,200",2025-07-01T00:00:00Z,,2026-11-03T00:00:00Z
L0000004,,short@example.com,,Short,Row
"""

TICKETS = [
    json.dumps({"ticket_id": "T0000001", "requester_email": "ann@example.com", "requester_name": "Ann Lee",
                "requester_phone": None, "subject": "Where is my order?", "category": "delivery",
                "status": "solved", "priority": "normal", "csat": 5,
                "created_at": "2026-11-21T08:00:00Z", "updated_at": "2026-11-21T12:00:00Z"}),
    json.dumps({"ticket_id": "T0000002", "requester_email": "x@example.com", "requester_name": "X",
                "requester_phone": "+4930123456", "subject": "Refund", "category": "billing",
                "status": "open", "priority": "high", "csat": None,
                "created_at": "2026-11-22T08:00:00Z", "updated_at": "2026-11-22T08:00:00Z"}),
    json.dumps({"ticket_id": "T0000003", "requester_email": "y@example.com", "requester_name": "Y",
                "requester_phone": None, "subject": "Hi", "category": "other", "status": "open",
                "priority": "low", "csat": "great", "created_at": "2026-11-22T09:00:00Z",
                "updated_at": "2026-11-22T09:00:00Z"}),
    "{not json at all",
]

CONSENT_CSV = """consent_id,customer_id,email,phone,channel,purpose,status,occurred_at,source
CS0000001,C0000001,ann@example.com,,email,marketing,opt_in,2026-11-01T00:00:00Z,checkout
CS0000002,C0000001,ann@example.com,+4915112345678,sms,marketing,opt_out,2026-11-05T00:00:00Z,preference_center
CS0000003,C0000002,bob@example.com,,push,personalization,opt_in,31/12/2026,app
"""

FEEDBACK = [
    json.dumps({"feedback_id": "F0000001", "message_id": "MSG-1", "campaign_id": "CMP-1", "offer_id": "OFF-1",
                "channel": "email", "customer_id": "C0000001", "email": "ann@example.com",
                "event_type": "delivered", "occurred_at": "2026-11-21T00:00:00Z", "revenue": None}),
    json.dumps({"feedback_id": "F0000002", "message_id": "MSG-1", "campaign_id": "CMP-1", "offer_id": "OFF-1",
                "channel": "email", "customer_id": "C0000001", "email": "ann@example.com",
                "event_type": "converted", "occurred_at": "2026-11-22T00:00:00Z", "revenue": 37.5}),
    json.dumps({"feedback_id": "F0000003", "message_id": "MSG-2", "campaign_id": "CMP-1", "offer_id": "OFF-2",
                "channel": "sms", "customer_id": "C0000002", "email": None,
                "event_type": "converted", "occurred_at": "2026-11-22T00:00:00Z", "revenue": "n/a"}),
]

# source -> {raw table: (rows read, rows loaded, rows quarantined)} on the first run;
# rows in the table afterwards may be fewer than loaded when keys repeat (events m-2).
PLANTED: dict[str, dict[str, tuple[int, int, int]]] = {
    "events": {"events": (10, 6, 4), "events__properties__products": (2, 2, 0)},
    "shop": {
        "shop_customers": (3, 2, 1),
        "shop_products": (2, 2, 0),
        "shop_orders": (3, 2, 1),
        "shop_order_lines": (3, 2, 1),
    },
    "crm": {"crm_contacts": (4, 3, 1)},
    "loyalty": {"loyalty_members": (4, 2, 2)},
    "support": {"support_tickets": (4, 2, 2)},
    "consent": {"consent_events": (3, 2, 1)},
    "feedback": {"channel_feedback": (3, 2, 1)},
}


def write_fixture_demo(out: Path) -> Path:
    out = Path(out)
    for sub in ("events", "shop", "crm", "loyalty", "support", "consent", "feedback"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    (out / "events" / "events-0001.jsonl").write_text("\n".join(EVENTS_1) + "\n", encoding="utf-8")
    (out / "events" / "events-0002.jsonl").write_text("\n".join(EVENTS_2) + "\n", encoding="utf-8")
    db = out / "shop" / "shop.sqlite"
    db.unlink(missing_ok=True)
    with sqlite3.connect(db) as con:
        for table, (ddl, rows) in SHOP.items():
            con.execute(f"CREATE TABLE {table} ({ddl})")
            marks = ",".join("?" * len(rows[0]))
            con.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    con.close()
    (out / "crm" / "contacts.json").write_text(json.dumps(CONTACTS), encoding="utf-8")
    (out / "loyalty" / "members.csv").write_text(LOYALTY_CSV, encoding="utf-8")
    (out / "support" / "tickets.jsonl").write_text("\n".join(TICKETS) + "\n", encoding="utf-8")
    (out / "consent" / "consent_events.csv").write_text(CONSENT_CSV, encoding="utf-8")
    (out / "feedback" / "channel_feedback.jsonl").write_text("\n".join(FEEDBACK) + "\n", encoding="utf-8")
    return out
