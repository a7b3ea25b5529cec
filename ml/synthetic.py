"""Synthetic purchase logs for tests and benchmarks.

:func:`retail_log` imitates a real online-retail transaction log (the UCI *Online Retail* kind):
line-level rows (invoice = order), many one-time buyers, bursty repeat buyers (several invoices
in a few days), regular (periodic) buyers, gradual churn, a Q4 peak, returns as negative
quantities, zero amounts and rows without a customer id. Deterministic for a seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def retail_log(customers: int = 4000, seed: int = 0, start: str = "2023-01-01", days: int = 730,
               products: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start)
    rows_c, rows_t = [], []
    kind = rng.choice(4, customers, p=[0.38, 0.32, 0.18, 0.12])  # one-time, poisson-ish, bursty, regular
    birth = rng.uniform(0, days, customers)
    rate = rng.gamma(1.2, 1 / 40, customers)  # orders per day while active
    life = rng.exponential(rng.choice([120, 400], customers, p=[0.5, 0.5]))
    for c in range(customers):
        t = birth[c]
        end = min(days, birth[c] + life[c])
        rows_c.append(c)
        rows_t.append(t)
        if kind[c] == 0:
            continue
        period = rng.uniform(20, 90)
        while True:
            if kind[c] == 3:
                gap = period * rng.gamma(16, 1 / 16)
            else:
                season = 1.0
                gap = rng.exponential(1 / (rate[c] * season))
            t = t + gap
            # a Q4 peak: purchases in Oct-Dec are more likely to happen
            if t >= end:
                break
            month = (t0 + pd.Timedelta(days=float(t))).month
            if month < 10 and rng.random() < 0.25:
                continue
            rows_c.append(c)
            rows_t.append(t)
            if kind[c] == 2 and rng.random() < 0.5:  # bursts: follow-up invoices within days
                for _ in range(rng.integers(1, 4)):
                    t = t + rng.exponential(2.0)
                    if t < days:
                        rows_c.append(c)
                        rows_t.append(t)
    oc = np.array(rows_c)
    ot = np.array(rows_t)
    n = len(oc)
    n_lines = rng.integers(1, 6, n)
    li = np.repeat(np.arange(n), n_lines)
    fav = rng.integers(0, 10, customers)
    cat = np.where(rng.random(len(li)) < 0.6, fav[oc[li]], rng.integers(0, 10, len(li)))
    prod = cat * (products // 10) + np.minimum(rng.zipf(1.6, len(li)) - 1, products // 10 - 1)
    qty = rng.choice([1, 2, 3, 6, 12, 24], len(li), p=[0.4, 0.2, 0.1, 0.15, 0.1, 0.05])
    price = np.round(rng.lognormal(1.2, 0.7, products), 2)
    price[rng.random(products) < 0.01] = 0.0
    ts = t0 + pd.to_timedelta(ot[li] * 86400, unit="s").round("s")
    df = pd.DataFrame({
        "order_id": [f"5{k:06d}" for k in li],
        "customer_id": [f"{12000 + c}" for c in oc[li]],
        "ordered_at": ts.strftime("%Y-%m-%dT%H:%M:%S"),
        "quantity": qty,
        "product_id": [f"P{p:04d}" for p in prod],
        "category": [f"cat{p // (products // 10)}" for p in prod],
    })
    df["amount"] = np.round(df["quantity"] * price[prod], 2)
    # returns: cancellation invoices "C…" with negative quantities for ~3% of lines
    ret = df.sample(frac=0.03, random_state=seed).copy()
    ret["order_id"] = "C" + ret["order_id"]
    ret["quantity"] = -ret["quantity"]
    ret["amount"] = -ret["amount"]
    df = pd.concat([df, ret], ignore_index=True)
    # rows without a customer id (guest checkouts)
    df.loc[rng.random(len(df)) < 0.05, "customer_id"] = ""
    return df[["order_id", "customer_id", "ordered_at", "amount", "quantity", "product_id", "category"]]
