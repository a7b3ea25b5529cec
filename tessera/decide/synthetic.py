"""Synthetic inputs for the decision models, for tests and benchmarks/decide.

``build_decision_sandbox(folder, customers, offers)`` writes, into ``folder``:

- ``config/``: segments and an offer catalog of ``offers`` offers on four channels;
- ``dbt_project/``: a copy of the project compiled from that configuration (the shared tree's
  generated files are never touched);
- ``warehouse.duckdb``: the tables the decision models read (profiles, consent, events,
  segments, scores, feedback, identifiers, the exposure log), generated in SQL.

``run_decisions(sandbox)`` runs ``dbt seed`` and ``dbt run`` of the decision models on it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import yaml

from tessera import paths

AS_OF = "2026-11-20T12:00:00Z"
CHANNELS = ("email", "sms", "push", "web")
SEGMENTS = ("cart_abandoners_7d", "high_value_at_risk", "new_subscribers", "lapsed_loyalty")
DECISION_MODELS = [
    "path:seeds",
    "path:models/marts/decisions",
    "path:models/intermediate/decisions",
]


@dataclass(frozen=True)
class Sandbox:
    root: Path
    config_dir: Path
    dbt_dir: Path
    warehouse: Path
    as_of: str = AS_OF  # the run's TESSERA_AS_OF; dataclasses.replace(box, as_of=...) for another cycle

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DBT_SEND_ANONYMOUS_USAGE_STATS="false",
            TESSERA_DBT_TARGET="duckdb",
            TESSERA_WAREHOUSE=str(self.warehouse),
            TESSERA_AS_OF=self.as_of,
            TESSERA_CONFIG_DIR=str(self.config_dir),
            DBT_TARGET_PATH=str(self.root / "target"),
            DBT_LOG_PATH=str(self.root / "logs"),
            DBT_PARTIAL_PARSE="false",
        )
        return env


def catalog(n_offers: int, budget_offer: bool = True) -> dict:
    offers = []
    conditions = [
        {"segment": "cart_abandoners_7d"},
        {"segment": "high_value_at_risk"},
        {"trait": "order_count", "op": "gte", "value": 1},
        {"trait": "lifetime_value", "op": "gt", "value": 100},
        {"segment": "lapsed_loyalty"},
        {"any": [{"segment": "new_subscribers"}, {"trait": "order_count", "op": "eq", "value": 0}]},
        None,
    ]
    for i in range(n_offers):
        channel_sets = [CHANNELS, ("email", "web"), ("email", "sms", "push"), ("push", "web")]
        chans = channel_sets[i % len(channel_sets)]
        offer = {
            "id": f"offer_{i:02d}",
            "name": f"Offer {i}",
            "value": float(5 + (i * 7) % 31),
            "priority": i % 5,
            "channels": {c: {"subject": f"Offer {i}", "body": "b", "message": "m", "title": "t", "headline": "h"}
                         if c == "email" else {"message": f"Offer {i}"} for c in chans},
        }
        cond = conditions[i % len(conditions)]
        if cond is not None:
            offer["eligibility"] = cond
        if i % 6 == 1:
            offer["cap"] = {"max": 1, "per_days": 14}
        if budget_offer and i == 3:
            offer["budget"] = 50
        if i == 2:
            offer["control_percent"] = 10
        offers.append(offer)
    offers.append({
        "id": "default_newsletter", "name": "Newsletter", "default": True, "value": 1.0, "priority": 0,
        "channels": {c: {"message": "news"} for c in CHANNELS},
    })
    return {
        "version": "bench",
        "channels": {
            "email": {"consent_purpose": "marketing", "rank": 1},
            "sms": {"consent_purpose": "marketing", "rank": 3,
                    "quiet_hours": {"start": "21:00", "end": "08:00", "utc_offset_hours": -5}},
            "push": {"consent_purpose": "marketing", "rank": 2,
                     "quiet_hours": {"start": "06:00", "end": "08:00", "utc_offset_hours": 0}},
            "web": {"consent_purpose": "personalization"},
        },
        "fatigue": {"max_touches": 3, "window_days": 7},
        "experiment": {"name": "bench", "salt": "bench-salt", "holdout_percent": 5, "control_percent": 10},
        "personalization": {"min_orders": 1, "min_events": 3},
        "offers": offers,
    }


def _write_config(config_dir: Path, n_offers: int) -> None:
    (config_dir / "segments").mkdir(parents=True, exist_ok=True)
    for seg in SEGMENTS:
        (config_dir / "segments" / f"{seg}.yml").write_text(yaml.safe_dump({
            "name": seg, "description": "synthetic",
            "conditions": {"trait": "order_count", "op": "gte", "value": 0},
        }))
    (config_dir / "offers.yml").write_text(yaml.safe_dump(catalog(n_offers), sort_keys=False))


def _copy_project(dbt_dir: Path) -> None:
    shutil.copytree(paths.DBT_PROJECT_DIR, dbt_dir,
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "*.duckdb"))


def _write_inputs(warehouse: Path, customers: int, seed: int = 1) -> None:
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(f"select setseed({(seed % 100) / 100})")
        for schema in ("profiles", "intermediate", "segments", "ml", "staging", "experiments"):
            con.execute(f"create schema if not exists {schema}")
        n = int(customers)
        con.execute(f"""
            create or replace table profiles.dim_customer_profiles as
            select
                'P' || lpad(cast(i as varchar), 8, '0') as profile_id,
                'First' || i as first_name, 'Last' as last_name,
                case when i % 10 < 9 then 'user' || i || '@example.com' end as email,
                case when i % 3 = 0 then '+1555' || lpad(cast(i as varchar), 7, '0') end as phone,
                'C' || i as customer_id,
                case when i % 4 = 0 then 'L' || i end as loyalty_id,
                case when i % 4 = 0 then 'gold' end as loyalty_tier,
                i % 4 = 0 as is_loyalty_member,
                1 as record_count, 1 as source_count,
                cast((i * 37) % 900 as double) as lifetime_value,
                cast((i * 7) % 6 as bigint) as order_count,
                cast((i * 13) % 120 as double) as avg_order_value,
                cast(null as timestamp) as first_order_at,
                cast(null as timestamp) as last_order_at,
                (i * 11) % 400 as days_since_last_order,
                'books' as favourite_category,
                cast(null as timestamp) as last_seen_at,
                case when i % 2 = 0 then 'tok' || i end as push_token,
                i % 10 < 9 as email_reachable, i % 3 = 0 as sms_reachable, i % 2 = 0 as push_reachable,
                i % 5 <> 0 as web_reachable,
                cast(null as timestamp) as profile_created_at,
                -- a known time zone for some (quiet hours on their clock), an unknown one for others
                case when i % 7 = 0 then 'America/New_York' when i % 7 = 1 then 'Not/A_Zone' end as timezone
            from range({n}) t(i)
        """)
        con.execute("""
            create or replace table intermediate.int_consent_latest as
            select p.profile_id, c.channel,
                   case when c.channel = 'web' then 'personalization' else 'marketing' end as purpose,
                   case when hash(p.profile_id || c.channel) % 10 < 8 then 'opt_in' else 'opt_out' end as status,
                   timestamptz '2026-10-01 00:00:00+00' as occurred_at
            from profiles.dim_customer_profiles p
            cross join (values ('email'), ('sms'), ('push'), ('web')) c(channel)
        """)
        con.execute("""
            create or replace table intermediate.int_events_resolved as
            select 'E' || i as event_id, 'P' || lpad(cast(i % greatest(1, (select count(*) from profiles.dim_customer_profiles) // 2) as varchar), 8, '0') as profile_id,
                   'track' as event_type, 'Product Viewed' as event_name,
                   timestamptz '2026-11-15 00:00:00+00' as occurred_at, 'web' as platform,
                   cast(null as varchar) as product_id, cast(null as varchar) as category,
                   cast(null as double) as revenue
            from range((select count(*) from profiles.dim_customer_profiles)) t(i)
        """)
        for k, seg in enumerate(SEGMENTS):
            con.execute(f"""
                create or replace table segments.seg_{seg} as
                select profile_id, '{seg}' as segment, timestamp '2026-11-20 12:00:00' as computed_at
                from profiles.dim_customer_profiles
                where hash(profile_id || '{seg}') % 5 = {k % 5}
            """)
        con.execute("""
            create or replace table ml.propensity_scores as
            select profile_id, (hash(profile_id) % 1000) / 1000.0 as score, 'tessera_purchase_propensity' as model_name,
                   '3' as model_version, 'run' as mlflow_run_id, timestamptz '2026-11-20 00:00:00+00' as scored_at
            from profiles.dim_customer_profiles
            where hash(profile_id) % 10 <> 0
        """)
        con.execute("""
            create or replace table staging.stg_shop__products as
            select 'P' || k as product_id, 'Product ' || k as product_name, 'category ' || (k % 5) as category,
                   10.0 + k as price, timestamptz '2026-11-01 00:00:00+00' as updated_at
            from range(50) r(k)
        """)
        con.execute("""
            create or replace table ml.product_recommendations as
            select profile_id, 'P' || ((hash(profile_id) + k * 7) % 50) as product_id, cast(k + 1 as integer) as rank,
                   1.0 / (k + 1) as score, timestamp '2026-11-20 00:00:00' as generated_at
            from profiles.dim_customer_profiles cross join range(10) r(k)
        """)
        con.execute("""
            create or replace table intermediate.int_identifier_profiles as
            select 'customer_id' as id_type, customer_id as id_value, profile_id
            from profiles.dim_customer_profiles
        """)
        # delivered messages in the last 7 days: 0..4 per customer, on several channels
        con.execute("""
            create or replace table staging.stg_feedback__channel_feedback as
            select 'F' || p.customer_id || '-' || k as feedback_id, 'M' || p.customer_id || '-' || k as message_id,
                   'camp' as campaign_id,
                   case when k = 0 then 'offer_01' else 'offer_05' end as offer_id,
                   case k % 3 when 0 then 'email' when 1 then 'sms' else 'push' end as channel,
                   p.customer_id, cast(null as varchar) as email, 'delivered' as event_type,
                   timestamptz '2026-11-20 12:00:00+00' - to_days(1 + k) as occurred_at,
                   cast(null as double) as revenue
            from profiles.dim_customer_profiles p
            cross join range(4) r(k)
            where hash(p.profile_id) % 5 > k
        """)
    finally:
        con.close()


def build_decision_sandbox(folder: Path, customers: int = 2000, offers: int = 20) -> Sandbox:
    from tessera.compile import compile_all

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    box = Sandbox(folder, folder / "config", folder / "dbt_project", folder / "warehouse.duckdb")
    _write_config(box.config_dir, offers)
    if not box.dbt_dir.exists():
        _copy_project(box.dbt_dir)
    compile_all(box.config_dir, box.dbt_dir)
    _write_inputs(box.warehouse, customers)
    return box


def dbt(box: Sandbox, *args: str) -> subprocess.CompletedProcess:
    exe = str(Path(sys.executable).with_name("dbt"))
    result = subprocess.run(
        [exe, *args, "--profiles-dir", str(box.dbt_dir), "--project-dir", str(box.dbt_dir)],
        cwd=box.dbt_dir, env=box.env(), capture_output=True, text=True, check=False, timeout=1800,
    )
    if result.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{result.stdout[-5000:]}\n{result.stderr[-2000:]}")
    return result


def run_decisions(box: Sandbox) -> dict[str, float]:
    """Seed and run the decision models; returns wall times (seconds)."""
    t0 = time.perf_counter()
    dbt(box, "seed", "--select", "path:seeds")
    t1 = time.perf_counter()
    dbt(box, "run", "--select", *DECISION_MODELS[1:])
    t2 = time.perf_counter()
    return {"seed_s": t1 - t0, "run_s": t2 - t1}
