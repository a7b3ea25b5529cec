"""Builds the dbt project (staging, intermediate, marts/profiles, analytics, measurement) on the
raw fixture in a throw-away DuckDB file, in the same two passes Dagster runs:

    pass 1: staging + intermediate/identity
    identity: a stand-in identity.record_profiles (grouping by email)
    pass 2: intermediate/profiles + marts/profiles, analytics, measurement (+ singular tests)

and checks real outcomes: normalization, golden values, lifetime value, consent reachability.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
DBT_DIR = ROOT / "dbt_project"
DBT = str(Path(sys.executable).with_name("dbt"))
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))

from raw_fixture import AS_OF, create_raw_fixture, write_identity_from_records

PASS_1 = ["path:models/staging", "path:models/intermediate/identity"]
PASS_2 = [
    "path:models/intermediate/profiles",
    "path:models/marts/profiles",
    "path:models/marts/analytics",
    "path:models/marts/measurement",
    "path:tests/profiles",
]

pytestmark = pytest.mark.timeout(600)


def _dbt(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [DBT, *args, "--profiles-dir", str(DBT_DIR), "--project-dir", str(DBT_DIR)],
        check=False, cwd=DBT_DIR, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
    return result


@pytest.fixture(scope="module")
def dbt_env(tmp_path_factory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("dbt")
    env = dict(os.environ)
    env.update(
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        TESSERA_DBT_TARGET="duckdb",
        TESSERA_WAREHOUSE=str(tmp / "warehouse.duckdb"),
        TESSERA_AS_OF=AS_OF,
        DBT_TARGET_PATH=str(tmp / "target"),   # do not share target/ with other dbt runs in the tree
        DBT_LOG_PATH=str(tmp / "logs"),
        DBT_PARTIAL_PARSE="false",
    )
    return env


@pytest.fixture(scope="module")
def warehouse(dbt_env) -> duckdb.DuckDBPyConnection:
    path = Path(dbt_env["TESSERA_WAREHOUSE"])
    create_raw_fixture(path)
    _dbt(["build", "--indirect-selection", "cautious", "--select", *PASS_1], dbt_env)
    write_identity_from_records(path)
    _dbt(["build", "--indirect-selection", "cautious", "--select", *PASS_2], dbt_env)
    con = duckdb.connect(str(path), read_only=True)
    yield con
    con.close()


def _one(con, sql, *params):
    return con.execute(sql, list(params)).fetchone()


def _profile(con, email: str | None = None, loyalty_id: str | None = None) -> dict:
    column, value = ("email", email) if email else ("loyalty_id", loyalty_id)
    cur = con.execute(f"select * from profiles.dim_customer_profiles where {column} = ?", [value])
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    assert len(rows) == 1, rows
    return dict(zip(names, rows[0]))


def test_whole_project_parses(dbt_env):
    _dbt(["parse"], dbt_env)


def test_staging_normalizes_identifiers(warehouse):
    assert _one(warehouse, "select email, phone, first_name from staging.stg_shop__customers where customer_id = 'C0000001'") == (
        "jane.doe@example.com", "+15551234567", "Jane")
    assert _one(warehouse, "select email, phone from staging.stg_loyalty__members where loyalty_id = 'L0000002'") == (None, None)
    assert _one(warehouse, "select first_name, last_name from staging.stg_crm__contacts where crm_id = 'CRM-0000001'") == ("Jane", "Doe")
    assert _one(warehouse, "select requester_first_name, requester_last_name from staging.stg_support__tickets") == ("B.", "Smith")
    # the duplicated messageId is staged once
    assert _one(warehouse, "select count(*) from staging.stg_web__events where event_id = 'e-b1-1'") == (1,)
    assert _one(warehouse, "select platform, device_id, push_token from staging.stg_web__events where event_id = 'e-a1-3'") == (
        "ios", "dev-ios-a", "tok-a-new")


def test_identity_inputs_follow_contract_3(warehouse):
    records = {r[0] for r in warehouse.execute("select record_id from intermediate.int_identity__records").fetchall()}
    assert records == {
        "shop:C0000001", "shop:C0000002", "crm:CRM-0000001", "crm:CRM-0000002", "loyalty:L0000001",
        "loyalty:L0000002", "support:T0000001", "web:anon-a1", "web:anon-a2", "web:anon-b1", "web:anon-z",
    }
    assert _one(warehouse, "select email, customer_id, device_id from intermediate.int_identity__records where record_id = 'web:anon-a1'") == (
        "jane.doe@example.com", "C0000001", "dev-ios-a")
    id_types = {r[0] for r in warehouse.execute("select distinct id_type from intermediate.int_identifiers_unioned").fetchall()}
    assert id_types == {"email", "phone", "customer_id", "loyalty_id", "device_id", "crm_id"}
    assert _one(warehouse, "select id_value from intermediate.int_identifiers_unioned where record_id = 'crm:CRM-0000001' and id_type = 'crm_id'") == ("CRM-0000001",)


def test_golden_profile_and_order_traits(warehouse):
    assert _one(warehouse, "select count(*) from profiles.dim_customer_profiles") == (5,)
    jane = _profile(warehouse, email="jane.doe@example.com")
    assert (jane["first_name"], jane["last_name"]) == ("Jane", "Doe")  # shop beats the newer loyalty "Janie"
    assert jane["phone"] == "+15551234567"
    assert jane["customer_id"] == "C0000001"
    assert (jane["loyalty_id"], jane["loyalty_tier"], jane["is_loyalty_member"]) == ("L0000001", "gold", True)
    assert (jane["record_count"], jane["source_count"]) == (5, 4)
    assert jane["lifetime_value"] == pytest.approx(550.0)  # the cancelled order O3 does not count
    assert jane["order_count"] == 2
    assert jane["avg_order_value"] == pytest.approx(275.0)
    assert jane["days_since_last_order"] == 80
    assert jane["favourite_category"] == "books"
    assert jane["push_token"] == "tok-a-new"
    assert str(jane["last_seen_at"]) == "2026-11-16 09:05:00"

    carol = _profile(warehouse, loyalty_id="L0000002")
    assert carol["email"] is None and carol["phone"] is None
    assert (carol["order_count"], carol["lifetime_value"], carol["days_since_last_order"]) == (0, 0, None)
    assert carol["is_loyalty_member"] is True


def test_consent_reachability(warehouse):
    jane = _profile(warehouse, email="jane.doe@example.com")
    # email opt-in (by email), sms opt-in then opt-out (by phone), push + web opt-in (by customer_id)
    assert (jane["email_reachable"], jane["sms_reachable"], jane["push_reachable"], jane["web_reachable"]) == (
        True, False, True, True)
    bob = _profile(warehouse, email="bob@example.com")
    assert bob["email_reachable"] is False  # opted out an hour after opting in
    dan = _profile(warehouse, email="dan.evans@example.org")
    assert dan["sms_reachable"] is False  # opted in, but no phone number
    # consent for an unknown email reaches no profile
    assert _one(warehouse, "select count(*) from intermediate.int_consent_latest where consent_id = 'K9'") == (0,)


def test_every_event_and_known_order_has_a_profile(warehouse):
    assert _one(warehouse, "select count(*) from intermediate.int_events_resolved where profile_id is null") == (0,)
    assert _one(warehouse, "select count(*) from intermediate.int_orders_resolved where profile_id is null") == (1,)  # O5: unknown customer


def test_analytics_marts(warehouse):
    assert _one(warehouse, "select sum(revenue), sum(orders) from analytics.analytics_daily_revenue") == (610.0, 4)
    funnel = warehouse.execute(
        "select step_name, profiles_or_visitors from analytics.analytics_funnel order by step_number").fetchall()
    assert funnel == [("Product Viewed", 2), ("Product Added", 1), ("Checkout Started", 0), ("Order Completed", 0)]
    assert _one(warehouse, """
        select active_customers, cohort_size, retention_rate from analytics.analytics_cohort_retention
        where cohort_month = date '2026-06-01' and months_since_first = 3""") == (1, 1, 1.0)


def test_measurement_marts(warehouse):
    assert _one(warehouse, "select count(*), count(profile_id) from measurement.fct_channel_responses") == (7, 7)
    row = _one(warehouse, """
        select delivered, opened, clicked, converted, unsubscribed, open_rate, unsubscribe_rate, revenue
        from measurement.mart_offer_channel_response_rates where offer_id = 'OFF-1' and channel = 'email'""")
    assert row == (2, 1, 1, 1, 1, 0.5, 0.5, 40.0)
