"""Benchmark: the Segment events loader, ``run_source("events")``.

    .venv/bin/python benchmarks/ingest/bench_events.py --customers 10000 100000 [--impl current legacy]

For each size: generate the demo company (tessera.demo.generator.generate, seed 7, as of
2026-11-20) once into a throw-away folder, then for each implementation run the events source
into a fresh warehouse twice (first load, then a rerun with nothing new) and print wall time and
rows/s. ``legacy`` is the row-by-row loader this change replaced (benchmarks/ingest/legacy_events.py,
dicts normalized by dlt); ``current`` is tessera.sources.events. Each run happens in a fresh child
process so peak RSS is per run.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)
AS_OF = "2026-11-20"


def _child(demo: str, data: str, impl: str) -> dict:
    os.environ["TESSERA_DEMO_DIR"] = demo
    os.environ["TESSERA_DATA_DIR"] = data
    os.environ["TESSERA_WAREHOUSE"] = str(Path(data) / "warehouse.duckdb")
    os.environ.pop("TESSERA_CONFIG_DIR", None)
    from tessera.sources import runner

    if impl == "legacy":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import legacy_events

        runner.BUILDERS["events"] = legacy_events.events_source
    out: dict = {"impl": impl}
    for label in ("first", "rerun"):
        t0 = time.perf_counter()
        result = runner.run_source("events")
        wall = time.perf_counter() - t0
        ev = result.tables["events"]
        pr = result.tables["events__properties__products"]
        out[label] = {
            "wall_s": round(wall, 2),
            "events_read": ev.rows_read,
            "events_loaded": ev.rows_loaded,
            "events_quarantined": ev.rows_quarantined,
            "products_loaded": pr.rows_loaded,
            "balanced": result.balanced,
            "rows_per_s": round(ev.rows_read / wall) if wall else 0,
        }
    import duckdb

    with duckdb.connect(os.environ["TESSERA_WAREHOUSE"], read_only=True) as con:
        out["table_rows"] = {
            t: con.execute(f"select count(*) from raw.{t}").fetchone()[0]
            for t in ("events", "events__properties__products", "quarantine")
        }
    out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[10000])
    parser.add_argument("--impl", nargs="+", default=["current"], choices=["current", "legacy"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", nargs=3, metavar=("DEMO", "DATA", "IMPL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(*args.child)))
        return

    from tessera.demo.generator import generate

    for customers in args.customers:
        tmp = Path(tempfile.mkdtemp(prefix=f"bench_events_{customers}_"))
        try:
            t0 = time.perf_counter()
            manifest = generate(customers, args.seed, tmp / "demo", AS_OF)
            lines = sum(1 for f in (tmp / "demo" / "events").glob("*.jsonl") for _ in f.open("rb"))
            print(f"customers={customers}: generated {lines:,} event lines in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
            del manifest
            for impl in args.impl:
                data = tmp / f"data_{impl}"
                proc = subprocess.run(
                    [sys.executable, __file__, "--child", str(tmp / "demo"), str(data), impl],
                    capture_output=True, text=True, check=False,
                )
                if proc.returncode != 0:
                    print(proc.stderr[-4000:], file=sys.stderr)
                    raise SystemExit(f"{impl} failed")
                res = json.loads(proc.stdout.strip().splitlines()[-1])
                f, r = res["first"], res["rerun"]
                print(
                    f"  {impl:8s} first: {f['wall_s']:7.1f} s  {f['rows_per_s']:>8,} events/s  "
                    f"read={f['events_read']:,} loaded={f['events_loaded']:,} "
                    f"quarantined={f['events_quarantined']:,} products={f['products_loaded']:,} "
                    f"balanced={f['balanced']} | rerun: {r['wall_s']:.1f} s read={r['events_read']} "
                    f"| tables={res['table_rows']} | peak RSS {res['peak_rss_mib']} MiB",
                    flush=True,
                )
                shutil.rmtree(data, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
