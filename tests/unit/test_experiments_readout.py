"""The readout against statsmodels and scipy on a generated experiment (to 1e-9), SRM detection,
CUPED, Holm, the Bayesian probability, and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import special, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from typer.testing import CliRunner

from tessera.decide.cli import experiments_app
from tessera.experiments.readout import (
    ReadoutError,
    ReadoutInput,
    compute_readout,
    prob_beat_binary,
    srm,
)

TOL = 1e-9


def generated_experiment(n: int = 30_000, seed: int = 7, shares=(0.5, 0.25, 0.25)):
    rng = np.random.default_rng(seed)
    units = [f"u{i:06d}" for i in range(n)]
    arm = rng.choice(["control", "a", "b"], size=n, p=list(shares))
    base_rate = {"control": 0.10, "a": 0.13, "b": 0.10}
    pre = rng.gamma(2.0, 20.0, size=n)
    converted = (rng.random(n) < pd.Series(arm).map(base_rate).to_numpy()).astype(int)
    lift = {"control": 0.0, "a": 2.0, "b": 0.5}
    revenue = np.where(converted == 1, 0.6 * pre + rng.normal(30, 10, n) + pd.Series(arm).map(lift).to_numpy(), 0.0)
    spend = 0.8 * pre + rng.normal(10, 8, n) + pd.Series(arm).map(lift).to_numpy()
    assignments = pd.DataFrame({"unit_id": units, "arm": arm})
    outcomes = pd.DataFrame({"unit_id": units, "converted": converted, "revenue": revenue.round(2),
                             "spend": spend.round(2)})
    # 20% of units have no outcome row at all: they count as 0
    keep = rng.random(n) > 0.2
    outcomes = outcomes[keep | (outcomes["converted"] == 1)]
    pre_period = pd.DataFrame({"unit_id": units, "spend": pre.round(2)})
    return assignments, outcomes, pre_period


@pytest.fixture(scope="module")
def experiment():
    return generated_experiment()


@pytest.fixture(scope="module")
def readout(experiment):
    a, o, p = experiment
    return compute_readout(ReadoutInput(a, o, p), control="control", weights="control=50,a=25,b=25")


def _full(experiment):
    a, o, _ = experiment
    return a.merge(o, on="unit_id", how="left").fillna({"converted": 0, "revenue": 0.0, "spend": 0.0})


def test_shape(readout):
    assert set(readout) == {"control", "units", "srm", "metrics"}
    assert readout["control"] == "control" and readout["units"] == 30_000
    assert set(readout["srm"]) == {"chi2", "df", "p_value"}
    assert readout["metrics"]["converted"]["type"] == "binary"
    assert readout["metrics"]["revenue"]["type"] == "continuous"
    binary = readout["metrics"]["converted"]["arms"]["a"]
    for key in ("n_treatment", "n_control", "x_treatment", "x_control", "rate_treatment", "rate_control",
                "abs_lift", "rel_lift", "z", "p_value", "p_value_holm", "ci_low", "ci_high",
                "rel_lift_ci_low", "rel_lift_ci_high", "prob_beat_control"):
        assert key in binary, key
    assert "t" not in binary and "mean_treatment" not in binary
    cont = readout["metrics"]["revenue"]["arms"]["b"]
    for key in ("mean_treatment", "mean_control", "t", "df", "p_value", "p_value_holm", "ci_low", "ci_high"):
        assert key in cont, key
    assert "z" not in cont and "x_treatment" not in cont
    json.dumps(readout, allow_nan=False)  # valid JSON, no NaN


def test_binary_matches_statsmodels(experiment, readout):
    full = _full(experiment)
    c = full[full.arm == "control"]["converted"]
    for arm in ("a", "b"):
        t = full[full.arm == arm]["converted"]
        xt, nt, xc, nc = int(t.sum()), len(t), int(c.sum()), len(c)
        r = readout["metrics"]["converted"]["arms"][arm]
        assert (r["x_treatment"], r["n_treatment"], r["x_control"], r["n_control"]) == (xt, nt, xc, nc)
        z, p = proportions_ztest([xt, xc], [nt, nc])
        lo, hi = confint_proportions_2indep(xt, nt, xc, nc, method="newcomb", compare="diff")
        rlo, rhi = confint_proportions_2indep(xt, nt, xc, nc, method="log", compare="ratio")
        assert r["z"] == pytest.approx(z, abs=TOL) and r["p_value"] == pytest.approx(p, abs=TOL)
        assert r["ci_low"] == pytest.approx(lo, abs=TOL) and r["ci_high"] == pytest.approx(hi, abs=TOL)
        assert r["rel_lift_ci_low"] == pytest.approx(rlo - 1, abs=TOL)
        assert r["rel_lift_ci_high"] == pytest.approx(rhi - 1, abs=TOL)
        assert r["abs_lift"] == pytest.approx(xt / nt - xc / nc, abs=TOL)
        assert r["rel_lift"] == pytest.approx((xt / nt) / (xc / nc) - 1, abs=TOL)
        # independent check of the pooled z: (p1 - p2) / sqrt(p(1-p)(1/n1 + 1/n2))
        pooled = (xt + xc) / (nt + nc)
        z_manual = (xt / nt - xc / nc) / math.sqrt(pooled * (1 - pooled) * (1 / nt + 1 / nc))
        assert r["z"] == pytest.approx(z_manual, abs=1e-9)
    # arm a has a real lift of 3 points on 7,500 units
    assert readout["metrics"]["converted"]["arms"]["a"]["p_value"] < 0.05


def test_continuous_matches_scipy(experiment, readout):
    full = _full(experiment)
    c = full[full.arm == "control"]["revenue"].to_numpy()
    for arm in ("a", "b"):
        t = full[full.arm == arm]["revenue"].to_numpy()
        ref = stats.ttest_ind(t, c, equal_var=False)
        ci = ref.confidence_interval()
        r = readout["metrics"]["revenue"]["arms"][arm]
        assert r["t"] == pytest.approx(ref.statistic, abs=TOL)
        assert r["df"] == pytest.approx(ref.df, abs=TOL)
        assert r["p_value"] == pytest.approx(ref.pvalue, abs=TOL)
        assert r["ci_low"] == pytest.approx(ci.low, abs=TOL) and r["ci_high"] == pytest.approx(ci.high, abs=TOL)
        assert r["mean_treatment"] == pytest.approx(t.mean(), abs=TOL)
        assert r["mean_control"] == pytest.approx(c.mean(), abs=TOL)
        # statsmodels' Welch test agrees too
        from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

        cm = CompareMeans(DescrStatsW(t), DescrStatsW(c))
        tstat, pval, _df = cm.ttest_ind(usevar="unequal")
        assert r["t"] == pytest.approx(tstat, abs=TOL) and r["p_value"] == pytest.approx(pval, abs=TOL)
        lo, hi = cm.tconfint_diff(usevar="unequal")
        assert r["ci_low"] == pytest.approx(lo, abs=TOL) and r["ci_high"] == pytest.approx(hi, abs=TOL)


def test_holm(readout):
    for metric in ("converted", "revenue"):
        arms = readout["metrics"][metric]["arms"]
        raw = [arms["a"]["p_value"], arms["b"]["p_value"]]
        _, holm, _, _ = multipletests(raw, method="holm")
        assert arms["a"]["p_value_holm"] == pytest.approx(holm[0], abs=TOL)
        assert arms["b"]["p_value_holm"] == pytest.approx(holm[1], abs=TOL)


def test_one_treatment_holm_is_raw():
    a = pd.DataFrame({"unit_id": [str(i) for i in range(200)], "arm": ["c", "t"] * 100})
    o = pd.DataFrame({"unit_id": [str(i) for i in range(0, 200, 3)], "y": 1})
    r = compute_readout(ReadoutInput(a, o), control="c")
    arm = r["metrics"]["y"]["arms"]["t"]
    assert arm["p_value_holm"] == arm["p_value"]


def test_srm_not_flagged_on_planned_split_and_flagged_on_skew(readout):
    assert readout["srm"]["df"] == 2
    assert readout["srm"]["p_value"] > 0.001
    counts = {"control": 50_500, "treatment": 49_500}
    ref = stats.chisquare([49_500, 50_500], [50_000, 50_000])
    out = srm(counts, {"control": 0.5, "treatment": 0.5})
    assert out["chi2"] == pytest.approx(ref.statistic, abs=TOL)
    assert out["p_value"] == pytest.approx(ref.pvalue, abs=TOL)
    assert out["p_value"] < 0.01  # a 1% skew on 100k units is a mismatch


def test_srm_in_readout_on_skewed_assignment():
    a, o, _ = generated_experiment(n=20_000, seed=3, shares=(0.55, 0.225, 0.225))
    r = compute_readout(ReadoutInput(a, o), control="control", weights="control=50,a=25,b=25")
    assert r["srm"]["p_value"] < 1e-6


def test_prob_beat_control_equals_closed_form():
    # Evan Miller's exact sum for P(p_B > p_A) with Beta(1, 1) priors
    def exact(xa, na, xb, nb):
        aa, ba, ab, bb = 1 + xa, 1 + na - xa, 1 + xb, 1 + nb - xb
        total = 0.0
        for i in range(ab):
            total += math.exp(special.betaln(aa + i, ba + bb) - math.log(bb + i)
                              - special.betaln(1 + i, bb) - special.betaln(aa, ba))
        return total

    for xc, nc, xt, nt in [(10, 100, 15, 100), (120, 1000, 100, 1000), (40, 400, 41, 380)]:
        assert prob_beat_binary(xt, nt, xc, nc) == pytest.approx(exact(xc, nc, xt, nt), abs=1e-9)


def test_cuped_matches_ols_and_reduces_variance(readout, experiment):
    _a, _o, p = experiment
    full = _full(experiment).merge(p.rename(columns={"spend": "pre"}), on="unit_id")
    cuped = readout["metrics"]["spend"]["arms"]["a"]["cuped"]
    assert cuped["covariate"] == "spend"
    sub = full[full.arm.isin(["a", "control"])]
    ols = sm.OLS(sub["spend"].to_numpy(), sm.add_constant(sub["pre"].to_numpy())).fit()
    assert cuped["theta"] == pytest.approx(ols.params[1], abs=1e-9)
    assert cuped["variance_reduction"] > 0.3
    # the adjusted comparison is Welch's test on y - theta (x - mean x)
    adj = sub["spend"] - cuped["theta"] * (sub["pre"] - sub["pre"].mean())
    ref = stats.ttest_ind(adj[sub.arm == "a"], adj[sub.arm == "control"], equal_var=False)
    assert cuped["t"] == pytest.approx(ref.statistic, abs=1e-9)
    assert cuped["p_value"] == pytest.approx(ref.pvalue, abs=1e-9)
    plain = readout["metrics"]["spend"]["arms"]["a"]
    assert (cuped["ci_high"] - cuped["ci_low"]) < (plain["ci_high"] - plain["ci_low"])


def test_errors():
    a = pd.DataFrame({"unit_id": ["1", "2"], "arm": ["c", "t"]})
    o = pd.DataFrame({"unit_id": ["1"], "y": [1]})
    with pytest.raises(ReadoutError, match="not an arm"):
        compute_readout(ReadoutInput(a, o), control="nope")
    bad = pd.DataFrame({"unit_id": ["1", "1"], "arm": ["c", "t"]})
    with pytest.raises(ReadoutError, match="more than one arm"):
        compute_readout(ReadoutInput(bad, o), control="c")


def test_cli(tmp_path, experiment):
    a, o, p = experiment
    a.to_csv(tmp_path / "assignments.csv", index=False)
    o.to_csv(tmp_path / "outcomes.csv", index=False)
    p.to_csv(tmp_path / "pre.csv", index=False)
    out = tmp_path / "readout.json"
    result = CliRunner().invoke(experiments_app, [
        "readout", "--assignments", str(tmp_path / "assignments.csv"), "--outcomes", str(tmp_path / "outcomes.csv"),
        "--control", "control", "--output", str(out), "--weights", "control=2,a=1,b=1",
        "--pre-period", str(tmp_path / "pre.csv"),
    ])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    direct = compute_readout(ReadoutInput(a, o, p), control="control", weights="control=50,a=25,b=25")
    assert data["metrics"]["converted"]["arms"]["a"]["z"] == pytest.approx(
        direct["metrics"]["converted"]["arms"]["a"]["z"], abs=TOL)
    assert data["srm"]["chi2"] == pytest.approx(direct["srm"]["chi2"], abs=TOL)
    assert "converted" in result.output and "SRM" in result.output
    bad = CliRunner().invoke(experiments_app, [
        "readout", "--assignments", str(tmp_path / "assignments.csv"), "--outcomes", str(tmp_path / "outcomes.csv"),
        "--control", "nobody", "--output", str(out)])
    assert bad.exit_code == 1
