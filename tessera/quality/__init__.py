"""Data quality: Great Expectations suites run against warehouse tables (see docs/quality.md)."""

from tessera.quality.gx import (
    ExpectationOutcome,
    SuiteNotFoundError,
    SuiteResult,
    get_context,
    list_suites,
    load_suite,
    read_table,
    run_suite,
    suite_table,
    validate_dataframe,
)

__all__ = [
    "ExpectationOutcome",
    "SuiteNotFoundError",
    "SuiteResult",
    "get_context",
    "list_suites",
    "load_suite",
    "read_table",
    "run_suite",
    "suite_table",
    "validate_dataframe",
]
