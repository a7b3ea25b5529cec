"""Run Great Expectations suites against warehouse tables.

Suites are JSON files in the file-backed GX project under ``tessera.paths.EXPECTATIONS_DIR``
(``expectations/gx/expectations/<suite>.json``); users edit them by hand. This module only loads
them by name, reads the table from DuckDB into pandas over a short-lived read-only connection and
validates it through an in-memory GX context, so a run never writes to the GX project.

No Dagster imports here: ``dagster_project.quality`` wraps :func:`run_suite` as asset checks.

Usage statistics are off: ``GX_ANALYTICS_ENABLED`` is forced to ``false`` before GX is imported,
the project file sets ``analytics_enabled: false`` and both contexts are configured with
``analytics_enabled=False``.
"""

from __future__ import annotations

import os

# Must be set before great_expectations is imported anywhere in this process.
os.environ["GX_ANALYTICS_ENABLED"] = "false"

import math
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import duckdb
import great_expectations as gx
import pandas as pd
from great_expectations.core import ExpectationSuite
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)

from tessera import paths

#: meta key in a suite's JSON naming the warehouse table it checks ("schema.table").
TABLE_META_KEY = "tessera_table"
DEFAULT_SAMPLE_SIZE = 20

_LOCK = threading.RLock()


class SuiteNotFoundError(KeyError):
    """No suite with that name in the GX project."""


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ExpectationOutcome:
    """The outcome of one expectation of a suite."""

    name: str  # stable, readable: "expect_column_values_to_be_unique(profile_id)"
    expectation_type: str
    columns: tuple[str, ...]
    kwargs: dict[str, Any]
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    unexpected_sample: list[Any] = field(default_factory=list)
    observed_value: Any = None
    exception: str | None = None


@dataclass(frozen=True)
class SuiteResult:
    """The outcome of one suite run against one table (or DataFrame)."""

    suite_name: str
    table: str | None
    success: bool
    row_count: int
    results: list[ExpectationOutcome]
    duration_s: float

    @property
    def evaluated_count(self) -> int:
        return len(self.results)

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if not r.success]

    @property
    def failed_names(self) -> list[str]:
        return [r.name for r in self.failed]

    @property
    def unexpected_counts(self) -> dict[str, int]:
        """Unexpected-row count per expectation that reports one (failed or not)."""
        return {r.name: r.unexpected_count for r in self.results if r.unexpected_count is not None}

    def outcome(self, name: str) -> ExpectationOutcome:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def summary(self) -> str:
        head = (
            f"suite {self.suite_name} on {self.table or '<dataframe>'}: "
            f"{'PASSED' if self.success else 'FAILED'} "
            f"({self.evaluated_count - len(self.failed)}/{self.evaluated_count} expectations, "
            f"{self.row_count} rows, {self.duration_s:.2f}s)"
        )
        lines = [head]
        for r in self.failed:
            detail = r.exception or (
                f"{r.unexpected_count} unexpected, sample {r.unexpected_sample[:5]}"
                if r.unexpected_count is not None
                else f"observed {r.observed_value!r}"
            )
            lines.append(f"  FAILED {r.name}: {detail}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failed_expectations"] = self.failed_names
        data["unexpected_counts"] = self.unexpected_counts
        return data


# --------------------------------------------------------------------------- contexts


@cache
def _file_context(root: str):
    """One file-backed context per project folder per process (creation is the slow part)."""
    context = gx.get_context(mode="file", project_root_dir=root)
    # Belt and braces: never report usage, whatever the yml says; in memory only, not saved.
    context.config.analytics_enabled = False
    return context


def get_context(expectations_dir: str | Path | None = None):
    """The GX project's FileDataContext (cached per process)."""
    root = Path(expectations_dir) if expectations_dir is not None else paths.EXPECTATIONS_DIR
    with _LOCK:
        return _file_context(str(root.resolve()))


@lru_cache(maxsize=1)
def _runtime_batch_definition():
    """An in-memory context with one pandas DataFrame asset, reused for every validation."""
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    asset = context.data_sources.add_pandas("tessera_runtime").add_dataframe_asset("table")
    return asset.add_batch_definition_whole_dataframe("whole_table")


def list_suites(expectations_dir: str | Path | None = None) -> list[str]:
    with _LOCK:
        return sorted(s.name for s in get_context(expectations_dir).suites.all())


def load_suite(suite_name: str, expectations_dir: str | Path | None = None) -> ExpectationSuite:
    """Load a suite by name, fresh from its JSON file (so edits are picked up)."""
    with _LOCK:
        context = get_context(expectations_dir)
        try:
            return context.suites.get(suite_name)
        except Exception as exc:  # GX raises DataContextError / StoreBackendError variants
            raise SuiteNotFoundError(
                f"no expectation suite {suite_name!r} in {context.root_directory}: {exc}"
            ) from exc


def suite_table(suite_name: str, expectations_dir: str | Path | None = None) -> str | None:
    """The warehouse table a suite declares in its meta (``tessera_table``), if any."""
    return load_suite(suite_name, expectations_dir).meta.get(TABLE_META_KEY)


# --------------------------------------------------------------------------- running


def validate_dataframe(
    df: pd.DataFrame,
    suite_name: str,
    *,
    table: str | None = None,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    expectations_dir: str | Path | None = None,
) -> SuiteResult:
    """Validate a DataFrame against the named suite."""
    started = time.perf_counter()
    with _LOCK:
        suite = load_suite(suite_name, expectations_dir)
        batch = _runtime_batch_definition().get_batch(batch_parameters={"dataframe": df})
        raw = batch.validate(
            suite,
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": sample_size},
        )
    outcomes = _outcomes(raw.results)
    return SuiteResult(
        suite_name=suite_name,
        table=table,
        success=bool(raw.success),
        row_count=len(df),
        results=outcomes,
        duration_s=round(time.perf_counter() - started, 4),
    )


def read_table(table: str, warehouse: str | Path | None = None) -> pd.DataFrame:
    """Read a whole warehouse table over a read-only connection opened and closed here."""
    db = Path(warehouse) if warehouse is not None else paths.warehouse_path()
    if not db.exists():
        raise FileNotFoundError(f"warehouse {db} does not exist")
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(f"select * from {quote_table(table)}").df()
    finally:
        con.close()


def run_suite(
    suite_name: str,
    table: str | None = None,
    *,
    warehouse: str | Path | None = None,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    expectations_dir: str | Path | None = None,
) -> SuiteResult:
    """Run the named suite against a warehouse table ("schema.table").

    ``table`` defaults to the suite's ``meta.tessera_table``; ``warehouse`` to
    ``tessera.paths.warehouse_path()``. Raises ``duckdb.CatalogException`` if the table is missing.
    """
    started = time.perf_counter()
    if table is None:
        table = suite_table(suite_name, expectations_dir)
        if not table:
            raise ValueError(f"suite {suite_name!r} names no table (meta.{TABLE_META_KEY}); pass table=")
    df = read_table(table, warehouse)
    result = validate_dataframe(
        df, suite_name, table=table, sample_size=sample_size, expectations_dir=expectations_dir
    )
    # report the whole call, read included
    return SuiteResult(**{**result.__dict__, "duration_s": round(time.perf_counter() - started, 4)})


def quote_table(table: str) -> str:
    parts = table.split(".")
    if not 1 <= len(parts) <= 3 or not all(parts):
        raise ValueError(f"not a table name: {table!r}")
    return ".".join('"' + p.replace('"', '""') + '"' for p in parts)


# --------------------------------------------------------------------------- helpers


def _expectation_columns(kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    if kwargs.get("column"):
        return (kwargs["column"],)
    if kwargs.get("column_list"):
        return tuple(kwargs["column_list"])
    pair = tuple(kwargs[k] for k in ("column_A", "column_B") if kwargs.get(k))
    return pair


def _outcomes(raw_results) -> list[ExpectationOutcome]:
    outcomes: list[ExpectationOutcome] = []
    seen: dict[str, int] = {}
    for r in raw_results:
        config = r.expectation_config
        etype = config.type
        kwargs = {k: v for k, v in dict(config.kwargs).items() if k != "batch_id"}
        columns = _expectation_columns(kwargs)
        name = f"{etype}({','.join(columns)})" if columns else etype
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name}#{seen[name]}"
        res = dict(r.result or {})
        exc_info = r.exception_info or {}
        if isinstance(exc_info, Mapping) and "raised_exception" not in exc_info:
            # GX keys exception info by metric id when several metrics fail
            exc_info = next(iter(exc_info.values()), {}) if exc_info else {}
        exception = (
            exc_info.get("exception_message") or "exception"
            if isinstance(exc_info, Mapping) and exc_info.get("raised_exception")
            else None
        )
        outcomes.append(
            ExpectationOutcome(
                name=name,
                expectation_type=etype,
                columns=columns,
                kwargs=_plain(kwargs),
                success=bool(r.success),
                element_count=_int_or_none(res.get("element_count")),
                unexpected_count=_int_or_none(res.get("unexpected_count")),
                unexpected_percent=_float_or_none(res.get("unexpected_percent")),
                unexpected_sample=_plain(list(res.get("partial_unexpected_list") or [])),
                observed_value=_plain(res.get("observed_value")),
                exception=exception,
            )
        )
    return outcomes


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def _plain(value: Any) -> Any:
    """JSON-friendly copy (numpy scalars, NaN/NA, timestamps, tuples)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return _plain(value.item())
        except (ValueError, TypeError):
            pass
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
