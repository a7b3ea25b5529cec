"""Experiment readout: every figure comes from statsmodels or scipy, never re-derived.

Inputs are two tables: assignments ``unit_id, arm`` and outcomes ``unit_id, <metric>...``.
Units without outcomes count as 0. A metric whose values are all 0 or 1 is binary; any other
numeric metric is continuous. See docs/experiments.md for the output's shape and every formula.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import integrate, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

ALPHA = 0.05


class ReadoutError(ValueError):
    """The inputs cannot give a readout (missing columns, unknown control arm, ...)."""


@dataclass(frozen=True)
class ReadoutInput:
    assignments: pd.DataFrame  # unit_id, arm
    outcomes: pd.DataFrame  # unit_id, metric columns
    pre_period: pd.DataFrame | None = None  # unit_id, covariate columns (CUPED)


# ------------------------------------------------------------------------------------------ io


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (or Parquet) file; ``unit_id`` is always read as text."""
    path = Path(path)
    if not path.exists():
        raise ReadoutError(f"{path}: file not found")
    if path.suffix.lower() in {".parquet", ".pq"}:
        df = pd.read_parquet(path)
        if "unit_id" in df:
            df["unit_id"] = df["unit_id"].astype(str)
        return df
    try:
        return pd.read_csv(path, dtype={"unit_id": str, "arm": str}, engine="pyarrow")
    except Exception:  # noqa: BLE001 - pyarrow is stricter; fall back to the C parser
        return pd.read_csv(path, dtype={"unit_id": str, "arm": str})


def parse_weights(text: str | None, arms: Sequence[str]) -> dict[str, float]:
    """``control=50,a=25,b=25`` (or ``50,25,25`` in the sorted order of the arms) to shares."""
    if not text:
        return {a: 1.0 / len(arms) for a in arms}
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if all("=" in p for p in parts):
        raw = {k.strip(): float(v) for k, v in (p.split("=", 1) for p in parts)}
    elif len(parts) == len(arms):
        raw = dict(zip(sorted(arms), (float(p) for p in parts), strict=True))
    else:
        raise ReadoutError(f"--weights: give arm=weight pairs, or {len(arms)} numbers in arm order {sorted(arms)}")
    if set(raw) != set(arms):
        raise ReadoutError(f"--weights: arms {sorted(raw)} do not match the assigned arms {sorted(arms)}")
    if any(w < 0 for w in raw.values()) or sum(raw.values()) <= 0:
        raise ReadoutError("--weights: weights must be non-negative and not all zero")
    total = sum(raw.values())
    return {a: raw[a] / total for a in arms}


# ------------------------------------------------------------------------------------ figures


def srm(counts: Mapping[str, int], weights: Mapping[str, float]) -> dict[str, float]:
    """Sample-ratio mismatch: Pearson chi-square of the observed arm sizes against the plan."""
    arms = sorted(counts)
    observed = np.array([counts[a] for a in arms], dtype=float)
    expected = np.array([weights[a] for a in arms], dtype=float) * observed.sum()
    if len(arms) < 2:
        return {"chi2": 0.0, "df": 0, "p_value": 1.0}
    res = stats.chisquare(observed, expected)
    return {"chi2": float(res.statistic), "df": len(arms) - 1, "p_value": float(res.pvalue)}


def prob_beat_binary(x_t: int, n_t: int, x_c: int, n_c: int) -> float:
    """P(p_t > p_c) under independent Beta(1, 1) priors: the integral of f_t(p) F_c(p) over p."""
    post_t = stats.beta(1 + x_t, 1 + n_t - x_t)
    post_c = stats.beta(1 + x_c, 1 + n_c - x_c)
    lo = min(post_t.ppf(1e-12), post_c.ppf(1e-12))
    hi = max(post_t.isf(1e-12), post_c.isf(1e-12))
    points = sorted({float(post_t.mean()), float(post_c.mean())})
    value, _ = integrate.quad(lambda p: post_t.pdf(p) * post_c.cdf(p), lo, hi, points=points,
                              limit=200, epsabs=1e-13, epsrel=1e-11)
    # the mass outside [lo, hi] is below 1e-12 on either side
    return float(min(1.0, max(0.0, value + post_t.sf(hi))))


def prob_beat_continuous(diff: float, se: float, df: float) -> float:
    """P(mu_t > mu_c) with flat priors, approximating the Behrens-Fisher posterior of the
    difference by Welch's t (scale ``se``, ``df`` degrees of freedom)."""
    if not se or not math.isfinite(se):
        return 0.5 if diff == 0 else float(diff > 0)
    return float(stats.t.cdf(diff / se, df))


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def binary_arm(x_t: int, n_t: int, x_c: int, n_c: int) -> dict[str, Any]:
    rate_t, rate_c = x_t / n_t, x_c / n_c
    z, p = proportions_ztest([x_t, x_c], [n_t, n_c])  # pooled variance under H0 (prop_var=False)
    ci_low, ci_high = confint_proportions_2indep(x_t, n_t, x_c, n_c, method="newcomb", compare="diff",
                                                 alpha=ALPHA)
    if x_t > 0 and x_c > 0:
        r_low, r_high = confint_proportions_2indep(x_t, n_t, x_c, n_c, method="log", compare="ratio",
                                                   alpha=ALPHA)
        rel_low, rel_high = r_low - 1.0, r_high - 1.0
    else:  # the log method is undefined with zero successes
        rel_low = rel_high = float("nan")
    return {
        "n_treatment": n_t, "n_control": n_c, "x_treatment": x_t, "x_control": x_c,
        "rate_treatment": rate_t, "rate_control": rate_c,
        "abs_lift": rate_t - rate_c,
        "rel_lift": (rate_t / rate_c - 1.0) if rate_c else float("nan"),
        "z": z, "p_value": p,
        "ci_low": ci_low, "ci_high": ci_high,
        "rel_lift_ci_low": rel_low, "rel_lift_ci_high": rel_high,
        "prob_beat_control": prob_beat_binary(x_t, n_t, x_c, n_c),
    }


def continuous_arm(y_t: np.ndarray, y_c: np.ndarray) -> dict[str, Any]:
    res = stats.ttest_ind(y_t, y_c, equal_var=False)
    ci = res.confidence_interval(confidence_level=1 - ALPHA)
    mean_t, mean_c = float(np.mean(y_t)), float(np.mean(y_c))
    var_t, var_c = float(np.var(y_t, ddof=1)), float(np.var(y_c, ddof=1))
    n_t, n_c = len(y_t), len(y_c)
    se = math.sqrt(var_t / n_t + var_c / n_c)
    diff = mean_t - mean_c
    rel = diff / mean_c if mean_c else float("nan")
    # relative lift interval: delta method on the ratio of the two means
    if mean_c and mean_t:
        ratio = mean_t / mean_c
        se_ratio = abs(ratio) * math.sqrt(var_t / (n_t * mean_t**2) + var_c / (n_c * mean_c**2))
        zq = stats.norm.ppf(1 - ALPHA / 2)
        rel_low, rel_high = ratio - zq * se_ratio - 1.0, ratio + zq * se_ratio - 1.0
    else:
        rel_low = rel_high = float("nan")
    return {
        "n_treatment": n_t, "n_control": n_c,
        "mean_treatment": mean_t, "mean_control": mean_c,
        "abs_lift": diff, "rel_lift": rel,
        "t": res.statistic, "df": res.df, "p_value": res.pvalue,
        "ci_low": ci.low, "ci_high": ci.high,
        "rel_lift_ci_low": rel_low, "rel_lift_ci_high": rel_high,
        "prob_beat_control": prob_beat_continuous(diff, se, float(res.df)),
    }


def cuped_adjust(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, float, float]:
    """CUPED: y - theta (x - mean x), theta = cov(y, x) / var(x) over all units (both arms).
    Returns the adjusted values, theta and the share of variance removed."""
    var_x = float(np.var(x, ddof=1))
    if var_x == 0:
        return y.astype(float), 0.0, 0.0
    theta = float(np.cov(y, x, ddof=1)[0, 1] / var_x)
    adjusted = y - theta * (x - x.mean())
    var_y = float(np.var(y, ddof=1))
    reduction = 1.0 - float(np.var(adjusted, ddof=1)) / var_y if var_y else 0.0
    return adjusted, theta, reduction


def is_binary(values: np.ndarray) -> bool:
    return bool(np.isin(values, (0, 1)).all())


# ------------------------------------------------------------------------------------ readout


def compute_readout(
    data: ReadoutInput,
    control: str,
    weights: Mapping[str, float] | str | None = None,
) -> dict[str, Any]:
    a = data.assignments
    for col in ("unit_id", "arm"):
        if col not in a.columns:
            raise ReadoutError(f"assignments: missing column {col!r} (expected unit_id,arm)")
    if "unit_id" not in data.outcomes.columns:
        raise ReadoutError("outcomes: missing column 'unit_id'")
    a = a[["unit_id", "arm"]].astype({"unit_id": str, "arm": str})
    dup = a["unit_id"].duplicated(keep=False)
    if dup.any():
        conflicting = a[dup].groupby("unit_id")["arm"].nunique()
        if (conflicting > 1).any():
            raise ReadoutError(
                f"assignments: {int((conflicting > 1).sum())} unit(s) are assigned to more than one arm, "
                f"for example {conflicting[conflicting > 1].index[0]!r}"
            )
        a = a.drop_duplicates("unit_id")
    arms = sorted(a["arm"].unique())
    if control not in arms:
        raise ReadoutError(f"--control {control!r} is not an arm; arms are {arms}")
    treatments = [x for x in arms if x != control]
    if not treatments:
        raise ReadoutError("there is only one arm; a readout needs a control and at least one treatment")
    plan = parse_weights(weights, arms) if weights is None or isinstance(weights, str) else dict(weights)
    if set(plan) != set(arms):
        raise ReadoutError(f"weights: arms {sorted(plan)} do not match {arms}")

    outcomes = data.outcomes.copy()
    outcomes["unit_id"] = outcomes["unit_id"].astype(str)
    metrics = [c for c in outcomes.columns if c != "unit_id"]
    for m in metrics:
        outcomes[m] = pd.to_numeric(outcomes[m], errors="raise")
    if outcomes["unit_id"].duplicated().any():  # several outcome rows per unit: add them up
        outcomes = outcomes.groupby("unit_id", as_index=False, sort=False)[metrics].sum()
    frame = a.merge(outcomes, on="unit_id", how="left")
    frame[metrics] = frame[metrics].fillna(0)

    pre_cols: list[str] = []
    if data.pre_period is not None:
        pre = data.pre_period.copy()
        if "unit_id" not in pre.columns:
            raise ReadoutError("pre-period: missing column 'unit_id'")
        pre["unit_id"] = pre["unit_id"].astype(str)
        pre_cols = [c for c in pre.columns if c != "unit_id"]
        pre = pre.rename(columns={c: f"__pre__{c}" for c in pre_cols}).drop_duplicates("unit_id")
        frame = frame.merge(pre, on="unit_id", how="left")
        frame[[f"__pre__{c}" for c in pre_cols]] = frame[[f"__pre__{c}" for c in pre_cols]].fillna(0)

    counts = frame["arm"].value_counts().to_dict()
    groups = {arm: idx for arm, idx in frame.groupby("arm", sort=True).indices.items()}
    result: dict[str, Any] = {
        "control": control,
        "units": len(frame),
        "srm": srm({k: int(v) for k, v in counts.items()}, plan),
        "metrics": {},
    }
    for m in metrics:
        values = frame[m].to_numpy(dtype=float)
        binary = is_binary(values)
        per_arm: dict[str, dict[str, Any]] = {}
        y_c = values[groups[control]]
        covariate = None
        if pre_cols:
            cov_name = m if m in pre_cols else (pre_cols[0] if len(pre_cols) == 1 else None)
            if cov_name is not None:
                covariate = frame[f"__pre__{cov_name}"].to_numpy(dtype=float)
        for t in treatments:
            y_t = values[groups[t]]
            if binary:
                row = binary_arm(int(y_t.sum()), len(y_t), int(y_c.sum()), len(y_c))
            else:
                row = continuous_arm(y_t, y_c)
            if covariate is not None:
                idx = np.concatenate([groups[t], groups[control]])
                adjusted, theta, reduction = cuped_adjust(values[idx], covariate[idx])
                adj = continuous_arm(adjusted[: len(y_t)], adjusted[len(y_t):])
                row["cuped"] = {
                    "covariate": cov_name, "theta": theta, "variance_reduction": reduction,
                    **{k: adj[k] for k in ("mean_treatment", "mean_control", "abs_lift", "t", "df", "p_value",
                                           "ci_low", "ci_high", "prob_beat_control")},
                }
            per_arm[t] = row
        pvals = [per_arm[t]["p_value"] for t in treatments]
        if len(treatments) > 1:
            finite = [i for i, p in enumerate(pvals) if p is not None and math.isfinite(p)]
            adjusted_p = [float("nan")] * len(pvals)
            if finite:
                _, holm, _, _ = multipletests([pvals[i] for i in finite], alpha=ALPHA, method="holm")
                for i, p in zip(finite, holm, strict=True):
                    adjusted_p[i] = p
        else:
            adjusted_p = pvals  # with one comparison Holm changes nothing
        for t, p in zip(treatments, adjusted_p, strict=True):
            per_arm[t]["p_value_holm"] = p
        result["metrics"][m] = {
            "type": "binary" if binary else "continuous",
            "arms": {t: {k: _clean(v) for k, v in per_arm[t].items()} for t in treatments},
        }
    return result


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return _nan_to_none(value)


def readout_from_files(
    assignments: str | Path,
    outcomes: str | Path,
    control: str,
    weights: str | None = None,
    pre_period: str | Path | None = None,
) -> dict[str, Any]:
    data = ReadoutInput(
        read_table(assignments),
        read_table(outcomes),
        read_table(pre_period) if pre_period else None,
    )
    return compute_readout(data, control, weights)


# ------------------------------------------------------------------------------ presentation


def _fmt(value: Any, pct: bool = False, digits: int = 4) -> str:
    if value is None:
        return "-"
    if pct:
        return f"{value * 100:+.2f}%"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}g}"


def table_rows(readout: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row per metric and treatment arm: the figures the terminal table and Dagster show."""
    rows = []
    for metric, spec in readout["metrics"].items():
        for arm, r in spec["arms"].items():
            binary = spec["type"] == "binary"
            rows.append({
                "metric": metric,
                "type": spec["type"],
                "arm": arm,
                "n (t/c)": f"{r['n_treatment']:,} / {r['n_control']:,}",
                "treatment": _fmt(r["rate_treatment"] if binary else r["mean_treatment"]),
                "control": _fmt(r["rate_control"] if binary else r["mean_control"]),
                "abs lift": _fmt(r["abs_lift"]),
                "95% CI": f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]",
                "rel lift": _fmt(r["rel_lift"], pct=True),
                "rel CI": f"[{_fmt(r['rel_lift_ci_low'], pct=True)}, {_fmt(r['rel_lift_ci_high'], pct=True)}]",
                "p": _fmt(r["p_value"], digits=3),
                "p (Holm)": _fmt(r["p_value_holm"], digits=3),
                "P(beat)": _fmt(r["prob_beat_control"], digits=3),
            })
    return rows


def markdown_table(readout: Mapping[str, Any]) -> str:
    rows = table_rows(readout)
    if not rows:
        return "(no metrics)"
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r[h] for h in head) + " |" for r in rows]
    return "\n".join(lines)


def lift_plot_png(readout: Mapping[str, Any]) -> bytes:
    """A forest plot of the relative lift and its interval per metric and arm (PNG bytes)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, mids, lows, highs = [], [], [], []
    for metric, spec in readout["metrics"].items():
        for arm, r in spec["arms"].items():
            if r["rel_lift"] is None:
                continue
            labels.append(f"{metric} · {arm}")
            mids.append(r["rel_lift"] * 100)
            lows.append((r["rel_lift_ci_low"] if r["rel_lift_ci_low"] is not None else r["rel_lift"]) * 100)
            highs.append((r["rel_lift_ci_high"] if r["rel_lift_ci_high"] is not None else r["rel_lift"]) * 100)
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * max(1, len(labels))))
    ys = list(range(len(labels)))
    ax.errorbar(mids, ys, xerr=[np.subtract(mids, lows), np.subtract(highs, mids)], fmt="o", capsize=3)
    ax.axvline(0, color="grey", lw=1, ls="--")
    ax.set_yticks(ys, labels)
    ax.set_xlabel(f"relative lift vs {readout['control']} (%), 95% CI")
    ax.invert_yaxis()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()
