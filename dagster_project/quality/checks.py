"""Great Expectations suites as Dagster asset checks.

Each check runs one suite from ``expectations/`` (see :mod:`tessera.quality.gx`) against the
warehouse table behind an asset, after that asset materializes. With ``blocking=True`` a failed
check (severity ERROR) fails its step, so assets downstream of the checked asset are not
materialized in the same run.
"""

import duckdb
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    asset_check,
)

from tessera.quality.gx import SuiteResult, run_suite


def build_gx_check(
    asset_key: AssetKey,
    table: str,
    suite_name: str,
    blocking: bool = True,
) -> AssetChecksDefinition:
    """An asset check named ``gx_<suite_name>`` that runs the suite against ``table``.

    ``table`` is the warehouse table ("schema.table") read from ``tessera.paths.warehouse_path()``
    at run time. The check's result carries severity ERROR; when ``blocking`` it gates downstream
    assets in the same run.
    """
    asset_key = AssetKey.from_coercible(asset_key)

    @asset_check(
        asset=asset_key,
        name=f"gx_{suite_name}",
        blocking=blocking,
        description=(
            f"Great Expectations suite `{suite_name}` (expectations/gx/expectations/{suite_name}.json) "
            f"on `{table}`" + (" - blocking: failure stops downstream assets." if blocking else ".")
        ),
        metadata={"gx_suite": suite_name, "table": table},
    )
    def _gx_check(context: AssetCheckExecutionContext) -> AssetCheckResult:
        try:
            result = run_suite(suite_name, table)
        except (duckdb.Error, FileNotFoundError) as exc:
            # No table (or no warehouse): the suite cannot pass.
            context.log.error(f"gx_{suite_name}: cannot read {table}: {exc}")
            return AssetCheckResult(
                passed=False,
                severity=AssetCheckSeverity.ERROR,
                metadata={"table": table, "suite": suite_name, "error": str(exc)},
            )
        (context.log.info if result.success else context.log.error)(result.summary())
        return AssetCheckResult(
            passed=result.success,
            severity=AssetCheckSeverity.ERROR,
            metadata=check_metadata(result),
        )

    return _gx_check


def check_metadata(result: SuiteResult) -> dict[str, MetadataValue]:
    rows = ["| expectation | ok | unexpected | sample / observed |", "|---|---|---|---|"]
    for r in result.results:
        detail = r.exception or (r.unexpected_sample[:5] if r.unexpected_count else r.observed_value)
        detail_str = "" if detail in (None, []) else str(detail).replace("|", "\\|")[:200]
        rows.append(
            f"| `{r.name}` | {'yes' if r.success else '**NO**'} | "
            f"{'' if r.unexpected_count is None else r.unexpected_count} | {detail_str} |"
        )
    return {
        "table": MetadataValue.text(result.table or ""),
        "suite": MetadataValue.text(result.suite_name),
        "row_count": MetadataValue.int(result.row_count),
        "evaluated_expectations": MetadataValue.int(result.evaluated_count),
        "successful_expectations": MetadataValue.int(result.evaluated_count - len(result.failed)),
        "failed_expectations": MetadataValue.json(result.failed_names),
        "unexpected_counts": MetadataValue.json(result.unexpected_counts),
        "unexpected_samples": MetadataValue.json(
            {r.name: r.unexpected_sample[:5] for r in result.failed if r.unexpected_sample}
        ),
        "duration_s": MetadataValue.float(result.duration_s),
        "results": MetadataValue.md("\n".join(rows)),
    }
