"""The probabilistic pass (Splink) on small FEBRL-like data and on hand-made hard cases."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.identity.generate import generate  # noqa: E402
from benchmarks.identity.run import COLUMNS  # noqa: E402

from tessera.identity.config import parse_config  # noqa: E402
from tessera.identity.engine import resolve  # noqa: E402
from tessera.identity.evaluate import evaluate_clusters  # noqa: E402


@pytest.fixture(scope="module")
def febrl():
    records, truth = generate(6000, seed=5)
    return records.rename(columns=COLUMNS), truth


def test_without_an_id_column_quality_floor(febrl):
    records, truth = febrl
    r = resolve(records.drop(columns=["national_id"]), parse_config({"deterministic": {"limits": {}}}))
    s = evaluate_clusters(truth, r.assignments)
    assert s.pairwise_precision >= 0.95 and s.pairwise_recall >= 0.9, s
    assert 0.5 <= r.stats["threshold"] <= 0.995
    assert r.stats["probabilistic_links"] > 0


def test_with_an_id_column_quality_floor(febrl):
    records, truth = febrl
    cfg = parse_config({"deterministic": {"rules": [["national_id", "last_name"], ["national_id", "first_name"]],
                                          "limits": {}}})
    s = evaluate_clusters(truth, resolve(records, cfg).assignments)
    assert s.pairwise_f1 >= 0.97, s


def test_a_profile_never_holds_two_customer_ids(febrl):
    records, _ = febrl
    recs = records.drop(columns=["national_id"]).copy()
    recs["customer_id"] = [f"C{i}" for i in range(len(recs))]  # every record a different customer
    r = resolve(recs, parse_config({}))
    assert r.assignments.profile_id.nunique() == len(recs)
    assert r.stats["links_refused_by_limits"] > 0


def test_no_exact_duplicates_for_the_prior_still_resolves():
    # no two records agree on first + last name + date of birth or postcode, so the deterministic
    # rules for the prior find nothing (a prior of 0 made every match weight -inf: math domain error)
    import pandas as pd

    df = pd.DataFrame({
        "record_id": list("abcdefgh"),
        "first_name": ["John", "Jon", "Mary", "Marie", "Ann", "Bob", "Carl", "Dora"],
        "last_name": ["Smith", "Smith", "Jones", "Jones", "Lee", "Khan", "Berg", "Vos"],
        "date_of_birth": ["1980-01-01", "1980-01-01", "1975-05-05", "1975-05-05", "1990-02-02", "1985-03-03",
                          "1970-04-04", "1965-06-06"],
        "postcode": ["2000", "2001", "3000", "3001", "4000", "5000", "6000", "7000"],
    })
    r = resolve(df, parse_config({}))  # raised before: a prior of 0, then an EM block with no pairs
    assert len(r.assignments) == 8
    p = dict(zip(r.assignments.record_id, r.assignments.profile_id))
    assert len({p[k] for k in "efgh"}) == 4 and not {p[k] for k in "efgh"} & {p[k] for k in "abcd"}
