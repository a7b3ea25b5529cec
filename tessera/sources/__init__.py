"""Stage 1, ingest: one dlt pipeline per source system into dataset ``raw`` of the warehouse.

    from tessera.sources import SOURCE_NAMES, run_source
    result = run_source("shop")          # -> IngestResult
    result.tables["shop_orders"].rows_loaded

See docs/sources.md.
"""

from tessera.sources.accounting import IngestResult, TableCounts
from tessera.sources.contract import SPECS_BY_SOURCE, raw_tables
from tessera.sources.runner import SOURCE_NAMES, get_pipeline, pipeline_name, run_source, run_sources

__all__ = [
    "SOURCE_NAMES",
    "SPECS_BY_SOURCE",
    "IngestResult",
    "TableCounts",
    "get_pipeline",
    "pipeline_name",
    "raw_tables",
    "run_source",
    "run_sources",
]
