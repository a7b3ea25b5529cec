"""Time the decision arbitration (dbt decision models, SQL in DuckDB) for N customers x 4
channels x 20 offers on synthetic inputs (tessera.decide.synthetic).

    .venv/bin/python benchmarks/decide/bench_arbitration.py --customers 1000000 --offers 20
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import duckdb

from tessera.decide.synthetic import build_decision_sandbox, dbt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--offers", type=int, default=20)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="bench_decide_"))
    t0 = time.perf_counter()
    box = build_decision_sandbox(root, args.customers, args.offers)
    t1 = time.perf_counter()
    dbt(box, "seed", "--select", "path:seeds")
    t2 = time.perf_counter()
    load_before = os.getloadavg()[0]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = dbt(box, "run", "--select", "path:models/marts/decisions", "path:models/intermediate/decisions")
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t3 = time.perf_counter()
    load_after = os.getloadavg()[0]
    timings = {}
    for line in result.stdout.splitlines():
        if " OK created " in line and " in " in line:
            name = line.split(" model ")[-1].split(" ")[0]
            timings[name] = float(line.rsplit(" in ", 1)[-1].split("s")[0])
    con = duckdb.connect(str(box.warehouse), read_only=True)
    rows, profiles, channels = con.execute(
        "select count(*), count(distinct profile_id), count(distinct channel) from decisions.fct_decisions").fetchone()
    eligible = con.execute("select count(*) from decisions.int_offer_eligibility").fetchone()[0]
    con.close()
    print(json.dumps({
        "customers": args.customers, "offers": args.offers, "channels": channels,
        "eligible_pairs": eligible, "decisions": rows, "profiles_decided": profiles,
        "inputs_generation_s": round(t1 - t0, 1), "seed_s": round(t2 - t1, 1),
        "arbitration_dbt_run_s": round(t3 - t2, 1), "per_model_s": timings,
        # CPU of the dbt process (DuckDB runs inside it) and the machine's load around the run:
        # other work on the machine shows as wall time well above cpu / cores
        "dbt_run_cpu_user_s": round(cpu1.ru_utime - cpu0.ru_utime, 1),
        "dbt_run_cpu_sys_s": round(cpu1.ru_stime - cpu0.ru_stime, 1),
        "cores": os.cpu_count(), "load_avg_1m_before_after": [round(load_before, 1), round(load_after, 1)],
    }, indent=2))


if __name__ == "__main__":
    main()
