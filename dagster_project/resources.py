"""Shared resources: dbt CLI and the DuckDB warehouse."""

from __future__ import annotations

from contextlib import contextmanager

import duckdb
from dagster import ConfigurableResource
from dagster_dbt import DbtCliResource

from dagster_project.transform.project import dbt_project
from tessera import paths


class WarehouseResource(ConfigurableResource):
    """The DuckDB warehouse. Open a connection per use and close it before the next step,
    because DuckDB allows only one writer process at a time (dbt runs as a subprocess)."""

    path: str = ""

    @contextmanager
    def connect(self, read_only: bool = False):
        con = duckdb.connect(self.path or str(paths.warehouse_path()), read_only=read_only)
        try:
            yield con
        finally:
            con.close()


def build_resources() -> dict:
    return {
        "dbt": DbtCliResource(project_dir=dbt_project, profiles_dir=str(paths.DBT_PROJECT_DIR)),
        "warehouse": WarehouseResource(),
    }
