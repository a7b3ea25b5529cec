"""The dbt project as Dagster sees it, and the one place that prepares its manifest."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from tessera import paths

# dbt and our Python assets must agree on the warehouse file, whatever TESSERA_DATA_DIR says.
os.environ.setdefault("TESSERA_WAREHOUSE", str(paths.warehouse_path()))
# the dbt executable installed next to this Python, whether or not the venv is activated
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
# dbt runs in passes around Python assets; "buildable" runs a test only once every model it reads
# is built (a test reading models of two passes runs in the later pass, not the earlier one)
os.environ.setdefault("DBT_INDIRECT_SELECTION", "buildable")

dbt_project = DbtProject(
    project_dir=paths.DBT_PROJECT_DIR,
    profiles_dir=paths.DBT_PROJECT_DIR,
    target=os.environ.get("TESSERA_DBT_TARGET", "duckdb"),
)


def prepare_project() -> None:
    """Compile the YAML configuration into dbt files, then parse dbt into a manifest.

    Run by `make manifest`, `tessera compile --parse`, the demo and the tests; and by
    `dagster dev` through prepare_if_dev(). Never at import time in production.
    """
    from tessera.compile import compile_all

    compile_all()
    dbt_project.preparer.prepare(dbt_project)


if os.environ.get("DAGSTER_IS_DEV_CLI"):
    from tessera.compile import compile_all

    compile_all()
    dbt_project.prepare_if_dev()
