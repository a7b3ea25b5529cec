"""The raw tables of Contract 2 (docs/architecture.md), as data.

Every loader declares its columns from here, so each contract column exists in the warehouse with
the right type even when no row carries it, and nothing outside the contract is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TEXT, DOUBLE, BIGINT, TIMESTAMP = "text", "double", "bigint", "timestamp"


@dataclass(frozen=True)
class TableSpec:
    """One raw table: where it comes from, its key and its typed columns."""

    source: str  # tessera source name, e.g. "shop"
    table: str  # raw table name, e.g. "shop_orders"
    source_table: str  # the table/file/endpoint name in the source system, e.g. "orders"
    primary_key: str
    columns: dict[str, str]  # raw column -> dlt data type, in contract order
    required: tuple[str, ...] = ()  # besides the primary key: must be present and non-empty
    cursor: str | None = None  # incremental cursor column (dlt.sources.incremental), if any
    nested: dict[str, dict[str, str]] = field(default_factory=dict)  # child path -> columns

    def column_hints(self) -> dict[str, dict[str, Any]]:
        return {
            name: {"data_type": dtype, "nullable": name != self.primary_key}
            for name, dtype in self.columns.items()
        }

    def nested_hints(self) -> dict[str, Any]:
        import dlt

        return {
            path: dlt.mark.make_nested_hints(
                columns={name: {"data_type": dtype, "nullable": True} for name, dtype in cols.items()}
            )
            for path, cols in self.nested.items()
        }

    @property
    def child_tables(self) -> list[str]:
        return [f"{self.table}__{path}" for path in self.nested]

    @property
    def all_tables(self) -> list[str]:
        return [self.table, *self.child_tables]


def _cols(spec: str, types: dict[str, str] | None = None) -> dict[str, str]:
    types = types or {}
    return {name.strip(): types.get(name.strip(), TEXT) for name in spec.split(",")}


EVENTS = TableSpec(
    source="events",
    table="events",
    source_table="events",
    primary_key="message_id",
    columns=_cols(
        "message_id, type, event, name, anonymous_id, user_id, timestamp, sent_at, received_at, "
        "context__ip, context__user_agent, context__page__url, context__page__path, "
        "context__page__referrer, context__device__id, context__device__type, context__device__token, "
        "context__campaign__source, context__campaign__medium, context__campaign__name, "
        "traits__email, traits__phone, traits__first_name, traits__last_name, "
        "properties__product_id, properties__name, properties__category, properties__price, "
        "properties__quantity, properties__order_id, properties__revenue, properties__currency, "
        "_source_file",
        {
            "timestamp": TIMESTAMP,
            "sent_at": TIMESTAMP,
            "received_at": TIMESTAMP,
            "properties__price": DOUBLE,
            "properties__quantity": BIGINT,
            "properties__revenue": DOUBLE,
        },
    ),
    required=("type", "timestamp"),
    nested={
        "properties__products": {
            "product_id": TEXT,
            "category": TEXT,
            "price": DOUBLE,
            "quantity": BIGINT,
        }
    },
)

SHOP_CUSTOMERS = TableSpec(
    source="shop",
    table="shop_customers",
    source_table="customers",
    primary_key="customer_id",
    columns=_cols(
        "customer_id, email, phone, first_name, last_name, date_of_birth, street, city, postcode, "
        "state, country, created_at, updated_at",
        {"created_at": TIMESTAMP, "updated_at": TIMESTAMP},
    ),
    required=("updated_at",),
    cursor="updated_at",
)

SHOP_PRODUCTS = TableSpec(
    source="shop",
    table="shop_products",
    source_table="products",
    primary_key="product_id",
    columns=_cols("product_id, name, category, price, updated_at", {"price": DOUBLE, "updated_at": TIMESTAMP}),
    required=("updated_at",),
    cursor="updated_at",
)

SHOP_ORDERS = TableSpec(
    source="shop",
    table="shop_orders",
    source_table="orders",
    primary_key="order_id",
    columns=_cols(
        "order_id, customer_id, ordered_at, status, currency, total_amount, channel, updated_at",
        {"ordered_at": TIMESTAMP, "total_amount": DOUBLE, "updated_at": TIMESTAMP},
    ),
    required=("ordered_at", "updated_at"),
    cursor="updated_at",
)

SHOP_ORDER_LINES = TableSpec(
    source="shop",
    table="shop_order_lines",
    source_table="order_lines",
    primary_key="order_line_id",
    columns=_cols(
        "order_line_id, order_id, product_id, quantity, unit_price, updated_at",
        {"quantity": BIGINT, "unit_price": DOUBLE, "updated_at": TIMESTAMP},
    ),
    required=("updated_at",),
    cursor="updated_at",
)

CRM_CONTACTS = TableSpec(
    source="crm",
    table="crm_contacts",
    source_table="contacts",
    primary_key="id",
    columns=_cols(
        "id, full_name, first_name, last_name, email, phone, company, job_title, customer_id, "
        "lifecycle_stage, created_at, updated_at",
        {"created_at": TIMESTAMP, "updated_at": TIMESTAMP},
    ),
    required=("updated_at",),
    cursor="updated_at",
)

LOYALTY_MEMBERS = TableSpec(
    source="loyalty",
    table="loyalty_members",
    source_table="members",
    primary_key="member_id",
    columns=_cols(
        "member_id, customer_id, email, phone, first_name, last_name, date_of_birth, tier, "
        "points_balance, enrolled_at, last_activity_at, updated_at",
        {
            "points_balance": BIGINT,
            "enrolled_at": TIMESTAMP,
            "last_activity_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        },
    ),
)

SUPPORT_TICKETS = TableSpec(
    source="support",
    table="support_tickets",
    source_table="tickets",
    primary_key="ticket_id",
    columns=_cols(
        "ticket_id, requester_email, requester_name, requester_phone, subject, category, status, "
        "priority, csat, created_at, updated_at",
        {"csat": BIGINT, "created_at": TIMESTAMP, "updated_at": TIMESTAMP},
    ),
)

CONSENT_EVENTS = TableSpec(
    source="consent",
    table="consent_events",
    source_table="consent_events",
    primary_key="consent_id",
    columns=_cols(
        "consent_id, customer_id, email, phone, channel, purpose, status, occurred_at, source",
        {"occurred_at": TIMESTAMP},
    ),
    required=("channel", "purpose", "status", "occurred_at"),
)

CHANNEL_FEEDBACK = TableSpec(
    source="feedback",
    table="channel_feedback",
    source_table="channel_feedback",
    primary_key="feedback_id",
    columns=_cols(
        "feedback_id, message_id, campaign_id, offer_id, channel, customer_id, email, event_type, "
        "occurred_at, revenue",
        {"occurred_at": TIMESTAMP, "revenue": DOUBLE},
    ),
    required=("event_type", "occurred_at"),
)

QUARANTINE_COLUMNS: dict[str, dict[str, Any]] = {
    "quarantine_id": {"data_type": TEXT, "nullable": False},
    "source": {"data_type": TEXT, "nullable": False},
    "source_table": {"data_type": TEXT, "nullable": False},
    "record_key": {"data_type": TEXT, "nullable": True},
    "raw_payload": {"data_type": TEXT, "nullable": False},
    "reason": {"data_type": TEXT, "nullable": False},
    "quarantined_at": {"data_type": TIMESTAMP, "nullable": False},
}

INGEST_LOG_COLUMNS: dict[str, dict[str, Any]] = {
    "run_id": {"data_type": TEXT, "nullable": False},
    "source": {"data_type": TEXT, "nullable": False},
    "source_table": {"data_type": TEXT, "nullable": False},
    "rows_read": {"data_type": BIGINT, "nullable": False},
    "rows_loaded": {"data_type": BIGINT, "nullable": False},
    "rows_quarantined": {"data_type": BIGINT, "nullable": False},
    "started_at": {"data_type": TIMESTAMP, "nullable": False},
    "finished_at": {"data_type": TIMESTAMP, "nullable": False},
}

SPECS_BY_SOURCE: dict[str, tuple[TableSpec, ...]] = {
    "events": (EVENTS,),
    "shop": (SHOP_CUSTOMERS, SHOP_PRODUCTS, SHOP_ORDERS, SHOP_ORDER_LINES),
    "crm": (CRM_CONTACTS,),
    "loyalty": (LOYALTY_MEMBERS,),
    "support": (SUPPORT_TICKETS,),
    "consent": (CONSENT_EVENTS,),
    "feedback": (CHANNEL_FEEDBACK,),
}


def raw_tables(source: str) -> list[str]:
    """Every raw table a source writes (child tables included; not quarantine / ingest_log)."""
    return [t for spec in SPECS_BY_SOURCE[source] for t in spec.all_tables]
