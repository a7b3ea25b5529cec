"""Time `tessera experiments readout` on N assignment rows (3 arms, a binary and a continuous
metric, outcomes for 30% of the units), end to end through the CLI: reading the CSVs, the
statistics and writing the JSON.

    .venv/bin/python benchmarks/decide/bench_readout.py --units 10000000
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from typer.testing import CliRunner

from tessera.decide.cli import experiments_app


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, default=10_000_000)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="bench_readout_"))
    n = args.units
    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    ids = np.char.add("u", np.arange(n).astype(str))
    arms = np.array(["control", "a", "b"])[rng.choice(3, size=n, p=[0.5, 0.25, 0.25])]
    pacsv.write_csv(pa.table({"unit_id": ids, "arm": arms}), root / "assignments.csv")
    has = rng.random(n) < 0.3
    conv = (rng.random(n) < 0.1).astype(np.int8)
    revenue = np.round(np.where(conv == 1, rng.gamma(2.0, 30.0, n), 0.0), 2)
    pacsv.write_csv(pa.table({"unit_id": ids[has], "converted": conv[has], "revenue": revenue[has]}),
                    root / "outcomes.csv")
    t1 = time.perf_counter()
    out = root / "readout.json"
    res = CliRunner().invoke(experiments_app, [
        "readout", "--assignments", str(root / "assignments.csv"), "--outcomes", str(root / "outcomes.csv"),
        "--control", "control", "--output", str(out), "--weights", "control=50,a=25,b=25"])
    t2 = time.perf_counter()
    assert res.exit_code == 0, res.output
    print(res.output)
    print(json.dumps({"units": n, "generate_s": round(t1 - t0, 1), "readout_s": round(t2 - t1, 1),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}, indent=2))


if __name__ == "__main__":
    main()
