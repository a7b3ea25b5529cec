"""The Dagster asset identity/record_profiles on a DuckDB file under tmp_path: two runs, and the
metadata the asset page shows (records in, profiles out, merges, splits, quarantined hubs, the
largest clusters) plus the survivorship settings it writes for the golden-record model."""

import duckdb
import pytest

RECORD_COLUMNS = ["record_id", "source", "first_name", "last_name", "full_name", "email", "phone", "customer_id",
                  "loyalty_id", "device_id", "date_of_birth", "street", "city", "postcode", "country", "updated_at"]
HUB_PHONE = "+15550000001"


def _write_inputs(path, rows):
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists intermediate")
        cols = ", ".join(f"{c} {'timestamp' if c == 'updated_at' else 'varchar'}" for c in RECORD_COLUMNS)
        con.execute(f"create or replace table intermediate.int_identity__records ({cols})")
        for r in rows:
            values = [r.get(c) for c in RECORD_COLUMNS]
            con.execute(f"insert into intermediate.int_identity__records values ({', '.join('?' * len(values))})",
                        values)
        con.execute("create or replace table intermediate.int_identifiers_unioned "
                    "(record_id varchar, id_type varchar, id_value varchar)")
    finally:
        con.close()


def _run(defs_asset, instance):
    from dagster import materialize

    result = materialize([defs_asset], instance=instance)
    assert result.success
    return {e.materialization.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()}


@pytest.fixture
def env(tmp_path, monkeypatch, prepared_project):
    wh = tmp_path / "warehouse.duckdb"
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "identity.yml").write_text(
        "deterministic:\n  rules: [email, phone]\n  max_records_per_value: 3\n"
        "probabilistic: false\n"
        "survivorship:\n  source_priority: [crm, shop]\n  email: most_frequent\n"
    )
    monkeypatch.setenv("TESSERA_WAREHOUSE", str(wh))
    monkeypatch.setenv("TESSERA_CONFIG_DIR", str(config_dir))
    return wh


def test_two_runs_show_merges_splits_hubs_and_largest_clusters(env):
    from dagster import DagsterInstance

    from dagster_project.transform.assets import identity_record_profiles

    first = [
        {"record_id": "a1", "source": "shop", "email": "a@x.com"},
        {"record_id": "b1", "source": "crm", "email": "a@x.com"},
        {"record_id": "c1", "source": "shop", "email": "c@x.com"},
        {"record_id": "d1", "source": "crm", "email": "d@x.com", "phone": "+15551112222"},
    ] + [{"record_id": f"h{i}", "source": "web", "email": f"h{i}@x.com", "phone": HUB_PHONE} for i in range(5)]
    _write_inputs(env, first)
    instance = DagsterInstance.ephemeral()
    md = _run(identity_record_profiles, instance)
    run1 = md["identity/record_profiles"]
    assert run1["records_in"].value == 9
    assert run1["profiles_out"].value == 8  # a1+b1, and every other record alone (the hub phone links nothing)
    assert run1["profiles_created"].value == 8 and run1["merges"].value == 0 and run1["splits"].value == 0
    assert run1["hub_values_quarantined"].value == 1
    hubs = run1["quarantined_hubs"].value
    assert "| phone | +1***01 | 5 | shared by more than 3 records |" in hubs
    assert HUB_PHONE not in hubs  # values are masked in run metadata
    assert "| 2 |" in run1["largest_clusters"].value.splitlines()[2]
    rules = md["identity/survivorship_rules"]["rules"].value
    assert "| email | most_frequent |" in rules and "| first_name | source_priority |" in rules
    assert md["identity/source_priority"]["source_priority"].value == {"crm": 1, "shop": 2}

    # second run: b1 changed its email (a1 and b1 split), m1 links c1 and d1 (two profiles merge)
    second = [dict(r) for r in first]
    second[1]["email"] = "b@x.com"
    second.append({"record_id": "m1", "source": "web", "email": "c@x.com", "phone": "+15551112222"})
    _write_inputs(env, second)
    run2 = _run(identity_record_profiles, instance)["identity/record_profiles"]
    assert run2["records_in"].value == 10
    assert run2["profiles_out"].value == 8
    assert run2["merges"].value == 1 and run2["splits"].value == 1
    assert run2["largest_clusters"].value.splitlines()[2].endswith("| 3 |")

    con = duckdb.connect(str(env), read_only=True)
    try:
        profile = dict(con.execute("select record_id, profile_id from identity.record_profiles").fetchall())
        kinds = {k for (k,) in con.execute("select distinct change_type from identity.profile_history").fetchall()}
    finally:
        con.close()
    assert profile["c1"] == profile["d1"] == profile["m1"] and profile["a1"] != profile["b1"]
    assert {"created", "merged", "split"} <= kinds
