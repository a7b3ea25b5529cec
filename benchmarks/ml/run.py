"""Propensity benchmark: Tessera against BG/NBD, Pareto/NBD, RFM logistic and recency on a future
window that the engine never sees, with wall time and peak memory.

    .venv/bin/python benchmarks/ml/run.py --data demo --customers 25000 --horizons 90 273
    .venv/bin/python benchmarks/ml/run.py --data cdnow --horizons 90 273
    .venv/bin/python benchmarks/ml/run.py --data demo --customers 1000000 --demo-seeds 42 43 --horizons 90 273

For each data set and horizon ``h`` the as-of date is the last order day minus ``h``. The engine
runs as a user runs it, ``tessera predict propensity --as-of ... --horizon-days h --baselines ...``
in a subprocess (its wall time and peak RSS are measured), on the orders on or before the as-of
date only. Every score (Tessera's, the four baselines', which the engine fits on the same
history, and ``rfm_afternoon``, an RFM logistic regression fitted here on 92-day labels ending at the
as-of date and applied unchanged to every horizon) is then judged on what really happened in the ``h`` days after the as-of date: ROC AUC,
PR AUC, Brier and top-decile lift.

Data sets:
- ``demo``: the demo company's shop orders (``tessera.demo.generator``) at ``--customers`` persons;
  with ``--demo-seeds 42 43`` two such companies side by side (1M persons each: 1.13M customers);
- ``cdnow``: the CDNOW master purchase log (23,570 customers, 69,659 orders, 1997-01 to 1998-06),
  real retail data shipped in the ``Lifetimes`` 0.11.3 wheel on PyPI (fetched once with
  ``pip download`` into ``--cache``; the package is not installed);
- ``synthetic``: ``ml.synthetic.retail_log`` (an Online-Retail-like line log) at ``--customers``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import zipfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT)]  # run as a script: the repo's ml/ must win over benchmarks/ml

import numpy as np
import pandas as pd

from ml import evaluate as ev

BASELINES = ("bgnbd", "pareto_nbd", "rfm_logistic", "recency", "rfm_afternoon")

#: The "afternoon" baseline's label window (issue 17): an RFM logistic regression with features at
#: the as-of date minus this many days and labels over the days after it, its ranking applied
#: unchanged (Platt-scaled on those same labels) to any horizon.
AFTERNOON_DAYS = 92


def afternoon_rfm(history: Path, as_of) -> pd.DataFrame:
    """``customer_id, rfm_afternoon``: the afternoon RFM logistic regression, fitted outside the
    engine on the history only (features at ``as_of − 92 d``, labels in the 92 days up to ``as_of``),
    scored on the features at the end of the history."""
    from ml import propensity as P
    from ml.orders import load_orders

    log = load_orders(history, pd.Timestamp(as_of).to_pydatetime())
    b = P.FeatureBuilder(log.orders, AFTERNOON_DAYS)
    T = P._day(log.as_of_end)
    c = T - AFTERNOON_DAYS
    fr = b.frame(c)
    y = b.labels(c, fr["customer"].to_numpy(), AFTERNOON_DAYS)
    model = P.linear_pipeline().fit(P.X_of(fr, P.RFM_FEATURES), y)
    now = b.frame(T)
    return pd.DataFrame({"customer_id": b.customer_ids[now["customer"].to_numpy()].astype(str),
                         "rfm_afternoon": model.predict_proba(P.X_of(now, P.RFM_FEATURES))[:, 1]})


def cdnow_orders(cache: Path) -> pd.DataFrame:
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob("Lifetimes-0.11.3-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "Lifetimes==0.11.3",
                        "-d", str(cache)], check=True)
        wheels = sorted(cache.glob("Lifetimes-0.11.3-*.whl"))
    with zipfile.ZipFile(wheels[0]) as z, z.open("lifetimes/datasets/CDNOW_master.txt") as f:
        raw = pd.read_csv(f, sep=r"\s+", header=0, names=["customer_id", "date", "quantity", "amount"],
                          dtype={"customer_id": str, "date": str})
    return pd.DataFrame({
        "order_id": np.arange(len(raw)),
        "customer_id": raw["customer_id"],
        "ordered_at": pd.to_datetime(raw["date"], format="%Y%m%d").dt.strftime("%Y-%m-%d"),
        "amount": raw["amount"],
        "quantity": raw["quantity"],
    })


def demo_orders(customers: int, cache: Path, seeds: list[int] = (42,)) -> pd.DataFrame:
    """The demo shop's orders at ``customers`` persons; with several seeds, the logs of that many
    demo companies side by side (ids prefixed with the seed), to reach more customers than one
    generation fits in memory."""
    from benchmarks.ml.data import demo_orders as read_shop
    from tessera.demo.generator import generate

    frames = []
    for seed in seeds:
        out = cache / (f"demo-{customers}" if seed == 42 else f"demo-{customers}-seed{seed}")
        if not list(out.rglob("shop.sqlite")):  # generated once per size and seed, then reused
            generate(customers, seed, out, date(2026, 11, 20))
        df = read_shop(next(out.rglob("shop.sqlite")))
        if len(seeds) > 1:
            df["customer_id"] = f"{seed}-" + df["customer_id"].astype(str)
            df["order_id"] = f"{seed}-" + df["order_id"].astype(str)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def synthetic_orders(customers: int) -> pd.DataFrame:
    from ml.synthetic import retail_log

    return retail_log(customers=customers, seed=7)


def run_case(name: str, orders: pd.DataFrame, horizon: int, work: Path) -> dict:
    from ml.orders import parse_timestamps

    ts = parse_timestamps(orders["ordered_at"])
    last_day = ts.max().normalize()
    as_of = (last_day - pd.Timedelta(days=horizon)).date()
    work.mkdir(parents=True, exist_ok=True)
    history = work / f"{name}-orders.csv"
    if not history.exists():
        orders.to_csv(history, index=False)
    scores_p, base_p, metrics_p = (work / f"{name}-h{horizon}-{k}" for k in ("scores.csv", "baselines.csv", "metrics.json"))
    cmd = [str(ROOT / ".venv" / "bin" / "tessera"), "predict", "propensity", "--orders", str(history),
           "--as-of", str(as_of), "--horizon-days", str(horizon), "--output", str(scores_p),
           "--baselines", str(base_p), "--metrics", str(metrics_p)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        raise SystemExit(f"{name} h={horizon}: tessera failed:\n{proc.stderr}")
    scores = pd.read_csv(scores_p, dtype={"customer_id": str})
    base = pd.read_csv(base_p, dtype={"customer_id": str})
    # truth: at least one order in the h days after the as-of date (a day-level window)
    start = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    future = (ts >= start) & (ts < start + pd.Timedelta(days=horizon))
    if "status" in orders:
        future &= ~orders["status"].astype(str).str.lower().isin(["cancelled", "canceled", "refunded", "failed"])
    if "quantity" in orders:
        future &= pd.to_numeric(orders["quantity"], errors="coerce").fillna(1) > 0
    future &= pd.to_numeric(orders["amount"], errors="coerce").fillna(0) >= 0
    buyers = set(orders.loc[future, "customer_id"].astype(str))
    frame = scores.merge(base, on="customer_id").merge(afternoon_rfm(history, as_of), on="customer_id", how="left")
    frame["rfm_afternoon"] = frame["rfm_afternoon"].fillna(0.0)
    y = frame["customer_id"].isin(buyers).to_numpy(int)
    res = {"data": name, "horizon": horizon, "as_of": str(as_of), "customers": len(frame),
           "positives": int(y.sum()), "wall_seconds": round(wall, 1),
           "peak_rss_mib": round(max(peak, before) / 1024, 0),
           "engine": json.loads(metrics_p.read_text()).get("selected")}
    for col in ("score", *BASELINES):
        m = ev.binary_metrics(y, frame[col].to_numpy(float))
        res[("tessera" if col == "score" else col)] = {k: round(v, 4) for k, v in m.items()}
    best = max(res[b]["roc_auc"] for b in BASELINES)
    res["auc_margin_over_best_baseline"] = round(res["tessera"]["roc_auc"] - best, 4)
    res["brier_margin_vs_bgnbd"] = round(res["bgnbd"]["brier"] - res["tessera"]["brier"], 4)
    return res


def show(res: dict) -> None:
    print(f"\n{res['data']}  horizon {res['horizon']} d  as-of {res['as_of']}  {res['customers']:,} customers "
          f"({res['positives']:,} buy in the window)  wall {res['wall_seconds']} s  peak {res['peak_rss_mib']:.0f} MiB  "
          f"model {res['engine']}")
    print(f"  {'':14s} {'ROC AUC':>8s} {'PR AUC':>8s} {'Brier':>8s} {'lift@10%':>8s}")
    for name in ("tessera", *BASELINES):
        m = res[name]
        print(f"  {name:14s} {m['roc_auc']:8.4f} {m['pr_auc']:8.4f} {m['brier']:8.4f} {m['top_decile_lift']:8.2f}")
    ok_auc = res["auc_margin_over_best_baseline"] >= 0.01
    ok_brier = res["brier_margin_vs_bgnbd"] >= 0
    print(f"  AUC margin over the best baseline {res['auc_margin_over_best_baseline']:+.4f} "
          f"({'meets' if ok_auc else 'misses'} +0.01); Brier vs BG/NBD {res['brier_margin_vs_bgnbd']:+.4f} "
          f"({'no worse' if ok_brier else 'worse'})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", choices=["demo", "cdnow", "synthetic"], nargs="+", default=["demo"])
    ap.add_argument("--customers", type=int, default=25_000,
                    help="for demo (persons of the demo company; about 57%% of them order) and synthetic")
    ap.add_argument("--demo-seeds", type=int, nargs="+", default=[42],
                    help="demo companies to put side by side (e.g. 42 43: twice the customers)")
    ap.add_argument("--horizons", type=int, nargs="+", default=[90, 273])
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "tessera-ml-bench")
    ap.add_argument("--json", type=Path, help="also write the results as JSON")
    args = ap.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    results = []
    for data in args.data:
        t0 = time.perf_counter()
        if data == "cdnow":
            orders, label = cdnow_orders(args.cache), "cdnow"
        elif data == "demo":
            orders = demo_orders(args.customers, args.cache, args.demo_seeds)
            label = f"demo-{args.customers}" + (f"x{len(args.demo_seeds)}" if len(args.demo_seeds) > 1 else "")
        else:
            orders, label = synthetic_orders(args.customers), f"synthetic-{args.customers}"
        print(f"{label}: {len(orders):,} order rows, {orders['customer_id'].nunique():,} customers "
              f"(prepared in {time.perf_counter() - t0:.0f} s)")
        for h in args.horizons:
            res = run_case(label, orders, h, args.cache / "runs")
            show(res)
            results.append(res)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
