"""Where Tessera keeps its files.

Every location can be overridden from the environment, so that tests, benchmarks and
users can point a run at a throw-away folder without touching code:

- ``TESSERA_DATA_DIR``    root of everything a run writes (default: ``<project>/data``)
- ``TESSERA_WAREHOUSE``   the DuckDB warehouse file (default: ``$TESSERA_DATA_DIR/warehouse.duckdb``)
- ``TESSERA_CONFIG_DIR``  the user's configuration (default: ``<project>/config``)
- ``TESSERA_DEMO_DIR``    where the demo company's source files live (default: ``$TESSERA_DATA_DIR/demo``)
- ``TESSERA_AS_OF``       the "now" of a run, ISO date or timestamp (default: the current UTC time)
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def data_dir() -> Path:
    return _env_path("TESSERA_DATA_DIR", PROJECT_ROOT / "data")


def warehouse_path() -> Path:
    return _env_path("TESSERA_WAREHOUSE", data_dir() / "warehouse.duckdb")


def config_dir() -> Path:
    return _env_path("TESSERA_CONFIG_DIR", PROJECT_ROOT / "config")


def demo_dir() -> Path:
    return _env_path("TESSERA_DEMO_DIR", data_dir() / "demo")


def dlt_pipelines_dir() -> Path:
    return data_dir() / "dlt"


def mlflow_dir() -> Path:
    return data_dir() / "mlflow"


def mlflow_tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{mlflow_dir() / 'mlflow.db'}"


def outbox_dir() -> Path:
    return data_dir() / "outbox"


def dagster_home() -> Path:
    return _env_path("DAGSTER_HOME", data_dir() / "dagster")


def as_of() -> datetime:
    """The reference time of a run. Windows such as "last 7 days" are relative to it."""
    value = os.environ.get("TESSERA_AS_OF")
    if not value:
        return datetime.now(UTC).replace(microsecond=0)
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def as_of_date() -> date:
    return as_of().date()


def ensure_dirs() -> None:
    for path in (data_dir(), warehouse_path().parent, dlt_pipelines_dir(), mlflow_dir(), outbox_dir()):
        path.mkdir(parents=True, exist_ok=True)
