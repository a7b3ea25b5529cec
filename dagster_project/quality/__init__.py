"""Data-quality asset checks: Great Expectations suites from expectations/ (docs/quality.md)."""

from dagster import AssetKey

from dagster_project.quality.checks import build_gx_check

#: (asset key as keyed by the dbt translator [<schema>, <model>], warehouse table, suite name)
GX_CHECKED_TABLES: list[tuple[list[str], str, str]] = [
    (["profiles", "dim_customer_profiles"], "profiles.dim_customer_profiles", "dim_customer_profiles"),
    (["decisions", "fct_decisions"], "decisions.fct_decisions", "fct_decisions"),
    (["activation", "sync_email__decisions"], "activation.sync_email__decisions", "sync_email__decisions"),
]

quality_checks = [
    build_gx_check(AssetKey(key), table, suite, blocking=True) for key, table, suite in GX_CHECKED_TABLES
]

__all__ = ["GX_CHECKED_TABLES", "build_gx_check", "quality_checks"]
