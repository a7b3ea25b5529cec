"""dbt models as Dagster assets, in four passes around the Python assets.

dbt runs in separate invocations because Python assets sit between its layers:

    pass 1  staging + identity inputs  ─▶ identity resolution (Python)
    pass 2  profiles, segments, analytics, ML features  ─▶ propensity model + scores (Python)
    pass 3  config seeds, decisions, sync models  ─▶ reverse-ETL syncs (Python)
    pass 4  measurement marts
"""


from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, MetadataValue, multi_asset
from dagster_dbt import DbtCliResource, dbt_assets, get_asset_key_for_model

from dagster_project.transform.project import dbt_project
from dagster_project.transform.translator import TesseraDbtTranslator
from tessera.identity import run_identity_resolution

TRANSLATOR = TesseraDbtTranslator()

PASS_1 = "path:models/staging path:models/intermediate/identity"
PASS_2 = (
    "path:models/intermediate/profiles path:models/marts/profiles path:models/marts/segments "
    "path:snapshots path:models/marts/analytics path:models/marts/ml"
)
PASS_3 = "path:seeds path:models/intermediate/decisions path:models/marts/decisions path:models/marts/activation"
PASS_4 = "path:models/marts/measurement"


def _dbt_pass(name: str, select: str):
    """One dbt invocation (`dbt build --select ...`) as a multi-asset; its tests become checks."""

    @dbt_assets(
        manifest=dbt_project.manifest_path,
        project=dbt_project,
        select=select,
        dagster_dbt_translator=TRANSLATOR,
        name=name,
    )
    def _assets(context: AssetExecutionContext, dbt: DbtCliResource):
        yield from dbt.cli(["build"], context=context).stream()

    return _assets


dbt_staging_assets = _dbt_pass("dbt_staging_and_identity_inputs", PASS_1)
dbt_marts_assets = _dbt_pass("dbt_profiles_segments_analytics", PASS_2)
dbt_decisions_assets = _dbt_pass("dbt_decisions_and_sync_models", PASS_3)
dbt_measurement_assets = _dbt_pass("dbt_measurement", PASS_4)


def _model_key(name: str):
    return get_asset_key_for_model([dbt_staging_assets], name)


IDENTITY_KEY = AssetKey(["identity", "record_profiles"])
SURVIVORSHIP_KEYS = (AssetKey(["identity", "survivorship_rules"]), AssetKey(["identity", "source_priority"]))


def _markdown_table(rows: list[dict], columns: list[str]) -> str:
    if not rows:
        return "(none)"
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r.get(c, "")).replace("|", "\\|") for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def identity_metadata(stats: dict) -> dict:
    """What a run did, for the asset's page: records in, profiles out, merges, splits, quarantined
    hubs, the largest clusters, the passes' links and refusals, and the time per step."""
    return {
        "records_in": stats["records_in"],
        "profiles_out": stats["profiles_out"],
        "profiles_created": stats["profiles_created"],
        "merges": stats["merges"],
        "splits": stats["splits"],
        "multi_record_profiles": stats["multi_record_profiles"],
        "deterministic_links": stats["deterministic_links"],
        "probabilistic_links": stats["probabilistic_links"],
        "manual_merges": stats["manual_merges"],
        "match_threshold": MetadataValue.float(float(stats["threshold"] or 0.0)),
        "links_refused_by_limits": stats["links_refused_by_limits"],
        "links_refused_by_name_guard": stats["links_refused_by_name_guard"],
        "hub_values_quarantined": stats["hub_values_quarantined"],
        "blocked_values_seen": stats["blocked_values_seen"],
        "quarantined_hubs": MetadataValue.md(_markdown_table(
            stats["quarantined_values"], ["id_type", "id_value", "record_count", "reason"])),
        "clusters_over_size_limit": MetadataValue.json(stats["clusters_over_size_limit"]),
        "largest_clusters": MetadataValue.md(_markdown_table(stats["largest_clusters"], ["profile_id", "records"])),
        "timings_s": MetadataValue.json(stats["timings_s"]),
        "run_id": stats["run_id"],
    }


@multi_asset(
    name="identity_record_profiles",
    specs=[
        AssetSpec(
            IDENTITY_KEY,
            group_name="profiles",
            kinds={"python", "duckdb"},
            deps=[_model_key("int_identity__records"), _model_key("int_identifiers_unioned")],
            description=(
                "Identity resolution: deterministic pass on trusted identifiers, then Splink's probabilistic "
                "pass, into one profile per person, with stable profile ids, hub quarantine, limits and "
                "merge/split history (identity.record_profiles, identity.profile_history, "
                "identity.quarantined_identifiers, identity.resolution_runs)."
            ),
        ),
        AssetSpec(SURVIVORSHIP_KEYS[0], group_name="profiles", kinds={"python", "duckdb"},
                  description="The golden-record survivorship rule per trait, from config/identity.yml."),
        AssetSpec(SURVIVORSHIP_KEYS[1], group_name="profiles", kinds={"python", "duckdb"},
                  description="Source ranks for the source_priority survivorship rule, from config/identity.yml."),
    ],
)
def identity_record_profiles(context: AssetExecutionContext):
    stats = run_identity_resolution()
    yield MaterializeResult(asset_key=IDENTITY_KEY, metadata=identity_metadata(stats))
    yield MaterializeResult(asset_key=SURVIVORSHIP_KEYS[0], metadata={
        "rules": MetadataValue.md(_markdown_table(
            [{"trait": t, "rule": r} for t, r in stats["survivorship_rules"].items()], ["trait", "rule"]))})
    yield MaterializeResult(asset_key=SURVIVORSHIP_KEYS[1], metadata={
        "source_priority": MetadataValue.json(stats["source_priority"])})


dbt_assets_all = [dbt_staging_assets, dbt_marts_assets, dbt_decisions_assets, dbt_measurement_assets]
transform_assets = [*dbt_assets_all, identity_record_profiles]
