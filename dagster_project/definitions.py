"""Tessera's Dagster code location: one asset graph for the whole customer-data lifecycle.

    ingest ─▶ profiles ─▶ segments ─▶ analytics (+ ML) ─▶ decisions ─▶ activation ─▶ measurement

Every step runs in this process, one run at a time (see dagster.yaml), because the default
warehouse is a DuckDB file that allows a single writer.
"""

from __future__ import annotations

import os

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")

from dagster import Definitions, in_process_executor  # noqa: E402

from dagster_project.activate import activation_assets  # noqa: E402
from dagster_project.decide import decide_assets  # noqa: E402
from dagster_project.ingest import ingest_asset_checks, ingest_assets  # noqa: E402
from dagster_project.ml import ml_assets  # noqa: E402
from dagster_project.quality import quality_checks  # noqa: E402
from dagster_project.resources import build_resources  # noqa: E402
from dagster_project.schedules import jobs, schedules  # noqa: E402
from dagster_project.transform.assets import transform_assets  # noqa: E402

defs = Definitions(
    assets=[*ingest_assets, *transform_assets, *ml_assets, *decide_assets, *activation_assets],
    asset_checks=[*ingest_asset_checks, *quality_checks],
    jobs=jobs,
    schedules=schedules,
    resources=build_resources(),
    executor=in_process_executor,
)
