import pandas as pd
import pytest

from tessera.config.errors import ConfigError
from tessera.identity.deterministic import IdentityConfig, load_identity_config, resolve_components

CONFIG = IdentityConfig(
    trusted_identifiers=("customer_id", "email", "phone"),
    max_records_per_value=3,
    blocked_values={"email": frozenset({"test@test.com"}), "*": frozenset({"unknown"})},
)


def frames(edges):
    recs = sorted({r for r, _, _ in edges} | {"web:lonely"})
    records = pd.DataFrame({"record_id": recs, "source": [r.split(":")[0] for r in recs]})
    identifiers = pd.DataFrame(edges, columns=["record_id", "id_type", "id_value"])
    return records, identifiers


def profiles_of(result):
    return dict(zip(result.assignments.record_id, result.assignments.profile_id))


def test_shared_identifiers_merge_transitively():
    records, ids = frames([
        ("shop:C1", "email", "masha@x.com"),
        ("crm:1", "email", "masha@x.com"),
        ("crm:1", "phone", "+15551230000"),
        ("loyalty:L1", "phone", "+15551230000"),
        ("shop:C2", "email", "other@x.com"),
    ])
    result = resolve_components(records, ids, None, CONFIG)
    p = profiles_of(result)
    assert p["shop:C1"] == p["crm:1"] == p["loyalty:L1"]
    assert p["shop:C2"] != p["shop:C1"]
    assert p["web:lonely"] not in {p["shop:C1"], p["shop:C2"]}
    assert result.stats["records_in"] == 5
    assert result.stats["profiles_out"] == 3


def test_blocked_and_hub_values_merge_nothing():
    records, ids = frames([
        ("shop:C1", "email", "test@test.com"),
        ("shop:C2", "email", "TEST@test.com "),
        ("shop:C3", "phone", "unknown"),
        ("shop:C4", "phone", "unknown"),
        *[(f"crm:{i}", "phone", "+15550000000") for i in range(4)],  # 4 > limit of 3: a hub
    ])
    result = resolve_components(records, ids, None, CONFIG)
    assert result.assignments.profile_id.nunique() == len(result.assignments)
    hubs = result.hubs.set_index("id_value")
    assert hubs.loc["+15550000000", "record_count"] == 4
    assert "more than 3" in hubs.loc["+15550000000", "reason"]
    assert hubs.loc["test@test.com", "reason"] == "blocked value"


def test_profile_ids_are_stable_when_records_are_added_and_merges_are_recorded():
    records, ids = frames([("shop:C1", "email", "a@x.com"), ("crm:1", "email", "b@x.com")])
    first = resolve_components(records, ids, None, CONFIG)
    p1 = profiles_of(first)

    # a new loyalty record carries both emails: the two profiles merge into one
    records2, ids2 = frames([
        ("shop:C1", "email", "a@x.com"), ("crm:1", "email", "b@x.com"),
        ("loyalty:L1", "email", "a@x.com"), ("loyalty:L1", "email", "b@x.com"),
    ])
    second = resolve_components(records2, ids2, first.assignments, CONFIG)
    p2 = profiles_of(second)
    assert p2["shop:C1"] == p2["crm:1"] == p2["loyalty:L1"]
    assert p2["shop:C1"] in {p1["shop:C1"], p1["crm:1"]}
    assert p2["web:lonely"] == p1["web:lonely"]
    merged = second.history[second.history.change_type == "merged"]
    assert len(merged) == 1 and second.stats["merges"] == 1

    # rerun with the same data: nothing changes
    third = resolve_components(records2, ids2, second.assignments, CONFIG)
    assert profiles_of(third) == p2
    assert third.stats["merges"] == 0 and third.stats["profiles_created"] == 0


def test_split_keeps_the_id_for_the_larger_part():
    records, ids = frames([
        ("shop:C1", "email", "a@x.com"), ("crm:1", "email", "a@x.com"), ("crm:2", "email", "a@x.com"),
    ])
    first = resolve_components(records, ids, None, CONFIG)
    original = profiles_of(first)["shop:C1"]
    records2, ids2 = frames([
        ("shop:C1", "email", "a@x.com"), ("crm:1", "email", "a@x.com"), ("crm:2", "email", "z@x.com"),
    ])
    second = resolve_components(records2, ids2, first.assignments, CONFIG)
    p = profiles_of(second)
    assert p["shop:C1"] == p["crm:1"] == original
    assert p["crm:2"] != original
    split = second.history[second.history.change_type == "split"]
    assert split.related_profile_id.tolist() == [original]


def test_config_errors_name_the_field(tmp_path):
    (tmp_path / "identity.yml").write_text("deterministic:\n  max_records_per_value: 1\n")
    with pytest.raises(ConfigError, match="max_records_per_value"):
        load_identity_config(tmp_path)
