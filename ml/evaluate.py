"""Metrics and diagnostic plots for binary propensity scores."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve


def top_decile_lift(y_true, scores) -> float:
    """Positive rate among the 10% highest scores divided by the overall positive rate.

    Ties at the boundary are broken by a stable sort, so the top decile is exactly
    ``ceil(n / 10)`` rows."""
    y = np.asarray(y_true, dtype=float)
    s = np.asarray(scores, dtype=float)
    base = y.mean() if len(y) else 0.0
    if base == 0:
        return float("nan")
    k = max(1, int(np.ceil(len(y) / 10)))
    top = np.argsort(-s, kind="stable")[:k]
    return float(y[top].mean() / base)


def binary_metrics(y_true, scores) -> dict[str, float]:
    """roc_auc, pr_auc (average precision), brier, top_decile_lift, positive_rate, rows."""
    y = np.asarray(y_true, dtype=int)
    s = np.asarray(scores, dtype=float)
    return {
        "roc_auc": float(roc_auc_score(y, s)),
        "pr_auc": float(average_precision_score(y, s)),
        "brier": float(brier_score_loss(y, np.clip(s, 0.0, 1.0))),
        "top_decile_lift": top_decile_lift(y, s),
        "positive_rate": float(y.mean()),
        "rows": float(len(y)),
    }


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


@contextmanager
def _chart(path: str | Path, xlabel: str, ylabel: str, title: str, legend_loc: str):
    """A 5.5 x 5 inch axes to draw on; labelled, titled and written to ``path`` as a PNG on exit."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    try:
        yield ax
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(loc=legend_loc, fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)


def plot_roc(curves: Mapping[str, tuple], path: str | Path, title: str = "ROC, validation") -> Path:
    """One ROC curve per ``name -> (y_true, scores)``, written as a PNG."""
    with _chart(path, "false positive rate", "true positive rate", title, "lower right") as ax:
        for name, (y, s) in curves.items():
            fpr, tpr, _ = roc_curve(y, s)
            ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y, s):.3f})")
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    return Path(path)


def plot_calibration(
    curves: Mapping[str, tuple], path: str | Path, n_bins: int = 10, title: str = "Calibration, validation"
) -> Path:
    """Reliability diagram (quantile bins) per ``name -> (y_true, probabilities)``, as a PNG."""
    from sklearn.calibration import calibration_curve

    with _chart(path, "mean predicted probability", "observed purchase rate", title, "upper left") as ax:
        for name, (y, p) in curves.items():
            frac_pos, mean_pred = calibration_curve(y, np.clip(p, 0, 1), n_bins=n_bins, strategy="quantile")
            ax.plot(mean_pred, frac_pos, marker="o", markersize=3, label=name)
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect")
    return Path(path)


def plot_lift(curves: Mapping[str, tuple], path: str | Path, bins: int = 10, title: str = "Lift by decile, holdout") -> Path:
    """Cumulative lift per score decile (top decile first) per ``name -> (y_true, scores)``."""
    with _chart(path, "top % of customers by score", "cumulative lift", title, "upper right") as ax:
        for name, (y, s) in curves.items():
            y = np.asarray(y, dtype=float)
            order = np.argsort(-np.asarray(s, dtype=float), kind="stable")
            base = y.mean() if len(y) else 0.0
            if base == 0:
                continue
            cum = np.cumsum(y[order]) / np.arange(1, len(y) + 1) / base
            xs = np.arange(1, bins + 1) / bins
            idx = np.maximum((xs * len(y)).astype(int) - 1, 0)
            ax.plot(xs * 100, cum[idx], marker="o", markersize=3, label=name)
        ax.axhline(1.0, linestyle="--", color="grey", linewidth=1)
    return Path(path)
