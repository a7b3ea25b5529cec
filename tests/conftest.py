"""Test-session setup: quiet libraries, and a throw-away data folder for anything that would
otherwise write into the project's own data/ (warehouse, MLflow store, Dagster home, outbox)."""

import os
import shutil
import tempfile

from tessera.runner import quiet_environment

quiet_environment()

_SESSION_DIR = tempfile.mkdtemp(prefix="tessera-test-")
os.environ["TESSERA_DATA_DIR"] = _SESSION_DIR
os.environ["TESSERA_WAREHOUSE"] = os.path.join(_SESSION_DIR, "warehouse.duckdb")
os.environ["TESSERA_DEMO_DIR"] = os.path.join(_SESSION_DIR, "demo")
os.environ["DAGSTER_HOME"] = os.path.join(_SESSION_DIR, "dagster")
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("TESSERA_CONFIG_DIR", None)

import pytest  # noqa: E402


def service_required() -> bool:
    """Under CI=true a service that cannot be reached is a failure, not a skip."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def session_data_dir():
    return _SESSION_DIR


@pytest.fixture(scope="session")
def prepared_project():
    """Compile config/ into dbt files and parse the manifest once per session."""
    from dagster_project.transform.project import prepare_project

    prepare_project()


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)
