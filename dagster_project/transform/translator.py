"""How dbt resources become Dagster assets: keys are [schema, name], groups are stages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import AssetKey
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

# first matching folder prefix (below models/, or the resource type) decides the stage group
STAGE_BY_FOLDER: tuple[tuple[tuple[str, ...], str], ...] = (
    (("staging",), "profiles"),
    (("intermediate", "identity"), "profiles"),
    (("intermediate", "profiles"), "profiles"),
    (("marts", "profiles"), "profiles"),
    (("marts", "segments"), "segments"),
    (("marts", "analytics"), "analytics"),
    (("marts", "ml"), "analytics"),
    (("intermediate", "decisions"), "decisions"),
    (("marts", "decisions"), "decisions"),
    (("marts", "activation"), "activation"),
    (("marts", "measurement"), "measurement"),
)


class TesseraDbtTranslator(DagsterDbtTranslator):
    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        schema = dbt_resource_props.get("schema") or "main"
        return AssetKey([schema, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        resource_type = dbt_resource_props["resource_type"]
        if resource_type == "seed":
            return "decisions"
        if resource_type == "snapshot":
            return "segments"
        folders = tuple(dbt_resource_props.get("fqn", [])[1:-1])
        for prefix, group in STAGE_BY_FOLDER:
            if folders[: len(prefix)] == prefix:
                return group
        return "profiles"
