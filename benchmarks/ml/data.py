"""Purchase logs for the ML benchmark: the demo shop's orders and an Online-Retail-like log."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd


def demo_orders(shop_sqlite: str | Path) -> pd.DataFrame:
    """``order_id,customer_id,ordered_at,amount,status`` from the demo's ``shop.sqlite`` (its mess
    included: the engine quarantines what it cannot read)."""
    con = sqlite3.connect(str(shop_sqlite))
    try:
        return pd.read_sql_query(
            "select order_id, customer_id, ordered_at, total_amount as amount, status from orders", con
        )
    finally:
        con.close()


def demo_order_lines(shop_sqlite: str | Path) -> pd.DataFrame:
    """``order_id,customer_id,ordered_at,amount,quantity,product_id,category,status`` per line."""
    con = sqlite3.connect(str(shop_sqlite))
    try:
        return pd.read_sql_query(
            """
            select l.order_id, o.customer_id, o.ordered_at, l.quantity * l.unit_price as amount,
                   l.quantity, l.product_id, p.category, o.status
            from order_lines l join orders o using (order_id) left join products p using (product_id)
            """,
            con,
        )
    finally:
        con.close()
