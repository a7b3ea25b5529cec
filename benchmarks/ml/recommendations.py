"""Recommendation benchmark: item-to-item co-purchase similarity against the popularity baseline on
a time split of the demo shop's order lines.

    .venv/bin/python benchmarks/ml/recommendations.py --customers 5000 25000 100000

For each size the demo company is generated (cached under ``--cache``), the recommender is fitted
on the lines before ``end − test_days`` and judged on each customer's purchases of products they had
not bought before in the last ``test_days`` (``ml.recommend.evaluate``): hit rate@k (share of those
customers with at least one such purchase among their k recommendations) and recall@k, for Tessera
and for the most popular products (same exclusion rule). Also timed: fitting and the top-k of every
customer, as ``tessera predict recommendations`` does.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT)]  # run as a script: the repo's ml/ must win over benchmarks/ml

import pandas as pd

from benchmarks.ml.data import demo_order_lines
from ml import recommend as R
from ml.orders import load_orders


def demo_lines(customers: int, cache: Path) -> pd.DataFrame:
    out = cache / f"demo-{customers}"
    if not list(out.rglob("shop.sqlite")):
        from tessera.demo.generator import generate

        generate(customers, 42, out, date(2026, 11, 20))
    return demo_order_lines(next(out.rglob("shop.sqlite")))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, nargs="+", default=[5_000, 25_000, 100_000])
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--test-days", type=int, default=90)
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "tessera-ml-bench")
    args = ap.parse_args()
    cfg = R.RecConfig(k=args.k)
    k = args.k
    print(f"{'customers':>10s} {'lines':>9s} {'judged':>7s} {'hit@k':>7s} {'pop hit@k':>9s} {'ratio':>6s} "
          f"{'recall@k':>8s} {'pop recall':>10s} {'fit+top-k all':>13s}")
    for n in args.customers:
        log = load_orders(demo_lines(n, args.cache), keep_lines=True)
        lines = log.lines
        end = lines["ts"].max().normalize() + pd.Timedelta(days=1)
        m = R.evaluate(lines, end, cfg, test_days=args.test_days)
        t0 = time.perf_counter()
        recs = R.fit(lines, end, cfg).top_k()
        wall = time.perf_counter() - t0
        print(f"{n:>10,d} {len(lines):>9,d} {int(m['test_customers']):>7,d} {m[f'hit_rate_at_{k}']:7.4f} "
              f"{m[f'popularity_hit_rate_at_{k}']:9.4f} {m['hit_rate_ratio_vs_popularity']:6.2f} "
              f"{m[f'recall_at_{k}']:8.4f} {m[f'popularity_recall_at_{k}']:10.4f} "
              f"{wall:11.2f} s  ({recs['customer_id'].nunique():,} customers)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
