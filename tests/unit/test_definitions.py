"""The Dagster code location loads with every stage, check and schedule in place."""

from dagster import AssetKey


def test_definitions_load_with_stage_groups_checks_and_schedules(prepared_project):
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    assert {"ingest", "profiles", "segments", "analytics", "decisions", "activation", "measurement"} <= groups

    keys = graph.get_all_asset_keys()
    for key in (
        ["raw", "events"],
        ["identity", "record_profiles"],
        ["profiles", "dim_customer_profiles"],
        ["segments", "segment_memberships"],
        ["ml", "propensity_scores"],
        ["decisions", "fct_decisions"],
        ["activation", "sync_email__decisions"],
        ["measurement", "mart_offer_channel_response_rates"],
    ):
        assert AssetKey(key) in keys, key

    # the identity asset sits between dbt's staging pass and its profile pass
    assert AssetKey(["intermediate", "int_identity__records"]) in graph.get(
        AssetKey(["identity", "record_profiles"])).parent_keys

    check_names = {c.name for c in graph.asset_check_keys}
    assert {"gx_dim_customer_profiles", "gx_fct_decisions", "gx_sync_email__decisions"} <= check_names
    assert any(name.startswith("unique_") for name in check_names), "dbt tests become asset checks"

    gx = [c for c in defs.asset_checks if any(s.name.startswith("gx_") for s in c.check_specs)]
    assert gx and all(spec.blocking for c in gx for spec in c.check_specs)

    schedules = {s.name: s for s in defs.schedules}
    assert schedules["daily_full_graph"].cron_schedule == "0 3 * * *"
    assert schedules["hourly_ingest_and_activate"].job_name == "tessera_ingest_and_activate"
    assert defs.resolve_job_def("tessera_full_graph").executor_def.name == "in_process"


def test_every_sync_asset_depends_on_its_dbt_sync_model(prepared_project):
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    sync_assets = [k for k in graph.get_all_asset_keys()
                   if graph.get(k).group_name == "activation" and k.path[-1].startswith("sync_run__")]
    assert sync_assets, "there are sync assets"
    for key in sync_assets:
        parents = graph.get(key).parent_keys
        assert any(p.path[0] == "activation" and p.path[-1].startswith("sync_") for p in parents), key
