"""The propensity engine: features from a purchase log, stacked training cutoffs, a time-based
backtest against the classic baselines, a calibrated model, scores.

Everything is learnt from the order history itself (no labels are given). With ``T`` = midnight
after the as-of date, ``h`` = the horizon and ``s`` = the cutoff step (default ``h / 3``):

- **holdout** cutoff ``c_H = T − h``: its label window ``[c_H, T)`` is the last ``h`` days of the
  history. Its customers are split in two halves: the **calibration** half selects and calibrates,
  the **evaluation** half gives every reported metric (the model's and each baseline's).
- **training** cutoffs ``c_H − h − k·s`` (k = 0 … n−1): features from orders strictly before the
  cutoff, label = at least one purchase in the ``h`` days after it. Their label windows all end on
  or before ``c_H``. The rows of all cutoffs are stacked.
- **selection**: the candidates (logistic regression, histogram gradient boosting, a logistic
  regression on the BG/NBD and Pareto/NBD log-odds), fitted on the training cutoffs, and the
  fallbacks (BG/NBD's or Pareto/NBD's own probability) are compared on the calibration half; the
  best ROC AUC wins. A learnt model therefore ships only when it ranks better than the classic
  models on a window it never saw.
- **final model**: the winning candidate is refitted on the latest cutoffs ``c_H − k·s``, whose
  label windows end on or before ``T`` (the cohort it learns from is the one it scores, not one
  ``h`` days younger: +0.015 ROC AUC on CDNOW as of 1997-09-30, and BG/NBD's Brier beaten where the
  backtest model missed it), and Platt-scaled (sigmoid on its decision function, so the ranking is
  unchanged) on the holdout cutoff. The reported metrics are those of the backtest model,
  Platt-scaled on the calibration half.
- **short history** (less than ``2h + 28`` days from the first purchase): the label window is a
  third of the span after 28 days (:func:`label_window`) and the learnt scores are carried to the
  horizon by :func:`transfer_horizon`.
- **baselines**, on the same holdout customers: BG/NBD P(≥1 purchase in h), Pareto/NBD P(≥1
  purchase in h) (both fitted on the history before ``c_H``), logistic regression on
  recency/frequency/monetary and on recency alone (trained on the training cutoffs).

Scoring uses the features at ``T`` (everything on or before the as-of date).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from ml import clv
from ml import evaluate as ev
from ml.orders import DAY_NS

log = logging.getLogger(__name__)

#: Model input columns, in order (all float; NaN = not applicable, e.g. no purchase yet).
FEATURES: tuple[str, ...] = (
    "recency_days",  # cutoff − last purchase
    "tenure_days",  # cutoff − first order of any kind
    "first_purchase_age_days",  # cutoff − first purchase
    "n_orders",  # purchases (orders)
    "n_purchase_days",  # distinct purchase days
    "monetary_total",
    "monetary_avg",
    "monetary_max",
    "last_amount",
    "zero_amount_share",
    "gap_mean_days",  # mean days between distinct purchase days
    "gap_std_days",
    "gap_cv",  # regularity: std / mean of the gaps
    "last_gap_days",
    "overdue_ratio",  # recency / mean gap
    "orders_30d",
    "orders_90d",
    "orders_180d",
    "orders_365d",
    "orders_last_h",  # purchases in the last horizon-length window
    "orders_prev_h",  # … and in the one before it
    "trend_h",  # orders_last_h − orders_prev_h
    "amount_90d",
    "amount_365d",
    "purchase_rate_per_year",  # purchases per year of purchase tenure
    "n_returns",
    "return_amount",
    "n_not_completed",
    "quantity_avg",
    "bgnbd_p_alive",
    "bgnbd_p_purchase",
    "bgnbd_expected_purchases",
    "pnbd_p_alive",
    "pnbd_p_purchase",
    "pnbd_expected_purchases",
)
RFM_FEATURES = ("recency_days", "n_orders", "monetary_avg")
RECENCY_FEATURES = ("recency_days",)
BASELINES = ("bgnbd", "pareto_nbd", "rfm_logistic", "recency")
CANDIDATES = ("logistic_regression", "hist_gradient_boosting", "clv_logistic", "rfm_logistic")
#: The "clv_logistic" candidate: a logistic regression on the log-odds of the BG/NBD and Pareto/NBD
#: predictions alone. It wins the backtest when the history is too short or too thin for the
#: richer models, so the engine never ships something that ranks worse than the classic models.
CLV_FEATURES = ("bgnbd_p_purchase", "pnbd_p_purchase", "bgnbd_p_alive", "pnbd_p_alive")


@dataclass(frozen=True)
class EngineConfig:
    horizon_days: int = 90
    n_cutoffs: int = 4  # stacked training cutoffs
    step_days: int | None = None  # between cutoffs; default max(7, horizon // 3)
    min_history_days: int = 28  # a cutoff needs this much history before it
    max_train_rows: int = 1_200_000  # stacked rows beyond this are subsampled uniformly
    random_state: int = 0

    @property
    def step(self) -> int:
        return int(self.step_days or max(7, self.horizon_days // 3))


class NotEnoughHistory(ValueError):
    """The log is too short or too small for the requested horizon."""


# -- features ------------------------------------------------------------------------------------


class FeatureBuilder:
    """Point-in-time features for every customer with an order before a cutoff (a day number).

    Orders are held as sorted numpy arrays; each cutoff's frame is computed with ``bincount`` /
    ``reduceat`` (no Python loop over customers) and cached, BG/NBD and Pareto/NBD refitted on the
    history before that cutoff only."""

    def __init__(self, orders: pd.DataFrame, horizon_days: int, *, random_state: int = 0,
                 label_days: int | None = None):
        o = orders.sort_values(["customer_id", "ts"], kind="stable")
        codes, uniques = pd.factorize(o["customer_id"], sort=False)
        self.customer_ids = np.asarray(uniques, dtype=object)
        self.n_customers = len(uniques)
        self.code = codes.astype(np.int64)
        self.day = o["ts"].to_numpy("datetime64[ns]").astype(np.int64) / DAY_NS  # float days since epoch
        self.amount = o["amount"].to_numpy(dtype=float)
        self.quantity = o["quantity"].to_numpy(dtype=float) if "quantity" in o else np.full(len(o), np.nan)
        kind = o["kind"].to_numpy()
        self.is_purchase = kind == "purchase"
        self.is_return = kind == "return"
        self.is_nc = kind == "not_completed"
        self.horizon = int(horizon_days)
        self.label_days = int(label_days or horizon_days)  # label window (shorter on a short history)
        self.random_state = random_state
        self._cache: dict[int, pd.DataFrame] = {}
        self._fits: dict[int, dict[str, clv.CLVFit]] = {}
        self._summaries: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.clv_seconds = 0.0
        p_days = self.day[self.is_purchase]
        self.first_day = int(np.floor(p_days.min())) if len(p_days) else None
        self.last_day = int(np.floor(p_days.max())) if len(p_days) else None

    # label: at least one purchase in [c, c + label window)
    def labels(self, cutoff: int, customers: np.ndarray, days: int | None = None) -> np.ndarray:
        m = self.is_purchase & (self.day >= cutoff) & (self.day < cutoff + int(days or self.label_days))
        hit = np.bincount(self.code[m], minlength=self.n_customers) > 0
        return hit[customers].astype(np.int8)

    def clv_fits(self, cutoff: int) -> dict[str, clv.CLVFit]:
        self.frame(cutoff)
        return self._fits[cutoff]

    def bgnbd_p_purchase(self, cutoff: int, days: int) -> np.ndarray:
        """BG/NBD P(at least one purchase in ``days``) after ``cutoff``, aligned with ``frame(cutoff)``
        (NaN when the cutoff has too few buyers for a fit)."""
        fr = self.frame(cutoff)
        fitted = self._fits[cutoff].get("bgnbd")
        if fitted is None:
            return np.full(len(fr), np.nan)
        x, tx, T = self._summaries[cutoff]
        return clv.predict(fitted, x, tx, T, days).p_purchase

    def to_horizon(self, cutoff: int, p: np.ndarray, label_days: int) -> np.ndarray:
        """Probabilities for a ``label_days`` window after ``cutoff`` (aligned with ``frame(cutoff)``)
        carried to the horizon by :func:`transfer_horizon`; unchanged when the two are equal."""
        if label_days == self.horizon:
            return p
        return transfer_horizon(p, self.bgnbd_p_purchase(cutoff, label_days), self.bgnbd_p_purchase(cutoff, self.horizon))

    def frame(self, cutoff: int) -> pd.DataFrame:
        if cutoff not in self._cache:
            self._cache[cutoff] = self._compute(cutoff)
        return self._cache[cutoff]

    def _compute(self, c: int) -> pd.DataFrame:
        n, h = self.n_customers, self.horizon
        before = self.day < c
        pop = np.bincount(self.code[before], minlength=n) > 0
        customers = np.flatnonzero(pop)

        def cnt(mask, weights=None):
            w = None if weights is None else weights[mask]
            return np.bincount(self.code[mask], weights=w, minlength=n).astype(float)

        P = before & self.is_purchase
        cp, dp, ap = self.code[P], self.day[P], self.amount[P]
        n_orders = cnt(P)
        has = n_orders > 0
        f = {}
        # first/last purchase per customer (arrays sorted by customer, then time)
        starts = np.flatnonzero(np.r_[True, cp[1:] != cp[:-1]]) if len(cp) else np.empty(0, int)
        ends = np.r_[starts[1:], len(cp)] - 1 if len(cp) else np.empty(0, int)
        first = np.full(n, np.nan)
        last = np.full(n, np.nan)
        last_amt = np.full(n, np.nan)
        mmax = np.full(n, np.nan)
        if len(cp):
            cust_s = cp[starts]
            first[cust_s] = dp[starts]
            last[cust_s] = dp[ends]
            last_amt[cust_s] = ap[ends]
            mmax[cust_s] = np.maximum.reduceat(ap, starts)
        first_any = np.full(n, np.nan)
        cb, db = self.code[before], self.day[before]
        if len(cb):
            sb = np.flatnonzero(np.r_[True, cb[1:] != cb[:-1]])
            first_any[cb[sb]] = db[sb]
        f["recency_days"] = c - last
        f["tenure_days"] = c - first_any
        f["first_purchase_age_days"] = c - first
        f["n_orders"] = n_orders
        total = cnt(P, self.amount)
        with np.errstate(invalid="ignore", divide="ignore"):
            f["monetary_total"] = total
            f["monetary_avg"] = np.where(has, total / n_orders, np.nan)
            f["monetary_max"] = mmax
            f["last_amount"] = last_amt
            f["zero_amount_share"] = np.where(has, cnt(P & (self.amount == 0)) / n_orders, np.nan)
            # distinct purchase days and the gaps between them
            dd = np.floor(dp)
            new_day = np.r_[True, (cp[1:] != cp[:-1]) | (dd[1:] != dd[:-1])] if len(cp) else np.empty(0, bool)
            cd, ddd = cp[new_day], dd[new_day]
            n_days = np.bincount(cd, minlength=n).astype(float)
            f["n_purchase_days"] = n_days
            same = np.r_[False, cd[1:] == cd[:-1]] if len(cd) else np.empty(0, bool)
            gaps = np.diff(ddd, prepend=np.nan)[same] if len(cd) else np.empty(0)
            gc = cd[same]
            g_n = np.bincount(gc, minlength=n).astype(float)
            g_sum = np.bincount(gc, weights=gaps, minlength=n)
            g_sq = np.bincount(gc, weights=gaps**2, minlength=n)
            g_mean = np.where(g_n > 0, g_sum / g_n, np.nan)
            g_var = np.where(g_n > 1, np.maximum(g_sq / np.maximum(g_n, 1) - g_mean**2, 0.0), np.nan)
            f["gap_mean_days"] = g_mean
            f["gap_std_days"] = np.sqrt(g_var)
            f["gap_cv"] = np.sqrt(g_var) / np.where(g_mean > 0, g_mean, np.nan)
            last_gap = np.full(n, np.nan)
            if len(gc):
                rev_first = np.unique(gc[::-1], return_index=True)
                last_gap[rev_first[0]] = gaps[::-1][rev_first[1]]
            f["last_gap_days"] = last_gap
            f["overdue_ratio"] = f["recency_days"] / np.where(g_mean > 0, g_mean, np.nan)
            for w in (30, 90, 180, 365):
                f[f"orders_{w}d"] = cnt(P & (self.day >= c - w))
            f["orders_last_h"] = cnt(P & (self.day >= c - h))
            f["orders_prev_h"] = cnt(P & (self.day >= c - 2 * h) & (self.day < c - h))
            f["trend_h"] = f["orders_last_h"] - f["orders_prev_h"]
            f["amount_90d"] = cnt(P & (self.day >= c - 90), self.amount)
            f["amount_365d"] = cnt(P & (self.day >= c - 365), self.amount)
            f["purchase_rate_per_year"] = np.where(has, n_orders / np.maximum(c - first, 1.0) * 365.0, np.nan)
            R = before & self.is_return
            f["n_returns"] = cnt(R)
            f["return_amount"] = -cnt(R, self.amount)
            f["n_not_completed"] = cnt(before & self.is_nc)
            q = P & np.isfinite(self.quantity)
            qn = cnt(q)
            f["quantity_avg"] = np.where(qn > 0, cnt(q, np.nan_to_num(self.quantity)) / np.maximum(qn, 1), np.nan)

        # BG/NBD and Pareto/NBD on (repeat days, first-to-last days, first-to-cutoff days)
        x = np.where(has, n_days - 1, 0.0)
        first_d = np.where(has, np.floor(first), np.floor(first_any))
        tx = np.where(has, np.floor(last) - np.floor(first), 0.0)
        T = c - first_d
        sel = customers
        self._summaries[c] = (x[sel], tx[sel], T[sel])
        fit_mask = has[sel]
        t0 = time.perf_counter()
        fits = {}
        prev = self._fits[max(self._fits)] if self._fits else {}
        for kind, prefix in (("bgnbd", "bgnbd"), ("pnbd", "pnbd")):
            if fit_mask.sum() >= 20:
                fitted = clv.fit(
                    kind,
                    x[sel][fit_mask],
                    tx[sel][fit_mask],
                    T[sel][fit_mask],
                    seed=self.random_state,
                    # warm start BG/NBD only: Pareto/NBD's likelihood is slow where a warm start
                    # from an older cutoff leads it (dropout rates at their bound on a young cutoff:
                    # 17-57 s per fit on the demo), and its cold fits take 0.5-3 s
                    start=prev.get(kind) if kind == "bgnbd" else None,
                )
                pred = clv.predict(fitted, x[sel], tx[sel], T[sel], h)
                fits[kind] = fitted
                a, p, e = pred.p_alive, pred.p_purchase, pred.expected_purchases
            else:
                a = p = e = np.full(len(sel), np.nan)
            f[f"{prefix}_p_alive"] = _scatter(n, sel, a)
            f[f"{prefix}_p_purchase"] = _scatter(n, sel, p)
            f[f"{prefix}_expected_purchases"] = _scatter(n, sel, e)
        self._fits[c] = fits
        self.clv_seconds += time.perf_counter() - t0

        frame = pd.DataFrame({k: np.asarray(f[k], dtype=np.float32)[sel] for k in FEATURES})
        # A column with no value at all (no quantity in the log, nobody with two purchase days yet)
        # becomes 0: scikit-learn's binning cannot handle an all-missing column.
        empty = [k for k in FEATURES if frame[k].isna().all()]
        if empty:
            frame[empty] = 0.0
        frame.insert(0, "customer", sel)
        return frame

    def dataset(self, cutoffs: list[int], days: int | None = None) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """Stacked (features, labels over ``days``, default the label window, cutoff per row) for ``cutoffs``."""
        frames, ys, cs = [], [], []
        for c in cutoffs:
            fr = self.frame(c)
            frames.append(fr)
            ys.append(self.labels(c, fr["customer"].to_numpy(), days))
            cs.append(np.full(len(fr), c))
        return pd.concat(frames, ignore_index=True), np.concatenate(ys), np.concatenate(cs)


def _scatter(n: int, idx: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.full(n, np.nan)
    out[idx] = values
    return out


def X_of(frame: pd.DataFrame, columns=FEATURES) -> pd.DataFrame:
    return frame.loc[:, list(columns)]


# -- models --------------------------------------------------------------------------------------


def linear_pipeline(random_state: int = 0, C: float = 1.0) -> Pipeline:
    """Median impute (+ missing indicators) -> arcsinh (a log that keeps the sign) -> scale -> LR."""
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
            ("asinh", FunctionTransformer(np.arcsinh, feature_names_out="one-to-one")),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(C=C, max_iter=3000, random_state=random_state)),
        ]
    )


def gradient_boosting(random_state: int = 0) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=400,
        max_leaf_nodes=31,
        min_samples_leaf=80,
        l2_regularization=1.0,
        early_stopping=True,
        validation_fraction=0.15,
        n_iter_no_change=25,
        random_state=random_state,
    )


def _log_odds(columns, imputer: SimpleImputer):
    """Select probability ``columns``, impute, clip to (0, 1) and take their logits."""
    from scipy.special import logit
    from sklearn.compose import ColumnTransformer

    odds = Pipeline(
        [
            ("impute", imputer),
            ("clip", FunctionTransformer(np.clip, kw_args={"a_min": 1e-6, "a_max": 1 - 1e-6},
                                         feature_names_out="one-to-one")),
            ("logit", FunctionTransformer(logit, feature_names_out="one-to-one")),
        ]
    )
    return ColumnTransformer([("odds", odds, list(columns))], remainder="drop")


def clv_logistic(random_state: int = 0) -> Pipeline:
    """Logistic regression on the logits of the BG/NBD and Pareto/NBD probabilities."""
    return Pipeline(
        [
            ("clv", _log_odds(CLV_FEATURES, SimpleImputer(strategy="median", keep_empty_features=True))),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(max_iter=3000, random_state=random_state)),
        ]
    )


def clv_passthrough(X: pd.DataFrame, y: np.ndarray, column: str = "bgnbd_p_purchase") -> Pipeline:
    """A scikit-learn pipeline whose ``predict_proba`` is the probability ``column`` itself
    (``bgnbd_p_purchase`` or ``pnbd_p_purchase``: a logistic regression on its logit with weight 1
    and intercept 0), so that a fallback to a classic model is logged, registered and loaded like
    any other model."""
    imputer = SimpleImputer(strategy="constant", fill_value=0.0, keep_empty_features=True)
    pipe = Pipeline([("clv", _log_odds([column], imputer)), ("model", LogisticRegression())]).fit(X, y)
    pipe.named_steps["model"].coef_ = np.ones((1, 1))
    pipe.named_steps["model"].intercept_ = np.zeros(1)
    return pipe


def bgnbd_passthrough(X: pd.DataFrame, y: np.ndarray) -> Pipeline:
    """:func:`clv_passthrough` of BG/NBD's P(at least one purchase in the horizon)."""
    return clv_passthrough(X, y, "bgnbd_p_purchase")


#: The fallbacks: a classic model's own probability, shipped when no learnt candidate ranks better
#: on the holdout's calibration half.
FALLBACKS = {"bgnbd_fallback": "bgnbd_p_purchase", "pareto_nbd_fallback": "pnbd_p_purchase"}


def rfm_logistic(random_state: int = 0) -> Pipeline:
    """The RFM baseline as a candidate: :func:`linear_pipeline` on :data:`RFM_FEATURES` only (it
    takes the full feature frame), so the engine can ship it where nothing richer ranks better."""
    from sklearn.compose import ColumnTransformer

    pick = ColumnTransformer([("rfm", "passthrough", list(RFM_FEATURES))], remainder="drop")
    return Pipeline([("rfm", pick), *linear_pipeline(random_state).steps])


def build_candidates(random_state: int = 0) -> dict[str, object]:
    return {
        "logistic_regression": linear_pipeline(random_state),
        "hist_gradient_boosting": gradient_boosting(random_state),
        "clv_logistic": clv_logistic(random_state),
        "rfm_logistic": rfm_logistic(random_state),
    }


# -- the run -------------------------------------------------------------------------------------


@dataclass
class PropensityRun:
    """A trained engine: the registered/scoring model, its backtest and everything to log."""

    model: object  # calibrated classifier (predict_proba), fitted on FEATURES
    selected: str
    config: EngineConfig
    metrics: dict[str, float]  # holdout metrics: "<name>_<metric>" for the model and every baseline
    selection_auc: dict[str, float]
    cutoffs: dict[str, list[str]]
    rows: dict[str, int]
    curves: dict[str, tuple[np.ndarray, np.ndarray]]  # holdout evaluation half: name -> (y, p)
    uncalibrated: tuple[np.ndarray, np.ndarray]
    clv_params: dict[str, float]
    input_example: pd.DataFrame
    train_reference: pd.DataFrame  # a sample of training features, for drift (PSI)
    timings: dict[str, float] = field(default_factory=dict)
    builder: FeatureBuilder | None = None
    end_day: int = 0
    label_days: int = 0  # the label window the model learnt (= the horizon unless the history is short)
    baseline_models: dict[str, object] = field(default_factory=dict)  # rfm_logistic, recency

    def score_frame(self) -> pd.DataFrame:
        """``customer_id, score`` for every customer with an order before the end of the history."""
        fr = self.builder.frame(self.end_day)
        p = self.model.predict_proba(X_of(fr))[:, 1]
        p = self.builder.to_horizon(self.end_day, p, self.label_days)
        return pd.DataFrame(
            {"customer_id": self.builder.customer_ids[fr["customer"].to_numpy()], "score": np.clip(p, 0, 1)}
        )

    def baseline_scores(self) -> pd.DataFrame:
        """The four baselines' P(at least one order in the horizon) for the customers of
        :meth:`score_frame`: BG/NBD and Pareto/NBD fitted on the whole history, and the RFM and
        recency logistic regressions trained on the same cutoffs as the model."""
        fr = self.builder.frame(self.end_day)
        X = X_of(fr)
        out = pd.DataFrame({"customer_id": self.builder.customer_ids[fr["customer"].to_numpy()]})
        out["bgnbd"] = np.nan_to_num(X["bgnbd_p_purchase"].to_numpy(float), nan=0.0)
        out["pareto_nbd"] = np.nan_to_num(X["pnbd_p_purchase"].to_numpy(float), nan=0.0)
        for name, cols in (("rfm_logistic", FEATURES), ("recency", RECENCY_FEATURES)):
            p = self.baseline_models[name].predict_proba(X_of(fr, cols))[:, 1]
            out[name] = self.builder.to_horizon(self.end_day, p, int(self.cutoffs["label_window_days"][0]))
        return out

    def scoring_features(self) -> pd.DataFrame:
        fr = self.builder.frame(self.end_day)
        out = X_of(fr).copy()
        out.insert(0, "customer_id", self.builder.customer_ids[fr["customer"].to_numpy()])
        return out


def _day(ts: pd.Timestamp) -> int:
    return int(pd.Timestamp(ts).value // DAY_NS)


def _iso(day: int) -> str:
    return str(pd.Timestamp(day * DAY_NS).date())


def _halves(customer_ids: np.ndarray) -> np.ndarray:
    """Deterministic 50/50 split of customers: True = calibration half."""
    hashed = pd.util.hash_pandas_object(pd.Series(customer_ids, dtype=str), index=False).to_numpy()
    return (hashed % 2) == 0


#: The shortest label window the engine trains on when the history is shorter than two horizons.
MIN_LABEL_DAYS = 14


def label_window(span_days: int, cfg: EngineConfig) -> int:
    """The label window: the horizon when the history (``span_days`` from the first purchase to the
    end) holds two of them plus ``min_history_days``; else a third of what remains after
    ``min_history_days`` (so that the first training cutoff of the backtest already has one label
    window of history behind it, not a cohort of customers a few weeks old), or, on a history too
    short for that, the longest window that fits. The scores are carried to the horizon by
    :func:`transfer_horizon`."""
    h = cfg.horizon_days
    if span_days >= 2 * h + cfg.min_history_days:
        return h
    w = (span_days - cfg.min_history_days) // 3
    if w < MIN_LABEL_DAYS:
        w = (span_days - cfg.min_history_days) // 2
    if w < MIN_LABEL_DAYS:
        raise NotEnoughHistory(
            f"{span_days} days of purchase history; at least {2 * MIN_LABEL_DAYS + cfg.min_history_days} "
            f"are needed (two label windows of {MIN_LABEL_DAYS} days and {cfg.min_history_days} days of "
            "history before the first cutoff)"
        )
    return int(w)


def training_windows(label_days: int, cfg: EngineConfig) -> list[int]:
    """The label windows the candidates are trained on: the backtest's own window and, when the
    history is too short for a horizon-length one (``label_days`` < the horizon), also half of it
    (when at least :data:`MIN_LABEL_DAYS`): a shorter window gives more training cutoffs and a
    younger cohort, and often ranks better; the backtest picks."""
    out = [label_days]
    if label_days < cfg.horizon_days and label_days // 2 >= MIN_LABEL_DAYS:
        out.append(label_days // 2)
    return out


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def transfer_horizon(p_label: np.ndarray, bg_label: np.ndarray, bg_horizon: np.ndarray) -> np.ndarray:
    """Carry calibrated probabilities for a ``label`` window to the longer horizon: add, on the
    log-odds scale, the shift that the customer's own BG/NBD prediction makes between the two
    windows (the model ranks; BG/NBD's buy-till-you-die dynamics stretch the window)."""
    shift = _logit(bg_horizon) - _logit(bg_label)
    shift = np.where(np.isfinite(shift), shift, 0.0)
    return 1.0 / (1.0 + np.exp(-(_logit(p_label) + shift)))


def _usable(builder: FeatureBuilder, c: int, cfg: EngineConfig) -> bool:
    return builder.first_day is not None and c - builder.first_day >= cfg.min_history_days


def _cap_rows(X, y, limit, seed):
    if len(y) <= limit:
        return X, y
    idx = np.sort(np.random.default_rng(seed).choice(len(y), limit, replace=False))
    return X.iloc[idx].reset_index(drop=True), y[idx]


def _fit(model, X, y, cfg):
    X, y = _cap_rows(X, y, cfg.max_train_rows, cfg.random_state)
    return model.fit(X, y)


def compute_threads() -> int:
    """Threads for the model fits: ``TESSERA_ML_THREADS`` if set; else every core when the machine
    is otherwise idle, one when other processes keep the cores busy (OpenMP's busy-waiting threads
    make an oversubscribed fit many times slower, not faster)."""
    env = os.environ.get("TESSERA_ML_THREADS")
    if env:
        return max(1, int(env))
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        return cores
    return cores if load < cores - 0.5 else 1


def train(orders: pd.DataFrame, end: pd.Timestamp, cfg: EngineConfig = EngineConfig()) -> PropensityRun:
    """Backtest, select, calibrate and return the engine for the history ending at ``end``
    (exclusive; use :func:`ml.orders.as_of_end`). ``orders`` as produced by :func:`ml.orders.load_orders`."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=compute_threads()):
        return _train(orders, end, cfg)


def _train(orders: pd.DataFrame, end: pd.Timestamp, cfg: EngineConfig) -> PropensityRun:
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    K = cfg.n_cutoffs
    b = FeatureBuilder(orders, cfg.horizon_days, random_state=cfg.random_state)
    if b.first_day is None:
        raise NotEnoughHistory("the log holds no purchase on or before the as-of date")
    T = _day(end)
    h = label_window(T - b.first_day, cfg)
    b.label_days = h
    s = cfg.step if h == cfg.horizon_days else max(7, h // 3)
    c_H = T - h
    train_cuts = [c for c in (c_H - h - k * s for k in range(K)) if _usable(b, c, cfg)]
    if not train_cuts:
        raise NotEnoughHistory(
            f"{T - b.first_day} days of purchase history; at least {2 * MIN_LABEL_DAYS + cfg.min_history_days} "
            f"are needed (two label windows of {MIN_LABEL_DAYS} days and {cfg.min_history_days} days of "
            "history before the first cutoff)"
        )
    # the final model: the same recipe on the latest cutoffs, whose label windows end on or before
    # the end of the history (the holdout cutoff is the first of them)
    final_cuts = [c for c in (c_H - k * s for k in range(K)) if _usable(b, c, cfg)]

    # -- features ------------------------------------------------------------------------------
    t0 = time.perf_counter()
    X_tr_f, y_tr, _ = b.dataset(train_cuts)
    ho = b.frame(c_H)
    y_ho = b.labels(c_H, ho["customer"].to_numpy())
    timings["features_seconds"] = time.perf_counter() - t0
    for name, y in (("training", y_tr), ("holdout", y_ho)):
        if len(y) < 20 or y.min() == y.max():
            raise NotEnoughHistory(f"the {name} rows have a single class or too few rows ({len(y)})")
    X_tr = X_of(X_tr_f)
    X_ho = X_of(ho)

    calib = _halves(b.customer_ids[ho["customer"].to_numpy()])
    evalm = ~calib
    for part, m in (("calibration", calib), ("evaluation", evalm)):
        if y_ho[m].min() == y_ho[m].max():
            raise NotEnoughHistory(f"the holdout {part} half has a single class")

    # -- fit on the training cutoffs; select on the holdout's calibration half ----------------
    # Every candidate and the classic models' own predictions (the fallbacks) compete on the calibration half
    # of the holdout customers; the reported metrics come from the other half, which neither the
    # selection nor the calibration sees. On a short history the candidates are also trained on
    # shorter label windows (:func:`training_windows`); all are judged on the same holdout labels.
    t0 = time.perf_counter()
    Xc, yc = X_ho[calib], y_ho[calib]
    fitted = {name: _fit(m, X_tr, y_tr, cfg) for name, m in build_candidates(cfg.random_state).items()}
    origin = {name: (name, h) for name in fitted}  # candidate -> (recipe, training label window)
    rfm = fitted.get("rfm_logistic") or _fit(rfm_logistic(cfg.random_state), X_tr, y_tr, cfg)
    rec = _fit(linear_pipeline(cfg.random_state), X_of(X_tr_f, RECENCY_FEATURES), y_tr, cfg)
    short_rfm: dict[int, object] = {}
    for w in training_windows(h, cfg):
        if w == h:
            continue
        cuts_w = [c for c in (c_H - w - k * max(7, w // 3) for k in range(K)) if _usable(b, c, cfg)]
        if not cuts_w:
            continue
        Xw_f, yw, _ = b.dataset(cuts_w, w)
        if len(yw) < 20 or yw.min() == yw.max():
            continue
        for name, m in build_candidates(cfg.random_state).items():
            fitted[f"{name}_{w}d"] = _fit(m, X_of(Xw_f), yw, cfg)
            origin[f"{name}_{w}d"] = (name, w)
        short_rfm[w] = fitted.get(f"rfm_logistic_{w}d") or _fit(rfm_logistic(cfg.random_state), X_of(Xw_f), yw, cfg)
    timings["fit_seconds"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fallbacks = {name: clv_passthrough(X_ho, y_ho, col) for name, col in FALLBACKS.items()}
    selection_auc = {name: float(roc_auc_score(yc, m.predict_proba(Xc)[:, 1])) for name, m in fitted.items()}
    for name, m in fallbacks.items():
        selection_auc[name] = float(roc_auc_score(yc, m.predict_proba(Xc)[:, 1]))
    selected = max(selection_auc, key=selection_auc.get)
    timings["selection_seconds"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    train_w = cfg.horizon_days if selected in FALLBACKS else origin[selected][1]
    if selected in FALLBACKS:
        # the classic model's own P(at least one purchase in the horizon), fitted on the whole history
        winner = cal_half = final = fallbacks[selected]
        X_fin = X_tr
    else:
        winner = fitted[selected]
        cal_half = CalibratedClassifierCV(FrozenEstimator(winner), method="sigmoid").fit(Xc, yc)
        recipe, w = origin[selected]
        if w == h:
            fin_cuts = final_cuts
        else:  # the latest cutoffs whose w-day label windows end on or before the history end
            final_cuts = fin_cuts = [c for c in (T - w - k * max(7, w // 3) for k in range(K)) if _usable(b, c, cfg)]
        X_fin_f, y_fin, _ = b.dataset(fin_cuts, w)
        X_fin = X_of(X_fin_f)
        refit = _fit(build_candidates(cfg.random_state)[recipe], X_fin, y_fin, cfg)
        # calibrated on the holdout's own (h-day) labels, carried to the horizon by transfer_horizon
        final = CalibratedClassifierCV(FrozenEstimator(refit), method="sigmoid").fit(X_ho, y_ho)
    timings["final_fit_seconds"] = time.perf_counter() - t0

    y_e = y_ho[evalm]
    Xe = X_ho[evalm]
    curves = {
        "tessera": (y_e, cal_half.predict_proba(Xe)[:, 1]),
        "bgnbd": (y_e, np.nan_to_num(Xe["bgnbd_p_purchase"].to_numpy(float), nan=0.0)),
        "pareto_nbd": (y_e, np.nan_to_num(Xe["pnbd_p_purchase"].to_numpy(float), nan=0.0)),
        "rfm_logistic": (y_e, rfm.predict_proba(Xe)[:, 1]),
        "recency": (y_e, rec.predict_proba(X_of(Xe, RECENCY_FEATURES))[:, 1]),
    }
    for w, m in short_rfm.items():
        curves[f"rfm_logistic_{w}d"] = (y_e, m.predict_proba(Xe)[:, 1])
    for name, m in fitted.items():
        curves[f"candidate_{name}"] = (y_e, m.predict_proba(Xe)[:, 1])
    metrics: dict[str, float] = {}
    for name, (y, p) in curves.items():
        for k, v in ev.binary_metrics(y, p).items():
            metrics[f"{name}_{k}"] = v
    # every baseline, the RFM logistic regression on each label window included
    best_base = max(metrics[f"{n}_roc_auc"] for n in (*BASELINES, *(f"rfm_logistic_{w}d" for w in short_rfm)))
    metrics["best_baseline_roc_auc"] = best_base
    metrics["auc_margin_over_best_baseline"] = metrics["tessera_roc_auc"] - best_base
    metrics["brier_margin_vs_bgnbd"] = metrics["bgnbd_brier"] - metrics["tessera_brier"]
    for name, v in selection_auc.items():
        metrics[f"selection_{name}_roc_auc"] = v

    # -- scoring features at the end of the history --------------------------------------------
    t0 = time.perf_counter()
    b.frame(T)
    timings["scoring_features_seconds"] = time.perf_counter() - t0
    timings["clv_seconds"] = b.clv_seconds
    timings["total_seconds"] = time.perf_counter() - t_start

    ref = X_fin.sample(n=min(len(X_fin), 50_000), random_state=cfg.random_state)
    clv_params = {}
    for fit_ in b.clv_fits(c_H).values():
        clv_params.update(fit_.as_log_params())
    return PropensityRun(
        model=final,
        selected=selected,
        config=cfg,
        metrics=metrics,
        selection_auc=selection_auc,
        cutoffs={
            "training": [_iso(c) for c in train_cuts],
            "selection_validation": [f"{_iso(c_H)} (calibration half)"],
            "final_training": [_iso(c) for c in final_cuts] if selected not in FALLBACKS else [],
            "holdout": [_iso(c_H)],
            "history_end": [_iso(T)],
            "label_window_days": [str(h)],
            "training_label_window_days": [str(train_w)],
        },
        rows={
            "training_rows": len(y_tr),
            "training_positives": int(y_tr.sum()),
            "holdout_rows": len(y_ho),
            "holdout_positives": int(y_ho.sum()),
            "holdout_eval_rows": int(evalm.sum()),
            "scored_customers": len(b.frame(T)),
        },
        curves=curves,
        uncalibrated=(y_e, winner.predict_proba(Xe)[:, 1]),
        clv_params=clv_params,
        input_example=X_ho.head(5).reset_index(drop=True),
        train_reference=ref.reset_index(drop=True),
        timings=timings,
        builder=b,
        end_day=T,
        label_days=cfg.horizon_days if selected in FALLBACKS else h,
        baseline_models={"rfm_logistic": rfm, "recency": rec},
    )


def psi(expected, actual, bins: int = 10) -> float:
    """Population stability index of ``actual`` against ``expected`` (quantile bins of expected;
    NaN is its own bin)."""
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    e_nan, a_nan = np.isnan(e), np.isnan(a)
    ef, af = e[~e_nan], a[~a_nan]
    if len(ef) == 0 or len(af) == 0:
        pe = np.array([e_nan.mean(), 1 - e_nan.mean()])
        pa = np.array([a_nan.mean(), 1 - a_nan.mean()])
    else:
        edges = np.unique(np.quantile(ef, np.linspace(0, 1, bins + 1)))
        edges[0], edges[-1] = -np.inf, np.inf
        if len(edges) < 2:
            edges = np.array([-np.inf, np.inf])
        ce = np.histogram(ef, edges)[0].astype(float)
        ca = np.histogram(af, edges)[0].astype(float)
        pe = np.r_[ce / len(e), e_nan.mean()]
        pa = np.r_[ca / len(a), a_nan.mean()]
    pe, pa = np.clip(pe, 1e-4, None), np.clip(pa, 1e-4, None)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


def feature_psi(reference: pd.DataFrame, current: pd.DataFrame, columns=FEATURES) -> dict[str, float]:
    return {c: psi(reference[c], current[c]) for c in columns if c in reference and c in current}
