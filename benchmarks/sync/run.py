"""Reverse-ETL sync benchmark (issue 5).

1. a first sync of N rows (default 1,000,000) to a local HTTP receiver (another process, asyncio +
   orjson, parses every batch), webhook destination, batches of --batch-size rows (default 5,000),
   --concurrency batches in flight (default 4; 1 = one after the other);
2. a resync with nothing changed (rows resent must be 0);
3. a resync with 1% of the rows changed;
4. the diff (planning) time for --diff-rows rows (default 10,000,000) against a state of the same
   size with 1% changed, measured with a dry run.

    .venv/bin/python benchmarks/sync/run.py [--rows 1000000] [--batch-size 5000] [--concurrency 4]
        [--repeat 3] [--diff-rows 10000000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
MODEL = "activation.sync_bench__profiles"


def make_model(wh: Path, rows: int) -> None:
    con = duckdb.connect(str(wh))
    con.execute("CREATE SCHEMA IF NOT EXISTS activation")
    con.execute(
        f"""CREATE OR REPLACE TABLE {MODEL} AS
        SELECT 'P' || lpad(i::VARCHAR, 9, '0') AS profile_id,
               'user' || i || '@example.com' AS email,
               'First' || (i % 997) AS first_name,
               round(i % 10000 * 1.37, 2) AS lifetime_value,
               CASE WHEN i % 3 = 0 THEN 'vip' ELSE 'regular' END AS tier
        FROM range(1, {rows} + 1) t(i)"""
    )
    con.close()


def change_one_percent(wh: Path, salt: int) -> int:
    con = duckdb.connect(str(wh))
    n = con.execute(
        f"UPDATE {MODEL} SET lifetime_value = lifetime_value + {salt} WHERE hash(profile_id) % 100 = 0 RETURNING 1"
    ).fetchall()
    con.close()
    return len(n)


def write_config(root: Path, batch_size: int, concurrency: int) -> Path:
    cfg = root / "config"
    (cfg / "syncs").mkdir(parents=True, exist_ok=True)
    (cfg / "destinations.yml").write_text(
        "destinations:\n  bench_hook: {type: webhook, url_env: BENCH_HOOK_URL, timeout: 30}\n"
    )
    (cfg / "syncs" / "bench.yml").write_text(
        f"model: {MODEL}\nprimary_key: profile_id\ndestination: bench_hook\nmode: upsert\nbatch_size: {batch_size}\n"
        f"concurrency: {concurrency}\n"
    )
    return cfg


def receiver_stats(port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats") as response:
        return json.loads(response.read())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--diff-rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="first syncs to run (median reported)")
    args = parser.parse_args()

    from tessera.activate import run_sync

    root = Path(tempfile.mkdtemp(prefix="tessera-sync-bench-"))
    os.environ["TESSERA_DATA_DIR"] = str(root / "data")
    wh = root / "bench.duckdb"
    cfg = write_config(root, args.batch_size, args.concurrency)
    port_file = root / "port"
    receiver = subprocess.Popen([sys.executable, str(HERE / "receiver.py"), str(port_file)])
    try:
        while not port_file.exists() or not port_file.read_text():
            time.sleep(0.05)
        port = int(port_file.read_text())
        os.environ["BENCH_HOOK_URL"] = f"http://127.0.0.1:{port}/bulk"
        t = time.monotonic()
        make_model(wh, args.rows)
        print(f"model of {args.rows:,} rows built in {time.monotonic() - t:.1f}s")

        # the first sync, --repeat times on fresh copies of the model (the machine is shared: the
        # median says more than one run)
        rates = []
        for attempt in range(args.repeat):
            target = wh if attempt == args.repeat - 1 else root / f"first{attempt}.duckdb"
            if target != wh:
                shutil.copy(wh, target)
            before = receiver_stats(port)["rows"]
            t = time.monotonic()
            r1 = run_sync("bench", target, config_dir=cfg)
            wall = time.monotonic() - t  # run_sync's own duration_s stops before the connection closes
            assert r1.status == "success" and receiver_stats(port)["rows"] - before == args.rows
            rates.append(r1.rows_acked / wall)
            print(
                f"first sync:   {r1.rows_acked:,} rows in {wall:.2f}s wall = {rates[-1]:,.0f} rows/s "
                f"(diff {r1.diff_s:.2f}s, sending and committing {r1.duration_s - r1.diff_s:.2f}s, folding the ack journal "
                f"and closing {wall - r1.duration_s:.2f}s; {r1.batches} batches of {args.batch_size}, "
                f"{args.concurrency} in flight) status={r1.status}"
            )
            if target != wh:
                target.unlink()
        print(f"first sync, median of {len(rates)}: {statistics.median(rates):,.0f} rows/s")
        before = receiver_stats(port)["rows"]
        r2 = run_sync("bench", wh, config_dir=cfg)
        resent = receiver_stats(port)["rows"] - before
        print(f"unchanged resync: rows planned {r2.rows_planned}, rows resent {resent} in {r2.duration_s:.2f}s")
        changed = change_one_percent(wh, 1)
        r3 = run_sync("bench", wh, config_dir=cfg)
        print(
            f"1% changed resync: {changed:,} changed, {r3.rows_acked:,} sent in {r3.duration_s:.2f}s "
            f"= {r3.rows_acked / r3.duration_s:,.0f} rows/s end to end (diff {r3.diff_s:.2f}s)"
        )
        assert resent == 0 and r2.rows_planned == 0 and r3.rows_acked == changed
        assert receiver_stats(port)["rows"] == args.rows * args.repeat + changed
    finally:
        receiver.terminate()
        receiver.wait()

    if args.diff_rows:
        diff_bench(root, args.diff_rows)


def diff_bench(root: Path, rows: int) -> None:
    """Diff time for ``rows`` rows against an acknowledged state of the same size, 1% changed."""
    from tessera.activate import SyncConfig, engine, run_sync, state

    wh = root / "diff.duckdb"
    t = time.monotonic()
    make_model(wh, rows)
    sync = SyncConfig.model_validate(
        {"name": "bench_diff", "model": MODEL, "primary_key": "profile_id", "destination": "none", "mode": "mirror"}
    )
    con = duckdb.connect(str(wh))
    con.execute("SET enable_progress_bar = false")
    state.ensure_tables(con)
    columns = engine._check_model(con, sync)
    mapping = {c: c for c in columns}
    # the acknowledged state of a first sync of every row, written directly (what a run would leave)
    con.execute(
        f"""INSERT INTO {state.STATE} ({state.STATE_COLUMNS}, row_hash64)
        SELECT 'bench_diff', record_key, CAST(h AS VARCHAR), payload, 'upsert', now(), 'seed',
               substr(sha256('bench_diff' || chr(31) || record_key || chr(31) || CAST(h AS VARCHAR)), 1, 32), h
        FROM (SELECT {engine._key_expr(sync)} AS record_key, {engine._hash_expr(mapping, columns)} AS h,
                     {engine._payload_expr(mapping)} AS payload
              FROM {MODEL} AS m)"""
    )
    con.close()
    print(f"{rows:,}-row model and acknowledged state seeded in {time.monotonic() - t:.1f}s")
    changed = change_one_percent(wh, 7)
    con = duckdb.connect(str(wh))
    con.execute(f"DELETE FROM {MODEL} WHERE hash(profile_id) % 1000 = 1")
    con.close()
    r = run_sync(sync, wh, dry_run=True, destination=_Null())
    print(
        f"diff of {rows:,} rows: {r.diff_s:.2f}s (planned {r.rows_planned:,}: {r.rows_changed:,} changed, "
        f"{r.rows_deleted:,} deleted; {changed:,} updated in the model)"
    )


class _Null:
    type = "none"


if __name__ == "__main__":
    main()
