"""Jobs and schedules: the whole graph daily, ingestion and activation hourly."""

from __future__ import annotations

from dagster import AssetSelection, ScheduleDefinition, define_asset_job

full_graph_job = define_asset_job(
    "tessera_full_graph",
    selection=AssetSelection.all(),
    description="Every stage: ingest, profiles, segments, analytics and ML, decisions, activation, measurement.",
)

ingest_and_activate_job = define_asset_job(
    "tessera_ingest_and_activate",
    selection=AssetSelection.groups("ingest", "activation"),
    description="Near-real-time loop: load new source data and push changed rows to the channels.",
)

daily_full_graph = ScheduleDefinition(
    name="daily_full_graph",
    job=full_graph_job,
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
)

hourly_ingest_and_activate = ScheduleDefinition(
    name="hourly_ingest_and_activate",
    job=ingest_and_activate_job,
    cron_schedule="15 * * * *",
    execution_timezone="UTC",
)

jobs = [full_graph_job, ingest_and_activate_job]
schedules = [daily_full_graph, hourly_ingest_and_activate]
