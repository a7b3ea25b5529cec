"""Deterministic assignment: stable across runs and processes, equal to the warehouse's macro,
balanced (SRM p-value above 0.01 on 100k units), weighted and factorial arms, config errors."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from tessera.config.errors import ConfigError
from tessera.decide.assignment import BUCKETS, bucket, load_experiments, parse_experiments, pick
from tessera.experiments.readout import srm

ROOT = Path(__file__).resolve().parents[2]
UNITS = [f"P{i:08d}" for i in range(100_000)]


def test_bucket_is_stable_across_processes():
    here = [bucket("nbo-2026-11", u) for u in UNITS[:50]]
    code = ("from tessera.decide.assignment import bucket;"
            "print([bucket('nbo-2026-11', f'P{i:08d}') for i in range(50)])")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert str(here) == other.stdout.strip()
    assert bucket("nbo-2026-11", "P00000001") == bucket("nbo-2026-11", "P00000001")


def test_bucket_equals_the_warehouse_macro():
    con = duckdb.connect()
    ids = UNITS[:5000]
    con.execute("create table u as select unnest(?::varchar[]) as id", [ids])
    # duckdb__tessera_bucket in dbt_project/macros/decisions_bucket.sql
    sql_buckets = dict(con.execute(
        "select id, (cast(('0x' || substr(md5('nbo-2026-11' || ':' || id), 1, 15)) as bigint) % 10000) from u"
    ).fetchall())
    assert all(sql_buckets[u] == bucket("nbo-2026-11", u) for u in ids)
    macro = (ROOT / "dbt_project/macros/decisions_bucket.sql").read_text()
    assert "substr(md5({{ expr }}), 1, 15)" in macro


def test_weighted_arms_are_balanced_on_100k_units():
    weights = {"control": 20, "a": 40, "b": 40}
    counts = Counter(pick("exp-salt", u, weights) for u in UNITS)
    total = sum(weights.values())
    result = srm(dict(counts), {k: v / total for k, v in weights.items()})
    assert result["p_value"] > 0.01, (counts, result)
    uniform = Counter(bucket("exp-salt", u) // 100 for u in UNITS)  # 100 equal ranges
    assert srm(dict(uniform), {k: 0.01 for k in uniform})["p_value"] > 0.01


def test_factorial_arms_and_global_holdout():
    cfg = parse_experiments({
        "global_holdout": {"salt": "gh", "percent": 5},
        "experiments": [{"name": "creative", "salt": "cr", "control": "subject=plain|image=product",
                         "factors": {"subject": {"plain": 1, "personal": 1}, "image": {"product": 1, "lifestyle": 1}}}],
    })
    spec = cfg.experiments["creative"]
    assert spec.arm_weights() == pytest.approx({
        "subject=plain|image=product": 0.25, "subject=plain|image=lifestyle": 0.25,
        "subject=personal|image=product": 0.25, "subject=personal|image=lifestyle": 0.25})
    arms = cfg.assign_many("creative", UNITS)
    counts = Counter(a for _, a in arms)
    held = counts.pop("holdout")
    assert srm({"holdout": held, "rest": sum(counts.values())}, {"holdout": 0.05, "rest": 0.95})["p_value"] > 0.01
    assert srm(dict(counts), {k: 0.25 for k in counts})["p_value"] > 0.01
    # the factors are independent: subject does not predict image
    both = Counter(a for a in (x for _, x in arms) if a != "holdout")
    assert abs(both["subject=plain|image=product"] - both["subject=plain|image=lifestyle"]) < 0.05 * both.total() / 4
    # stable across runs
    assert arms == cfg.assign_many("creative", UNITS)


def test_arm_survives_a_merge():
    # a merge folds other records into a surviving profile; its id, hence its arm, is unchanged
    cfg = parse_experiments({"experiments": [{"name": "x", "arms": {"control": 1, "t": 1}}]})
    before = cfg.assign("x", "P00000042")
    merged_records = ["shop:C1", "crm:CRM-1", "web:anon-9"]  # never an input to the assignment
    assert all(cfg.assign("x", "P00000042") == before for _ in merged_records)


def test_repo_config_loads():
    cfg = load_experiments()
    assert {"cart_reminder_timing", "email_creative_2x2"} <= set(cfg.experiments)
    assert cfg.holdout_percent == 5 and cfg.holdout_salt == "nbo-2026-11"  # offers.yml's holdout
    assert BUCKETS == 10_000


@pytest.mark.parametrize("bad, message", [
    ({"experiments": [{"name": "x", "arms": {"control": 1}}]}, "at least two arms"),
    ({"experiments": [{"name": "x", "arms": {"a": 1, "b": 1}}]}, "not one of the arms"),
    ({"experiments": [{"name": "x", "arms": {"control": 1, "b": -1}}]}, "non-negative"),
    ({"experiments": [{"name": "x", "arms": {"control": 1, "b": 1}, "factors": {}}]}, "either arms"),
    ({"global_holdout": {"percent": 150}}, "0..100"),
])
def test_config_errors(bad, message):
    with pytest.raises(ConfigError, match=message):
        parse_experiments(bad)
