import pandas as pd
import pytest

from tessera.config.errors import ConfigError
from tessera.identity.config import parse_config
from tessera.identity.engine import choose_threshold, resolve

DET = {"probabilistic": False, "deterministic": {"max_records_per_value": 3, "blocked_values": {
    "email": ["test@test.com"], "*": ["unknown"]}}}


def frame(rows):
    cols = ["record_id", "email", "phone", "customer_id"]
    return pd.DataFrame([r + [None] * (len(cols) - len(r)) for r in rows], columns=cols)


def profiles(result):
    return dict(zip(result.assignments.record_id, result.assignments.profile_id))


def test_shared_identifiers_merge_transitively_and_emails_are_normalized():
    df = frame([["a", " Masha@X.com"], ["b", "masha@x.com", "(555) 123-4567"], ["c", None, "+15551234567"],
                ["d", "other@x.com"]])
    p = profiles(resolve(df, parse_config(DET)))
    assert p["a"] == p["b"] == p["c"] != p["d"]


def test_blocked_values_never_link():
    df = frame([["a", "test@test.com"], ["b", "TEST@test.com"], ["c", None, None, "unknown"],
                ["d", None, None, "UNKNOWN"]])
    r = resolve(df, parse_config(DET))
    assert len(set(profiles(r).values())) == 4
    assert set(r.quarantined["reason"]) == {"blocked value"}


def test_hub_values_are_quarantined_and_reported():
    df = frame([[f"r{i}", "shared@x.com"] for i in range(4)] + [["x", "a@x.com"], ["y", "a@x.com"]])
    r = resolve(df, parse_config(DET))
    p = profiles(r)
    assert len({p[f"r{i}"] for i in range(4)}) == 4
    assert p["x"] == p["y"]
    hub = r.quarantined[r.quarantined.reason.str.startswith("shared by more than")]
    assert hub.to_dict("records") == [{"id_type": "email", "id_value": "shared@x.com", "record_count": 4,
                                       "reason": "shared by more than 3 records"}]
    assert r.stats["hub_values_quarantined"] == 1


def test_limits_two_customer_ids_never_merge():
    # a household: same family email, two customer ids
    df = frame([["a", "smiths@x.com", None, "C1"], ["b", "smiths@x.com", None, "C2"], ["c", "smiths@x.com"]])
    r = resolve(df, parse_config(DET))
    p = profiles(r)
    assert p["a"] != p["b"]
    assert r.stats["links_refused_by_limits"] >= 1
    no_limit = parse_config({**DET, "deterministic": {**DET["deterministic"], "limits": {}}})
    q = profiles(resolve(df, no_limit))
    assert q["a"] == q["b"] == q["c"]


def test_rule_priority_decides_which_link_wins_under_a_limit():
    # c shares a phone with a and an email with b; a and b have different customer ids.
    df = frame([["a", None, "+15551230001", "C1"], ["b", "b@x.com", None, "C2"], ["c", "b@x.com", "+15551230001"]])
    email_first = parse_config({**DET, "deterministic": {"rules": ["email", "phone"]}})
    phone_first = parse_config({**DET, "deterministic": {"rules": ["phone", "email"]}})
    p = profiles(resolve(df, email_first))
    assert p["c"] == p["b"] != p["a"]
    p = profiles(resolve(df, phone_first))
    assert p["c"] == p["a"] != p["b"]


def test_stable_ids_when_records_are_added_and_merge_history():
    # x@x.com ends up on 4 records: raise the hub limit (3 in DET) so it stays a linking value
    cfg = parse_config({**DET, "deterministic": {**DET["deterministic"], "max_records_per_value": 10}})
    first = resolve(frame([["a", "x@x.com"], ["b", "x@x.com"], ["c", "y@y.com"]]), cfg)
    p1 = profiles(first)
    second = resolve(frame([["a", "x@x.com"], ["b", "x@x.com"], ["c", "y@y.com"], ["d", "x@x.com"]]), cfg,
                     first.assignments)
    p2 = profiles(second)
    assert p2["a"] == p1["a"] and p2["d"] == p1["a"] and p2["c"] == p1["c"]
    assert "records_added" in set(second.history.change_type)
    # a new record links the two profiles: the larger share's id survives, history says merged
    third = resolve(frame([["a", "x@x.com"], ["b", "x@x.com"], ["c", "y@y.com"], ["d", "x@x.com"],
                           ["e", "x@x.com", "+15551230009"], ["f", "y@y.com", "+15551230009"]]), cfg,
                    second.assignments)
    p3 = profiles(third)
    assert len(set(p3.values())) == 1 and p3["a"] == p1["a"]
    merged = third.history[third.history.change_type == "merged"]
    assert merged.related_profile_id.tolist() == [p1["c"]]


def test_manual_unmerge_splits_and_is_reversible():
    df = frame([["a", "x@x.com"], ["b", "x@x.com"], ["c", "x@x.com"]])
    base = resolve(df, parse_config(DET))
    unmerge = parse_config({**DET, "overrides": {"unmerge": [["a", "c"]]}})
    split = resolve(df, unmerge, base.assignments)
    p = profiles(split)
    assert p["a"] != p["c"]
    assert "split" in set(split.history.change_type)
    undone = resolve(df, parse_config(DET), split.assignments)
    q = profiles(undone)
    assert q["a"] == q["b"] == q["c"] == profiles(base)["a"]
    assert "merged" in set(undone.history.change_type)


def test_manual_merge_overrides_everything():
    df = frame([["a", "x@x.com", None, "C1"], ["b", "y@y.com", None, "C2"]])
    cfg = parse_config({**DET, "overrides": {"merge": [["a", "b"]]}})
    p = profiles(resolve(df, cfg))
    assert p["a"] == p["b"]


def test_record_id_must_be_unique():
    with pytest.raises(ValueError, match="not unique"):
        resolve(frame([["a"], ["a"]]), parse_config(DET))


@pytest.mark.parametrize("data,field", [
    ({"columns": {"x": "nonsense"}}, "columns.x"),
    ({"deterministic": {"max_records_per_value": 1}}, "deterministic.max_records_per_value"),
    ({"probabilistic": {"threshold": 2}}, "probabilistic.threshold"),
    ({"survivorship": {"email": {"rule": "best"}}}, "survivorship.email.rule"),
    ({"overrides": {"unmerge": [["a"]]}}, "overrides.unmerge[0]"),
    ({"bogus": 1}, "bogus"),
])
def test_config_errors_name_the_field(data, field):
    with pytest.raises(ConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_config(data)


def test_threshold_without_labels():
    import numpy as np

    p = np.array([0.99] * 50 + [0.6] * 5 + [0.2] * 100)
    t = choose_threshold(p)
    assert 0.5 <= t <= 0.99


def test_name_guard_keeps_a_household_apart_but_not_a_nickname():
    df = pd.DataFrame({
        "record_id": ["a", "b", "c", "d", "e"],
        "first_name": ["John", "Jane", "Bob", "Robert", None],
        "last_name": ["Smith", "Smith", "Stone", "Stone", "Smith"],
        "email": ["smiths@x.com", "smiths@x.com", "bob@x.com", "bob@x.com", "smiths@x.com"],
    })
    r = resolve(df, parse_config(DET))
    p = profiles(r)
    assert p["a"] != p["b"]  # family email, two first names
    assert p["c"] == p["d"]  # Bob is Robert
    assert p["e"] in (p["a"], p["b"])  # a nameless record joins one of them, and bridges nothing
    assert r.stats["links_refused_by_name_guard"] >= 1
    off = parse_config({**DET, "deterministic": {**DET["deterministic"], "name_guard": []}})
    q = profiles(resolve(df, off))
    assert q["a"] == q["b"]


def test_first_run_profile_ids_match_the_python_hash():
    import numpy as np

    from tessera.identity.stable import assign_profile_ids, new_profile_id

    record_ids = np.array(["shop:C2", "crm:Zoë-1", "web:b", "shop:C1", "web:a"], dtype=object)
    labels = np.array([0, 0, 2, 3, 2])
    ids, history = assign_profile_ids(record_ids, labels, None)
    # each component is named after its smallest record id
    assert ids[0] == ids[1] == new_profile_id("crm:Zoë-1", set())
    assert ids[2] == ids[4] == new_profile_id("web:a", set())
    assert ids[3] == new_profile_id("shop:C1", set())
    assert sorted(history.record_count) == [1, 2, 2] and set(history.change_type) == {"created"}
