"""Metric helpers of ml/evaluate.py."""

import numpy as np
import pytest

from ml import evaluate as ev


def test_top_decile_lift():
    y = np.array([1] * 10 + [0] * 90)
    perfect = np.linspace(1, 0, 100)
    assert ev.top_decile_lift(y, perfect) == pytest.approx(10.0)
    assert ev.top_decile_lift(y, np.zeros(100)) == pytest.approx(10.0)  # stable sort: first rows
    assert np.isnan(ev.top_decile_lift(np.zeros(5), np.ones(5)))


def test_binary_metrics_of_a_perfect_and_a_random_ranking():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    perfect = ev.binary_metrics(y, y.astype(float))
    assert perfect["roc_auc"] == pytest.approx(1.0) and perfect["brier"] == pytest.approx(0.0)
    noise = ev.binary_metrics(y, rng.random(2000))
    assert 0.45 < noise["roc_auc"] < 0.55
