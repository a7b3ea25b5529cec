"""Identity benchmark: Tessera's resolver against plain Splink on FEBRL-like records, in one run.

    .venv/bin/python -m benchmarks.identity.run [--sizes 100000 1000000] [--repeat 2] [--out /tmp/tessera-identity-bench]

For each size it generates records (benchmarks/identity/generate.py), then for "with id" and
"without id" (the soc_sec_id column dropped) runs each resolver in its own subprocess and prints
wall time, peak memory (max RSS of the subprocess), and pairwise and B-cubed precision/recall/F1.
With ``--repeat N`` the two resolvers run alternately N times each and the fastest run of each is
reported with every time and the load average before it: on a shared machine, compare the two
resolvers within one run, not against another run.
Each resolver reads the same Parquet file and writes record_id,cluster; scoring happens outside
the timed run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = {"rec_id": "record_id", "given_name": "first_name", "surname": "last_name",
           "street_number": "street_number", "address_1": "street", "address_2": "address_line_2",
           "suburb": "city", "postcode": "postcode", "state": "state", "date_of_birth": "date_of_birth",
           "soc_sec_id": "national_id"}


def tessera_config(with_id: bool) -> str:
    import yaml

    cols = {k: v for k, v in COLUMNS.items() if with_id or k != "soc_sec_id"}
    cfg = {
        "columns": cols,
        "normalize": {"date_order": "dmy"},
        # a national id links records when one more attribute agrees: a typo in the id can hit
        # another person's id, so the id alone is not trusted
        "deterministic": {"rules": [["national_id", "last_name"], ["national_id", "first_name"],
                                    ["national_id", "date_of_birth"]], "limits": {}},
        "probabilistic": {"threshold": "auto"},
    }
    return yaml.safe_dump(cfg, sort_keys=False)


def _child(kind: str, data: Path, out: Path, cfg: Path | None) -> None:
    t0 = time.perf_counter()
    if kind == "tessera":
        from tessera.identity.cli import map_columns, read_table
        from tessera.identity.config import load_config
        from tessera.identity.engine import resolve

        c = load_config(cfg)
        r = resolve(map_columns(read_table(data), c.columns, str(cfg)), c)
        r.assignments[["record_id", "profile_id"]].to_parquet(out, index=False)
        extra = {"threshold": r.stats["threshold"], "timings_s": r.stats["timings_s"]}
    else:
        sys.path.insert(0, str(ROOT))
        from benchmarks.identity.splink_baseline import run_splink

        run_splink(pd.read_parquet(data)).to_parquet(out, index=False)
        extra = {}
    secs = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({"seconds": secs, "peak_gib": rss, **extra}))


def run_one(kind: str, data: Path, truth: Path, work: Path, cfg: Path | None) -> dict:
    from tessera.identity.evaluate import evaluate_clusters

    out = work / f"{kind}.parquet"
    cmd = [sys.executable, "-m", "benchmarks.identity.run", "--child", kind, "--data", str(data), "--result", str(out)]
    if cfg:
        cmd += ["--config", str(cfg)]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if p.returncode:
        raise RuntimeError(f"{kind} failed:\n{p.stderr[-3000:]}")
    res = json.loads(p.stdout.strip().splitlines()[-1])
    s = evaluate_clusters(pd.read_csv(truth), pd.read_parquet(out))
    res.update(s.as_dict())
    return res


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--out", type=Path, default=Path("/tmp/tessera-identity-bench"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per resolver, alternating; the fastest is reported (the machine is shared)")
    ap.add_argument("--child")
    ap.add_argument("--data", type=Path)
    ap.add_argument("--result", type=Path)
    ap.add_argument("--config", type=Path)
    a = ap.parse_args(argv)
    if a.child:
        _child(a.child, a.data, a.result, a.config)
        return
    from benchmarks.identity.generate import generate

    rows = []
    for n in a.sizes:
        work = a.out / str(n)
        work.mkdir(parents=True, exist_ok=True)
        records, truth = generate(n, a.seed)
        truth.to_csv(work / "truth.csv", index=False)
        for with_id in (True, False):
            label = "with id" if with_id else "without id"
            sub = work / ("id" if with_id else "noid")
            sub.mkdir(exist_ok=True)
            data = sub / "records.parquet"
            (records if with_id else records.drop(columns=["soc_sec_id"])).to_parquet(data, index=False)
            cfg = sub / "identity.yml"
            cfg.write_text(tessera_config(with_id))
            runs: dict[str, list[dict]] = {"tessera": [], "splink": []}
            for _ in range(a.repeat):  # alternate the resolvers, so background load hits both alike
                for kind, kind_runs in runs.items():
                    load = os.getloadavg()[0]
                    r = run_one(kind, data, work / "truth.csv", sub, cfg if kind == "tessera" else None)
                    r["load_before"] = round(load, 1)
                    kind_runs.append(r)
            for kind, rs in runs.items():
                r = dict(min(rs, key=lambda x: x["seconds"]))
                r.update(records=n, data=label, resolver=kind, all_seconds=[round(x["seconds"], 1) for x in rs],
                         peak_gib=max(x["peak_gib"] for x in rs))
                rows.append(r)
                times = "/".join(f"{t:.0f}" for t in r["all_seconds"]) if len(rs) > 1 else ""
                print(f"{n:>9} {label:<10} {kind:<8} {r['seconds']:7.1f} s {r['peak_gib']:5.2f} GiB  "
                      f"pairwise P {r['pairwise_precision']:.4f} R {r['pairwise_recall']:.4f} "
                      f"F1 {r['pairwise_f1']:.4f}  B3 F1 {r['bcubed_f1']:.4f}  (load {r['load_before']}"
                      f"{', runs ' + times + ' s' if times else ''})", flush=True)
    (a.out / "results.json").write_text(json.dumps(rows, indent=2, default=str))
    print(f"results: {a.out / 'results.json'}")


if __name__ == "__main__":
    main()
