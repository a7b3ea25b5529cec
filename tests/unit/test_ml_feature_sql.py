"""The propensity feature SQL (dbt macro + the two ml_features marts) on a tiny hand-made warehouse.

Builds a throw-away dbt project in tmp_path holding the real ml macro, the real ml models and
the real tessera_as_of() macro, with stub upstream models reading hand-made tables, then checks
every feature and label against values worked out by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from ml import features as F
from tessera.paths import DBT_PROJECT_DIR

AS_OF = "2026-11-20T00:00:00Z"  # cutoffs: k=1 2026-08-22, k=2 2026-05-24, k=3 2026-02-23

REQUIRED = [
    DBT_PROJECT_DIR / "macros" / "ml_propensity_features.sql",
    DBT_PROJECT_DIR / "macros" / "tessera_as_of.sql",
    DBT_PROJECT_DIR / "models" / "marts" / "ml" / "ml_propensity_training.sql",
    DBT_PROJECT_DIR / "models" / "marts" / "ml" / "ml_propensity_scoring.sql",
]

UPSTREAM = """
create schema src;
create table src.orders (order_id varchar, profile_id varchar, customer_id varchar,
    ordered_at timestamp, status varchar, amount double, channel varchar);
insert into src.orders values
    ('o1', 'A', 'C1', '2026-01-10 10:00:00', 'completed', 100, 'web'),
    ('o2', 'A', 'C1', '2026-04-01 10:00:00', 'completed', 50, 'web'),
    ('o3', 'A', 'C1', '2026-05-01 10:00:00', 'cancelled', 70, 'web'),
    ('o4', 'A', 'C1', '2026-07-01 10:00:00', 'completed', 30, 'app'),
    ('o5', 'C', 'C3', '2026-09-01 10:00:00', 'completed', 20, 'web'),
    ('o6', 'D', 'C4', '2025-12-01 10:00:00', 'completed', 10, 'store'),
    ('o7', 'D', 'C4', '2026-05-24 00:00:00', 'completed', 10, 'store'),  -- exactly at cutoff k=2
    ('o8', null, null, '2026-01-01 10:00:00', 'completed', 10, 'web');
create table src.order_lines (order_line_id varchar, order_id varchar, profile_id varchar,
    ordered_at timestamp, product_id varchar, category varchar, quantity integer,
    unit_price double, line_amount double);
insert into src.order_lines values
    ('l1', 'o1', 'A', '2026-01-10 10:00:00', 'p1', 'shoes', 1, 60, 60),
    ('l2', 'o1', 'A', '2026-01-10 10:00:00', 'p2', 'bags', 1, 40, 40),
    ('l3', 'o2', 'A', '2026-04-01 10:00:00', 'p1', 'shoes', 1, 50, 50),
    ('l4', 'o3', 'A', '2026-05-01 10:00:00', 'p3', 'hats', 1, 70, 70);
create table src.events (event_id varchar, profile_id varchar, event_type varchar,
    event_name varchar, occurred_at timestamp, platform varchar, product_id varchar,
    category varchar, revenue double);
insert into src.events values
    ('e1', 'A', 'track', 'Product Added', '2026-05-10 09:00:00', 'web', 'p1', 'shoes', null),
    ('e2', 'A', 'track', 'Product Viewed', '2026-05-20 09:00:00', 'web', 'p1', 'shoes', null),
    ('e3', 'A', 'track', 'Checkout Started', '2026-08-01 09:00:00', 'web', null, null, null),
    ('e4', 'B', 'page', 'Home', '2026-06-01 09:00:00', 'web', null, null, null),
    ('e5', 'B', 'page', 'Home', '2026-08-22 00:00:00', 'web', null, null, null),  -- at cutoff k=1
    ('e6', 'E', 'page', 'Home', '2026-12-01 00:00:00', 'web', null, null, null);  -- after as-of
create table src.profiles (profile_id varchar, is_loyalty_member boolean);
insert into src.profiles values ('A', false), ('B', false), ('C', false), ('D', true);
"""

STUBS = {
    "int_orders_resolved": "select * from src.orders",
    "int_order_lines_resolved": "select * from src.order_lines",
    "int_events_resolved": "select * from src.events",
    "dim_customer_profiles": "select * from src.profiles",
}


def _make_project(root: Path, warehouse: Path) -> Path:
    (root / "macros").mkdir(parents=True)
    (root / "models" / "upstream").mkdir(parents=True)
    (root / "models" / "ml").mkdir(parents=True)
    for src in REQUIRED[:2]:
        shutil.copy(src, root / "macros" / src.name)
    for src in REQUIRED[2:] + [DBT_PROJECT_DIR / "models" / "marts" / "ml" / "_ml__models.yml"]:
        shutil.copy(src, root / "models" / "ml" / src.name)
    for name, sql in STUBS.items():
        (root / "models" / "upstream" / f"{name}.sql").write_text(sql + "\n")
    (root / "macros" / "generate_schema_name.sql").write_text(
        "{% macro generate_schema_name(custom_schema_name, node) -%}"
        "{{ (custom_schema_name or target.schema) | trim }}{%- endmacro %}\n"
    )
    (root / "dbt_project.yml").write_text(
        "name: tessera\nversion: '0.1.0'\nconfig-version: 2\nprofile: mltest\n"
        "models:\n  tessera:\n    +materialized: table\n"
        "    upstream:\n      +materialized: view\n      +schema: intermediate\n"
        "    ml:\n      +schema: ml_features\n"
    )
    (root / "profiles.yml").write_text(
        f"mltest:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{warehouse}'\n"
        "      schema: main\n      threads: 1\n      settings:\n        TimeZone: UTC\n"
    )
    return root


@pytest.fixture(scope="module")
def marts(tmp_path_factory):
    missing = [str(p) for p in REQUIRED if not p.exists()]
    if missing:
        pytest.skip(f"dbt files not present yet: {missing}")
    tmp = tmp_path_factory.mktemp("mlsql")
    warehouse = tmp / "wh.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute(UPSTREAM)
    con.close()
    project = _make_project(tmp / "project", warehouse)

    # dbt runs as a subprocess, as in the pipeline (dbt-duckdb keeps its connection open in-process).
    dbt = Path(sys.executable).with_name("dbt")
    env = dict(os.environ, TESSERA_AS_OF=AS_OF, DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    proc = subprocess.run(
        [
            str(dbt),
            "build",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--target-path",
            str(tmp / "target"),
            "--log-path",
            str(tmp / "logs"),
            "--no-version-check",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"dbt build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        training = con.execute("select * from ml_features.ml_propensity_training").df()
        scoring = con.execute("select * from ml_features.ml_propensity_scoring").df()
    finally:
        con.close()
    return training, scoring


def _row(df, profile, k=None):
    sel = df["profile_id"] == profile
    if k is not None:
        sel &= df["cutoff_index"] == k
    rows = df[sel]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_feature_columns_match_python_and_both_marts(marts):
    training, scoring = marts
    t_feats = [c for c in training.columns if c in F.FEATURE_COLUMNS]
    s_feats = [c for c in scoring.columns if c in F.FEATURE_COLUMNS]
    assert t_feats == s_feats == list(F.FEATURE_COLUMNS)
    extra_t = set(training.columns) - set(F.FEATURE_COLUMNS)
    extra_s = set(scoring.columns) - set(F.FEATURE_COLUMNS)
    assert extra_t == {"training_row_id", "profile_id", "cutoff_at", "cutoff_index", "horizon_days", "label"}
    assert extra_s == {"profile_id", "cutoff_at"}


def test_population_and_cutoffs(marts):
    training, scoring = marts
    got = sorted(zip(training["profile_id"], training["cutoff_index"]))
    # A from its first order (Jan 10), B from June 1, D from 2025; C starts after the last cutoff
    assert got == [("A", 1), ("A", 2), ("A", 3), ("B", 1), ("D", 1), ("D", 2), ("D", 3)]
    assert sorted(scoring["profile_id"]) == ["A", "B", "C", "D"]  # E only acts after the as-of
    cutoffs = training.groupby("cutoff_index")["cutoff_at"].first()
    assert [str(pd.Timestamp(cutoffs[k]).date()) for k in (1, 2, 3)] == [
        "2026-08-22",
        "2026-05-24",
        "2026-02-23",
    ]
    assert set(training["horizon_days"]) == {90}


def test_features_use_only_data_before_the_cutoff(marts):
    training, _ = marts
    a2 = _row(training, "A", 2)  # cutoff 2026-05-24
    expected = {
        "recency_days": 53,
        "frequency": 2,
        "monetary_total": 150.0,
        "monetary_avg": 75.0,
        "tenure_days": 134,
        "orders_30d": 0,
        "orders_90d": 1,
        "orders_180d": 2,
        "non_completed_orders": 1,
        "distinct_categories": 2,
        "events_30d": 2,
        "product_views_30d": 1,
        "product_adds_30d": 1,
        "checkouts_30d": 0,
        "days_since_last_event": 4,
        "is_loyalty_member": 0,
    }
    assert {k: a2[k] for k in expected} == expected
    b1 = _row(training, "B", 1)  # events only; the event at exactly the cutoff is not counted
    assert pd.isna(b1["recency_days"]) and pd.isna(b1["monetary_avg"])
    assert b1["frequency"] == 0 and b1["events_30d"] == 0 and b1["days_since_last_event"] == 82
    d2 = _row(training, "D", 2)  # the order at exactly the cutoff is not a feature
    assert d2["frequency"] == 1 and d2["is_loyalty_member"] == 1


def test_labels(marts):
    training, _ = marts
    labels = {
        (p, k): lab for p, k, lab in zip(training["profile_id"], training["cutoff_index"], training["label"])
    }
    assert labels == {
        ("A", 3): 1,  # Apr 1 in (Feb 23, May 24]
        ("A", 2): 1,  # Jul 1 in (May 24, Aug 22]
        ("A", 1): 0,  # nothing after Aug 22
        ("B", 1): 0,
        ("D", 3): 1,  # the order at exactly May 24 00:00 closes the window (Feb 23, May 24] ...
        ("D", 2): 0,  # ... and is neither a feature nor a label of the cutoff May 24
        ("D", 1): 0,
    }


def test_scoring_features_as_of_now(marts):
    _, scoring = marts
    a = _row(scoring, "A")
    assert a["frequency"] == 3 and a["recency_days"] == 142 and a["non_completed_orders"] == 1
    b = _row(scoring, "B")
    assert b["days_since_last_event"] == 90 and b["events_30d"] == 0
    c = _row(scoring, "C")
    assert c["frequency"] == 1 and c["tenure_days"] == 80
