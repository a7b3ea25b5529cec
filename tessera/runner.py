"""Run the Dagster graph from Python: used by `tessera run`, `tessera demo run`, tests and benchmarks."""

from __future__ import annotations

import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from tessera import paths

DAGSTER_YAML = """\
# Written by Tessera. One run at a time: the default warehouse is a single-writer DuckDB file.
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 1
"""

QUIET_ENV = {
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "GX_ANALYTICS_ENABLED": "false",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
}


def quiet_environment() -> None:
    """Turn off every library's usage statistics before any of them is imported."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)


def ensure_dagster_home() -> Path:
    home = paths.dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    if not cfg.exists():
        cfg.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


@dataclass
class GraphRun:
    success: bool
    run_id: str
    wall_seconds: float
    step_seconds: dict[str, float] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    failed_steps: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def run_graph(
    job_name: str = "tessera_full_graph",
    *,
    prepare: bool = True,
    ephemeral: bool = False,
    log_level: str | None = None,
) -> GraphRun:
    """Prepare the dbt project and execute a Dagster job in this process.

    ``log_level`` is the console level of Dagster's logs (default ``TESSERA_LOG_LEVEL`` or INFO);
    every event is still stored in the Dagster instance for the UI.
    """
    quiet_environment()
    paths.ensure_dirs()
    os.environ.setdefault("TESSERA_WAREHOUSE", str(paths.warehouse_path()))
    if prepare:
        from dagster_project.transform.project import prepare_project

        prepare_project()
    from dagster import DagsterEventType, DagsterInstance

    from dagster_project.definitions import defs

    job = defs.resolve_job_def(job_name)
    started = time.perf_counter()
    if ephemeral:
        instance = DagsterInstance.ephemeral()
    else:
        ensure_dagster_home()
        instance = DagsterInstance.get()
    with instance:
        level = (log_level or os.environ.get("TESSERA_LOG_LEVEL") or "INFO").upper()
        run_config = {"loggers": {"console": {"config": {"log_level": level}}}}
        result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=run_config)
        wall = time.perf_counter() - started
        entries = instance.all_logs(result.run_id)

    starts: dict[str, float] = {}
    steps: dict[str, float] = {}
    failed: list[str] = []
    errors: list[str] = []
    for entry in entries:
        event = entry.dagster_event
        if event is None or not event.step_key:
            continue
        key = event.step_key
        if event.event_type == DagsterEventType.STEP_START:
            starts[key] = entry.timestamp
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            steps[key] = round(entry.timestamp - starts.get(key, entry.timestamp), 2)
            if event.event_type == DagsterEventType.STEP_FAILURE:
                failed.append(key)
                if event.step_failure_data and event.step_failure_data.error:
                    error = event.step_failure_data.error
                    while error.cause is not None:  # the root cause says what went wrong
                        error = error.cause
                    errors.append(f"{key}: {error.message.strip()}")
    stages: dict[str, float] = defaultdict(float)
    group_of = _step_groups(defs, job_name)
    for key, secs in steps.items():
        stages[group_of.get(key, "other")] += secs
    return GraphRun(result.success, result.run_id, round(wall, 2), steps, dict(stages), failed, errors)


def _step_groups(defs, job_name: str) -> dict[str, str]:
    """Map each step (op) to the stage group of its first asset (dbt passes span groups; we
    report them under the group most of their assets belong to)."""
    from collections import Counter

    groups: dict[str, str] = {}
    graph = defs.resolve_asset_graph()
    for assets_def in graph.assets_defs:
        if not assets_def.is_executable:
            continue
        counter = Counter(assets_def.group_names_by_key.values())
        if counter:
            groups[assets_def.node_def.name] = counter.most_common(1)[0][0]
    return groups
