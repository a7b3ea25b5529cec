"""Reading and validating a purchase log (``orders.csv`` / ``.parquet``) for the propensity and
recommendation engines.

Contract: a header with at least ``order_id,customer_id,ordered_at,amount`` and optionally
``quantity,product_id,category,status`` (names are matched case-insensitively, surrounding blanks
ignored). A file may hold one row per order or one row per order line: rows sharing an
``(order_id, customer_id)`` are summed into one order (its time is the earliest row's).

- ``ordered_at``: ISO 8601 date or timestamp; with an offset it is converted to UTC, without one it
  is taken as UTC. A date alone means midnight.
- ``amount``: a number; ``0`` is a valid purchase. ``"1,234.50"``, ``"12,99"`` and a currency code
  or symbol around the number (``"USD 45.00"``, ``"$5"``) are read leniently.
- an order whose summed amount or quantity is negative is a **return** (Online Retail's ``C``
  invoices), not a purchase; an order whose ``status`` is cancelled/refunded/returned/failed/void is
  **not completed**. Both are kept as features but never count as a purchase or a label.
- malformed rows are **quarantined** with a reason (missing customer or order id, unparseable
  date, unparseable amount) and counted; a missing required column is a clear error.
- rows after the as-of date are dropped and counted: they are never read by any feature.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

REQUIRED = ("order_id", "customer_id", "ordered_at", "amount")
OPTIONAL = ("quantity", "product_id", "category", "status")
NOT_COMPLETED = frozenset(
    {"cancelled", "canceled", "refunded", "returned", "failed", "void", "voided", "rejected", "declined"}
)
DAY_NS = 86_400 * 10**9

_CURRENCY = re.compile(r"[A-Za-z$€£¥\s]+")
_THOUSANDS = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")
_DECIMAL_COMMA = re.compile(r"^-?\d+,\d{1,2}$")


class OrdersError(ValueError):
    """The file cannot be used at all (missing file or columns, unreadable format)."""


@dataclass
class OrdersLog:
    """Validated orders (one row per order) and, when given, their lines.

    ``orders`` columns: ``customer_id`` (str), ``order_id`` (str), ``ts`` (datetime64[ns], UTC
    naive), ``amount`` (float), ``quantity`` (float, NaN when absent), ``kind``
    ("purchase" | "return" | "not_completed"). ``lines`` (or None) keeps ``customer_id``,
    ``order_id``, ``ts``, ``product_id``, ``category``, ``quantity`` of purchase orders only."""

    orders: pd.DataFrame
    lines: pd.DataFrame | None
    rows_read: int
    quarantined: Counter = field(default_factory=Counter)
    dropped_after_as_of: int = 0
    as_of_end: pd.Timestamp | None = None  # exclusive end of the history (midnight after as-of)

    @property
    def n_quarantined(self) -> int:
        return int(sum(self.quarantined.values()))

    def summary(self) -> str:
        parts = [f"{self.rows_read} rows read", f"{len(self.orders)} orders"]
        if self.dropped_after_as_of:
            parts.append(f"{self.dropped_after_as_of} rows after the as-of date dropped")
        if self.quarantined:
            reasons = ", ".join(f"{n} {r}" for r, n in sorted(self.quarantined.items()))
            parts.append(f"{self.n_quarantined} rows quarantined ({reasons})")
        kinds = self.orders["kind"].value_counts()
        for k in ("return", "not_completed"):
            if kinds.get(k, 0):
                parts.append(f"{int(kinds[k])} {k.replace('_', ' ')} orders kept as features only")
        return "; ".join(parts)


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV or Parquet file as strings (CSV) or its own types (Parquet)."""
    p = Path(path)
    if not p.exists():
        raise OrdersError(f"{p}: no such file")
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(p)
        else:
            df = pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""], skipinitialspace=True)
    except Exception as exc:
        raise OrdersError(f"{p}: cannot read as {'Parquet' if suffix in ('.parquet', '.pq') else 'CSV'}: {exc}") from exc
    df.columns = [str(c).strip().lower() for c in df.columns]
    return df


def parse_amount(values: pd.Series) -> pd.Series:
    """Numbers, leniently: thousands separators, a decimal comma, currency codes or symbols."""
    num = pd.to_numeric(values, errors="coerce")
    bad = num.isna() & values.notna()
    if bad.any():
        cleaned = values[bad].astype(str).str.strip().str.replace(_CURRENCY, "", regex=True)
        thousands = cleaned.str.match(_THOUSANDS)
        cleaned = cleaned.where(~thousands, cleaned.str.replace(",", "", regex=False))
        dec = cleaned.str.match(_DECIMAL_COMMA)
        cleaned = cleaned.where(~dec, cleaned.str.replace(",", ".", regex=False))
        num.loc[bad] = pd.to_numeric(cleaned, errors="coerce")
    num = num.astype("float64")
    num[~np.isfinite(num.to_numpy())] = np.nan
    return num


def parse_timestamps(values: pd.Series) -> pd.Series:
    """ISO 8601 dates or timestamps -> UTC-naive datetime64[ns]; NaT when unparseable."""
    if pd.api.types.is_datetime64_any_dtype(values):
        ts = values
        if getattr(ts.dt, "tz", None) is not None:
            ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
        return ts.astype("datetime64[ns]")
    s = values.astype("string").str.strip()
    ts = pd.to_datetime(s, format="ISO8601", utc=True, errors="coerce")
    if ts.isna().any():  # mixed formats: retry the failures one by one
        bad = ts.isna() & s.notna()
        retry = pd.to_datetime(s[bad], format="mixed", utc=True, errors="coerce")
        ts.loc[bad] = retry
    # Years outside a sane range are typos ("0000-00-00" never parses; "0202-..." does).
    ts = ts.dt.tz_localize(None).astype("datetime64[ns]")
    ts[(ts.dt.year < 1970) | (ts.dt.year > 2200)] = pd.NaT
    return ts


def as_of_end(as_of: date | datetime | str) -> pd.Timestamp:
    """The exclusive end of the history: midnight (UTC) after the as-of *date*."""
    d = pd.Timestamp(as_of)
    if d.tzinfo is not None:
        d = d.tz_convert("UTC").tz_localize(None)
    return d.normalize() + timedelta(days=1)


def load_orders(
    source: str | Path | pd.DataFrame, as_of: date | datetime | str | None = None, *, keep_lines: bool = False
) -> OrdersLog:
    """Validate a purchase log; see the module docstring for the rules."""
    df = read_table(source) if not isinstance(source, pd.DataFrame) else source.copy()
    if isinstance(source, pd.DataFrame):
        df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise OrdersError(
            f"missing required column(s) {', '.join(missing)}; the header must hold at least "
            f"{','.join(REQUIRED)} (found: {','.join(map(str, df.columns)) or 'nothing'})"
        )
    rows_read = len(df)
    quarantined: Counter = Counter()
    out = pd.DataFrame(index=df.index)
    for col in ("customer_id", "order_id"):
        s = df[col].astype("string").str.strip()
        out[col] = s.where(s != "", pd.NA)
    out["ts"] = parse_timestamps(df["ordered_at"])
    out["amount"] = parse_amount(df["amount"])
    out["quantity"] = parse_amount(df["quantity"]) if "quantity" in df.columns else np.nan
    for col in ("product_id", "category", "status"):
        if col in df.columns:
            s = df[col].astype("string").str.strip()
            out[col] = s.where(s != "", pd.NA)

    reasons = (
        ("missing customer_id", out["customer_id"].isna()),
        ("missing order_id", out["order_id"].isna()),
        ("unparseable ordered_at", out["ts"].isna()),
        ("unparseable amount", out["amount"].isna()),
    )
    bad = pd.Series(False, index=out.index)
    for reason, mask in reasons:
        new = mask & ~bad  # each row is counted once, under its first reason
        if new.any():
            quarantined[reason] = int(new.sum())
        bad |= mask
    out = out[~bad]

    end = None
    dropped = 0
    if as_of is not None:
        end = as_of_end(as_of)
        after = out["ts"] >= end
        dropped = int(after.sum())
        out = out[~after]

    # -- rows -> orders ------------------------------------------------------------------------
    keys = ["customer_id", "order_id"]
    agg = {"ts": ("ts", "min"), "amount": ("amount", "sum"), "quantity": ("quantity", "sum")}
    if "status" in out.columns:
        out["_nc"] = out["status"].str.lower().isin(NOT_COMPLETED).fillna(False).astype(bool)
        agg["_nc"] = ("_nc", "max")
    orders = out.groupby(keys, sort=False, observed=True).agg(**agg).reset_index()
    has_qty = "quantity" in df.columns
    if not has_qty:
        orders["quantity"] = np.nan
    kind = np.where((orders["amount"] < 0) | (has_qty & (orders["quantity"] < 0)), "return", "purchase")
    if "_nc" in orders.columns:
        kind = np.where(orders["_nc"].to_numpy() & (kind == "purchase"), "not_completed", kind)
        orders = orders.drop(columns="_nc")
    orders["kind"] = kind
    orders["customer_id"] = orders["customer_id"].astype(str)
    orders["order_id"] = orders["order_id"].astype(str)
    orders = orders.sort_values(["customer_id", "ts"], kind="stable").reset_index(drop=True)

    lines = None
    if keep_lines and "product_id" in out.columns:
        purchase_ids = orders.loc[orders["kind"] == "purchase", keys]
        lines = out.loc[out["product_id"].notna()].merge(purchase_ids, on=keys, how="inner")
        keep = ["customer_id", "order_id", "ts", "product_id", "quantity"]
        if "category" in lines.columns:
            keep.append("category")
        lines = lines.loc[~(lines["quantity"] < 0), keep].reset_index(drop=True)
        lines["customer_id"] = lines["customer_id"].astype(str)
        lines["product_id"] = lines["product_id"].astype(str)
    return OrdersLog(
        orders=orders,
        lines=lines,
        rows_read=rows_read,
        quarantined=quarantined,
        dropped_after_as_of=dropped,
        as_of_end=end,
    )
