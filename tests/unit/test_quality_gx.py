"""Great Expectations suites (expectations/) and their Dagster asset checks."""

from __future__ import annotations

import json
import os
import shutil

import duckdb
import pandas as pd
import pytest

from tessera import paths
from tessera.quality import gx as q

PROFILE_COLUMNS = (
    "profile_id, first_name, email, phone, lifetime_value, order_count, "
    "email_reachable, sms_reachable, push_reachable, web_reachable"
)
GOOD_PROFILE_ROWS = """
    ('P1', 'Ann', 'ann@example.com', '+14155550100', 120.50::decimal(18,2), 3::bigint, true, true, false, true),
    ('P2', 'Bob', NULL, NULL, 0::decimal(18,2), 0::bigint, false, false, NULL::boolean, true),
    ('P3', 'Cy', 'cy.o+tag@mail.co.uk', '+447700900123', NULL::decimal(18,2), NULL::bigint, true, NULL, false, false)
"""
BAD_PROFILE_ROWS = """
    ('P1', 'Ann', 'ann@example.com', '+14155550100', 120.50::decimal(18,2), 3::bigint, true, true, false, true),
    ('P1', 'Bob', 'not-an-email', '07700900123', -5::decimal(18,2), 0::bigint, false, false, NULL::boolean, true),
    ('P3', 'Cy', 'cy@example.com', '+447700900123', -1::decimal(18,2), 2::bigint, true, NULL, false, false)
"""


def write_profiles(db_path, rows: str) -> None:
    con = duckdb.connect(str(db_path))
    try:
        con.execute("create schema if not exists profiles")
        con.execute(
            "create or replace table profiles.dim_customer_profiles as "
            f"select * from (values {rows}) t({PROFILE_COLUMNS})"
        )
    finally:
        con.close()


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("TESSERA_WAREHOUSE", str(path))
    return path


# --------------------------------------------------------------------------- the project


def test_project_has_the_suites_and_never_phones_home():
    assert {"dim_customer_profiles", "fct_decisions", "sync_email__decisions"} <= set(q.list_suites())
    assert os.environ["GX_ANALYTICS_ENABLED"] == "false"
    context = q.get_context()
    assert context.config.analytics_enabled is False
    assert str(paths.EXPECTATIONS_DIR) in str(context.root_directory)
    assert q.suite_table("fct_decisions") == "decisions.fct_decisions"
    with pytest.raises(q.SuiteNotFoundError):
        q.load_suite("no_such_suite")


# --------------------------------------------------------------------------- dim_customer_profiles


def test_profiles_suite_passes_on_good_table(warehouse):
    write_profiles(warehouse, GOOD_PROFILE_ROWS)
    result = q.run_suite("dim_customer_profiles")  # table from the suite's meta, warehouse from env
    assert result.success, result.summary()
    assert result.table == "profiles.dim_customer_profiles"
    assert result.row_count == 3
    assert result.evaluated_count >= 11
    assert result.failed_names == []


def test_profiles_suite_fails_on_bad_table_naming_expectations_and_counts(warehouse):
    write_profiles(warehouse, BAD_PROFILE_ROWS)
    result = q.run_suite("dim_customer_profiles", "profiles.dim_customer_profiles")
    assert not result.success
    assert set(result.failed_names) == {
        "expect_column_values_to_be_unique(profile_id)",
        "expect_column_values_to_match_regex(email)",
        "expect_column_values_to_match_regex(phone)",
        "expect_column_values_to_be_between(lifetime_value)",
    }, result.summary()
    counts = result.unexpected_counts
    assert counts["expect_column_values_to_be_unique(profile_id)"] == 2
    assert counts["expect_column_values_to_match_regex(email)"] == 1
    assert counts["expect_column_values_to_be_between(lifetime_value)"] == 2
    assert counts["expect_column_values_to_be_between(order_count)"] == 0
    assert result.outcome("expect_column_values_to_match_regex(email)").unexpected_sample == ["not-an-email"]
    assert sorted(result.outcome("expect_column_values_to_be_between(lifetime_value)").unexpected_sample) == [
        -5.0,
        -1.0,
    ]
    json.dumps(result.to_dict())  # metadata-friendly


def test_profiles_suite_checks_flag_types_and_row_count():
    df = pd.DataFrame(
        {
            "profile_id": pd.Series([], dtype="str"),
            "email": pd.Series([], dtype="str"),
            "phone": pd.Series([], dtype="str"),
            "lifetime_value": pd.Series([], dtype="float64"),
            "order_count": pd.Series([], dtype="int64"),
            "email_reachable": pd.Series([], dtype="int64"),  # not a boolean
            "sms_reachable": pd.Series([], dtype="bool"),
            "push_reachable": pd.Series([], dtype="boolean"),
            "web_reachable": pd.Series([], dtype="bool"),
        }
    )
    result = q.validate_dataframe(df, "dim_customer_profiles")
    assert set(result.failed_names) == {
        "expect_table_row_count_to_be_between",
        "expect_column_values_to_be_in_type_list(email_reachable)",
    }, result.summary()


# --------------------------------------------------------------------------- decisions + activation


def decisions_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "decision_id": ["D1", "D2", "D3"],
            "profile_id": ["P1", "P1", "P2"],
            "channel": ["email", "sms", "email"],
            "offer_id": ["O1", "O2", "O1"],
            "is_default": [False, True, False],
            "arm": ["treatment", "control", "holdout"],
            "reason_code": ["propensity", "default", "holdout"],
            "score": [0.7, None, 0.1],
            "expected_value": [7.0, 0.0, 1.0],
            "model_version": ["3", "3", "3"],
            "rules_version": ["abc", "abc", "abc"],
            "decided_at": pd.to_datetime(["2026-11-20T00:00:00Z"] * 3),
        }
    )


def test_decisions_suite():
    assert q.validate_dataframe(decisions_frame(), "fct_decisions").success
    bad = decisions_frame()
    bad.loc[1, "channel"] = "email"  # (P1, email) twice
    bad.loc[2, "arm"] = "control_group"
    bad.loc[0, "score"] = 1.5
    result = q.validate_dataframe(bad, "fct_decisions")
    assert set(result.failed_names) == {
        "expect_compound_columns_to_be_unique(profile_id,channel)",
        "expect_column_values_to_be_in_set(arm)",
        "expect_column_values_to_be_between(score)",
    }, result.summary()
    assert result.unexpected_counts["expect_compound_columns_to_be_unique(profile_id,channel)"] == 2


def test_sync_email_suite_on_warehouse_table(warehouse):
    con = duckdb.connect(str(warehouse))
    con.execute("create schema activation")
    con.execute(
        "create table activation.sync_email__decisions as select * from (values "
        "('K1','P1','ann@example.com','Ann','O1','10% off','Hi Ann','...','treatment','r','3','D1'),"
        "('K1','P2',NULL,'Bob','O1','10% off',NULL,'...','control','r','3','D2')"
        ") t(decision_key, profile_id, email, first_name, offer_id, offer_name, subject, body, arm, "
        "reason_code, model_version, decision_id)"
    )
    con.close()
    result = q.run_suite("sync_email__decisions")
    assert set(result.failed_names) == {
        "expect_column_values_to_be_unique(decision_key)",
        "expect_column_values_to_not_be_null(email)",
        "expect_column_values_to_not_be_null(subject)",
    }, result.summary()


def test_suites_are_editable_json(tmp_path):
    project = tmp_path / "expectations"
    shutil.copytree(paths.EXPECTATIONS_DIR, project, ignore=shutil.ignore_patterns("uncommitted"))
    suite_file = project / "gx" / "expectations" / "fct_decisions.json"
    suite = json.loads(suite_file.read_text())
    suite["expectations"].append(
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "model_version", "value_set": ["4"]},
        }
    )
    suite_file.write_text(json.dumps(suite))
    result = q.validate_dataframe(decisions_frame(), "fct_decisions", expectations_dir=project)
    assert result.failed_names == ["expect_column_values_to_be_in_set(model_version)"]


# --------------------------------------------------------------------------- Dagster blocking check


@pytest.mark.parametrize("good", [True, False], ids=["good-data", "bad-data"])
def test_blocking_check_gates_downstream(warehouse, good):
    from dagster import AssetKey, asset, materialize

    from dagster_project.quality import build_gx_check

    key = AssetKey(["profiles", "dim_customer_profiles"])

    @asset(key=key)
    def profiles() -> None:
        write_profiles(paths.warehouse_path(), GOOD_PROFILE_ROWS if good else BAD_PROFILE_ROWS)

    @asset(deps=[key])
    def downstream() -> None:
        con = duckdb.connect(str(paths.warehouse_path()))
        con.execute("create table downstream as select * from profiles.dim_customer_profiles")
        con.close()

    check = build_gx_check(key, "profiles.dim_customer_profiles", "dim_customer_profiles", blocking=True)
    result = materialize([profiles, downstream, check], raise_on_error=False)

    evaluations = result.get_asset_check_evaluations()
    assert [e.check_name for e in evaluations] == ["gx_dim_customer_profiles"]
    evaluation = evaluations[0]
    assert evaluation.passed is good
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert key in materialized
    if good:
        assert result.success
        assert AssetKey("downstream") in materialized
    else:
        assert not result.success
        assert AssetKey("downstream") not in materialized
        metadata = evaluation.metadata
        assert "expect_column_values_to_be_unique(profile_id)" in metadata["failed_expectations"].value
        assert metadata["unexpected_counts"].value["expect_column_values_to_be_between(lifetime_value)"] == 2
        assert metadata["evaluated_expectations"].value >= 11
        con = duckdb.connect(str(paths.warehouse_path()), read_only=True)
        tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
        con.close()
        assert "downstream" not in tables


def test_quality_checks_cover_contract_tables():
    from dagster_project.quality import quality_checks

    keys = {k for c in quality_checks for k in c.check_keys}
    assert {(k.asset_key.path[0], k.asset_key.path[1], k.name) for k in keys} == {
        ("profiles", "dim_customer_profiles", "gx_dim_customer_profiles"),
        ("decisions", "fct_decisions", "gx_fct_decisions"),
        ("activation", "sync_email__decisions", "gx_sync_email__decisions"),
    }
    assert all(spec.blocking for c in quality_checks for spec in c.check_specs)
