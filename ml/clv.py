"""BG/NBD, MBG/NBD and Pareto/NBD ("buy till you die") models from pymc-marketing, fitted fast.

Tessera uses the classic customer-lifetime models twice: as *features* of the propensity model and
as *baselines* it must beat. Both come from `pymc-marketing <https://www.pymc-marketing.io>`_
(``pymc_marketing.clv``); nothing here re-implements a likelihood or a prediction formula:

- **likelihood**: the library's distributions ``BetaGeoNBD`` and ``ParetoNBD``; their ``logp``
  (and its gradient) is compiled once per process with PyTensor and maximised with SciPy's L-BFGS
  over the log-parameters. That is the maximum-likelihood fit of the textbook models (what
  ``lifetimes`` did); ``BetaGeoModel.fit(method="map")`` would give the same point up to the
  library's weak priors, but compiles a new graph for every data set (10-25 s each), which the
  propensity engine, fitting once per cutoff, cannot afford.
- **predictions**: the library's own ``BetaGeoModel`` / ``ParetoNBDModel`` methods
  (``expected_probability_alive``, ``expected_probability_no_purchase`` /
  ``expected_purchase_probability``, ``expected_purchases``) on a model whose posterior is the
  fitted point (one chain, one draw).

Inputs are the usual summary per customer, in **days**: ``frequency`` = repeat purchase days
(distinct purchase days − 1), ``recency`` = days from the first to the last purchase day, ``T`` =
days from the first purchase day to the cutoff. Identical ``(frequency, recency, T)`` rows are
collapsed with weights before fitting, and large populations are subsampled
(:data:`MAX_FIT_CUSTOMERS`), so a fit takes well under a second to a few seconds.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

#: Customers used to fit the four population parameters (a uniform sample beyond that). The
#: Pareto/NBD likelihood (a hypergeometric function per customer) is ~100x dearer than BG/NBD's.
MAX_FIT_CUSTOMERS = {"bgnbd": 20_000, "mbgnbd": 20_000, "pnbd": 4_000}

_PARAMS = {"bgnbd": ("r", "alpha", "a", "b"), "mbgnbd": ("r", "alpha", "a", "b"), "pnbd": ("r", "alpha", "s", "beta")}
_START = {"bgnbd": (0.5, 30.0, 1.0, 3.0), "mbgnbd": (0.5, 30.0, 1.0, 3.0), "pnbd": (0.5, 30.0, 0.5, 300.0)}
#: Bounds of the optimizer's coordinates (log r, log alpha, log s|a, log (beta/s)|(b/a)). When the
#: dropout rates hardly vary between customers the likelihood keeps rising, ever more slowly, as s
#: (or a) grows with the ratio fixed; s <= e^3 (a dropout-rate spread of 22% of its mean) ends that
#: walk at a point that predicts the same, instead of 25-50 s more per fit (measured on the demo).
#: Likewise beta / s (b / a) <= e^10: a mean lifetime of 60 years or more is "no dropout seen yet"
#: (a young cohort); past that the walk only slows the hypergeometric terms (a warm-started
#: Pareto/NBD fit on a young demo cutoff: 57 s at e^14, under 1 s at e^10, the same predictions).
_BOUNDS = {k: [(-9.0, 12.0), (-9.0, 12.0), (-9.0, 3.0), (-12.0, 10.0)] for k in ("bgnbd", "mbgnbd", "pnbd")}
_compiled: dict[str, object] = {}
_lock = threading.Lock()


def _quiet_imports():
    # PyTensor warns about its BLAS when installed from pip; harmless for a four-parameter fit.
    os.environ.setdefault("PYTENSOR_FLAGS", "")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pymc as pm
        import pytensor
        import pytensor.tensor as pt
        from pymc_marketing.clv import distributions as D
    return pm, pytensor, pt, D


def _logp_function(kind: str):
    """Compiled ``(log_params, x, t_x, T, w) -> (-sum(w * logp), -grad)`` for one model kind."""
    with _lock:
        if kind in _compiled:
            return _compiled[kind]
        pm, pytensor, pt, D = _quiet_imports()
        theta = pt.dvector("theta")
        x, tx, T, w = pt.dvector("x"), pt.dvector("t_x"), pt.dvector("T"), pt.dvector("w")
        p = pt.exp(theta)
        value = pt.stack([tx, x], axis=1)  # the library's observed layout: (recency, frequency)
        if kind == "bgnbd":
            dist = D.BetaGeoNBD.dist(r=p[0], alpha=p[1], a=p[2], b=p[3], T=T)
        elif kind == "mbgnbd":
            dist = D.ModifiedBetaGeoNBD.dist(r=p[0], alpha=p[1], a=p[2], b=p[3], T=T)
        else:
            dist = D.ParetoNBD.dist(r=p[0], alpha=p[1], s=p[2], beta=p[3], T=T)
        nll = -(w * pm.logp(dist, value)).sum() / w.sum()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn = pytensor.function([theta, x, tx, T, w], [nll, pt.grad(nll, theta)])
        _compiled[kind] = fn
        return fn


@dataclass(frozen=True)
class CLVFit:
    kind: str  # "bgnbd" or "pnbd"
    params: dict[str, float]
    converged: bool
    n_customers: int

    def as_log_params(self) -> dict[str, float]:
        return {f"{self.kind}_{k}": v for k, v in self.params.items()}


def _collapse(x, tx, T):
    df = pd.DataFrame({"x": x, "tx": tx, "T": T})
    g = df.groupby(["x", "tx", "T"], sort=False).size().reset_index(name="w")
    return (g[c].to_numpy(dtype=float) for c in ("x", "tx", "T", "w"))


def fit(kind: str, frequency, recency, T, *, seed: int = 0, start: CLVFit | None = None) -> CLVFit:
    """Maximum-likelihood fit of ``kind`` ("bgnbd" or "pnbd") on per-customer summaries."""
    from scipy.optimize import minimize

    x = np.asarray(frequency, dtype=float)
    tx = np.asarray(recency, dtype=float)
    TT = np.asarray(T, dtype=float)
    n = len(x)
    cap = MAX_FIT_CUSTOMERS[kind]
    if n > cap:
        idx = np.random.default_rng(seed).choice(n, cap, replace=False)
        x, tx, TT = x[idx], tx[idx], TT[idx]
    # The library's logp needs T > t_x >= 0; a customer first seen on the cutoff day has T = 0.
    TT = np.maximum(TT, tx + 0.5)
    cx, ctx, cT, cw = _collapse(x, tx, TT)
    fn = _logp_function(kind)

    # The optimizer works on z = log-parameters, except that the fourth coordinate is the log of
    # the ratio of the last two (beta / s for Pareto/NBD, b / a for BG/NBD): the likelihood has a
    # near-flat ridge along which both grow with their ratio fixed (rates that hardly vary between
    # customers), and on the raw log scale L-BFGS walked it for 35-50 s per fit on the demo.
    def to_theta(z):
        return np.array([z[0], z[1], z[2], z[3] + z[2]])

    def to_z(theta):
        return np.array([theta[0], theta[1], theta[2], theta[3] - theta[2]])

    def objective(z):
        try:
            v, g = fn(to_theta(z), cx, ctx, cT, cw)
        except (ValueError, ArithmeticError):  # the library's parameter checks (r > 0 ...) fail where exp() under/overflows
            return 1e10, np.zeros_like(z)
        if not np.isfinite(v):
            return 1e10, np.zeros_like(z)
        g = np.asarray(g, dtype=float)
        return float(v), np.array([g[0], g[1], g[2] + g[3], g[3]])

    best = None
    starts = [_START[kind], tuple(np.array(_START[kind]) * 2.0)]
    if start is not None and start.kind == kind:  # warm start from the previous cutoff's fit ...
        warm = tuple(start.params[k] for k in _PARAMS[kind])
        z = to_z(np.log(np.asarray(warm, dtype=float)))
        # ... unless that fit was degenerate (no dropout seen yet on a young history: b or beta in
        # the thousands): it stays stuck there, and Pareto/NBD's likelihood is slow to evaluate there
        if np.all((z > -6.0) & (z < 8.0)):
            starts.insert(0, warm)
        else:
            start = None
    for i, s0 in enumerate(starts):
        res = minimize(
            objective,
            to_z(np.log(np.asarray(s0, dtype=float))),
            jac=True,
            method="L-BFGS-B",
            bounds=_BOUNDS[kind],
            options={"maxiter": 150, "maxfun": 250},
        )
        if best is None or res.fun < best.fun:
            best = res
        if res.success or (i == 0 and start is not None):
            break
    params = dict(zip(_PARAMS[kind], np.exp(to_theta(best.x)).tolist(), strict=True))
    return CLVFit(kind=kind, params=params, converged=bool(best.success), n_customers=n)


def _model(fitted: CLVFit, data: pd.DataFrame):
    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pymc_marketing import clv

        cls = {"bgnbd": clv.BetaGeoModel, "mbgnbd": clv.ModifiedBetaGeoModel, "pnbd": clv.ParetoNBDModel}[
            fitted.kind
        ]
        model = cls(data=data)
        model.build_model(data)
        model.idata = az.from_dict(posterior={k: np.array([[v]]) for k, v in fitted.params.items()})
    return model


@dataclass(frozen=True)
class CLVPrediction:
    p_alive: np.ndarray
    p_purchase: np.ndarray  # P(at least one purchase in (T, T + horizon])
    expected_purchases: np.ndarray


def predict(fitted: CLVFit, frequency, recency, T, horizon_days: float) -> CLVPrediction:
    """The library's conditional predictions for each customer, ``horizon_days`` ahead."""
    x0 = np.asarray(frequency, dtype=float)
    tx0 = np.asarray(recency, dtype=float)
    T0 = np.maximum(np.asarray(T, dtype=float), tx0 + 0.5)
    if len(x0) == 0:
        empty = np.empty(0)
        return CLVPrediction(empty, empty, empty)
    # Predict once per distinct (frequency, recency, T) and map back: day-level summaries repeat a lot.
    uniq, inverse = np.unique(np.column_stack([x0, tx0, T0]), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    x, tx, TT = uniq[:, 0], uniq[:, 1], uniq[:, 2]
    n = len(x)
    data = pd.DataFrame({"customer_id": np.arange(n), "frequency": x, "recency": tx, "T": TT})
    model = _model(fitted, data)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        alive = model.expected_probability_alive(data=data)
        purchases = model.expected_purchases(data=data, future_t=horizon_days)
        if fitted.kind == "mbgnbd":  # the library has no P(no purchase) for MBG/NBD
            p0 = np.full(n, np.nan)
        elif fitted.kind == "bgnbd":
            p0 = model.expected_probability_no_purchase(t=horizon_days, data=data)
        else:
            p0 = model.expected_purchase_probability(data=data, n_purchases=0, future_t=horizon_days)

    def flat(arr) -> np.ndarray:
        v = np.asarray(arr, dtype=float).reshape(-1)[:n]
        return v

    p_alive = np.clip(np.nan_to_num(flat(alive), nan=0.5), 0.0, 1.0)
    p_any = np.clip(1.0 - flat(p0), 0.0, 1.0)
    expected = np.clip(np.nan_to_num(flat(purchases), nan=0.0, posinf=0.0), 0.0, None)
    return CLVPrediction(
        p_alive=p_alive[inverse], p_purchase=p_any[inverse], expected_purchases=expected[inverse]
    )
