"""Benchmark: the whole graph at several company sizes.

    .venv/bin/python benchmarks/pipeline.py --customers 10000 100000

For each size, a fresh child process generates the demo data into a throw-away folder, starts
the demo services and runs the full Dagster graph once. It prints the wall time of each step
and stage, and the peak resident memory of the graph process and of its largest subprocess
(dbt). Record results in BENCHMARKS.md with the command that produced them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, Python puts benchmarks/ first on sys.path, where benchmarks/ml/ (the ML
# benchmark's package) would shadow the project's ml/ package: put the project root there instead.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)
AS_OF = date(2026, 11, 20)


def run_one(customers: int, seed: int) -> dict:
    from tessera import paths
    from tessera.demo.generator import generate
    from tessera.demo.services import demo_services
    from tessera.runner import run_graph

    t0 = time.perf_counter()
    generate(customers=customers, seed=seed, out=paths.demo_dir(), as_of=AS_OF)
    gen_s = time.perf_counter() - t0
    os.environ["TESSERA_AS_OF"] = f"{AS_OF.isoformat()}T00:00:00+00:00"
    with demo_services():
        result = run_graph(ephemeral=True)
    self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    import duckdb

    con = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    records, profiles = con.execute(
        "select records_in, profiles_out from identity.resolution_runs order by resolved_at desc limit 1"
    ).fetchone()
    events = con.execute("select count(*) from raw.events").fetchone()[0]
    decisions = con.execute("select count(*) from decisions.fct_decisions").fetchone()[0]
    con.close()
    return {
        "customers": customers,
        "success": result.success,
        "errors": result.errors,
        "generate_s": round(gen_s, 1),
        "graph_wall_s": result.wall_seconds,
        "stage_s": {k: round(v, 1) for k, v in sorted(result.stage_seconds.items())},
        "step_s": {k: round(v, 1) for k, v in sorted(result.step_seconds.items())},
        "peak_rss_graph_mib": round(self_peak),
        "peak_rss_largest_subprocess_mib": round(child_peak),
        "rows": {"events": events, "identity_records": records, "profiles": profiles, "decisions": decisions},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    args = parser.parse_args()

    if args.single:
        print("RESULT " + json.dumps(run_one(args.customers[0], args.seed)))
        return 0

    results = []
    for n in args.customers:
        work = Path(tempfile.mkdtemp(prefix=f"tessera-bench-{n}-"))
        env = dict(os.environ, TESSERA_DATA_DIR=str(work), TESSERA_WAREHOUSE=str(work / "warehouse.duckdb"),
                   TESSERA_DEMO_DIR=str(work / "demo"), DAGSTER_HOME=str(work / "dagster"))
        env.pop("MLFLOW_TRACKING_URI", None)
        print(f"== {n:,} customers (work dir {work})", flush=True)
        proc = subprocess.run(
            [sys.executable, __file__, "--single", "--customers", str(n), "--seed", str(args.seed)],
            env=env, cwd=ROOT, capture_output=True, text=True,
        )
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        shutil.rmtree(work, ignore_errors=True)
        if proc.returncode or not line:
            print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
            return 1
        res = json.loads(line[len("RESULT "):])
        results.append(res)
        print(f"  success: {res['success']}   generate: {res['generate_s']} s   graph: {res['graph_wall_s']} s")
        print(f"  peak RSS: graph process {res['peak_rss_graph_mib']} MiB, "
              f"largest subprocess (dbt) {res['peak_rss_largest_subprocess_mib']} MiB")
        print(f"  rows: {res['rows']}")
        print("  stage wall time (s):")
        for stage, secs in res["stage_s"].items():
            print(f"    {stage:14} {secs:8.1f}")
        print("  step wall time (s):")
        for step, secs in res["step_s"].items():
            print(f"    {step:45} {secs:8.1f}")
    if len(results) > 1:
        base = results[0]
        for r in results[1:]:
            print(f"ratio {r['customers']:,} / {base['customers']:,} customers: graph wall time x"
                  f"{r['graph_wall_s'] / base['graph_wall_s']:.1f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
