"""The propensity engine with MLflow: train + log + register (champion/challenger), score with
the champion, and the quality gate (floor + feature drift) that guards scoring.

Used by the Dagster assets (on ``ml_features.ml_propensity_orders``) and by
``tessera predict propensity --mlflow``. See docs/ml.md.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ml import EXPERIMENT_NAME, MODEL_NAME, registry
from ml import evaluate as ev
from ml import propensity as P

log = logging.getLogger(__name__)

HORIZON_TAG = "horizon_days"
LABEL_TAG = "label_window_days"  # shorter than the horizon when the history was short
#: The end (exclusive, ISO date) of the history a version was trained on. The registered model is
#: refitted on label windows up to that day, so it has seen the labels of any holdout before it.
HISTORY_END_TAG = "history_end"
ENGINE_TAG = "tessera.engine"
ENGINE = "propensity-v2"
#: Quality gate defaults (env overrides): the champion's holdout ROC AUC floor, the drift limit.
AUC_FLOOR = float(os.environ.get("TESSERA_PROPENSITY_AUC_FLOOR", "0.6"))
PSI_THRESHOLD = float(os.environ.get("TESSERA_PROPENSITY_PSI_THRESHOLD", "0.5"))
PROMOTION_MARGIN = float(os.environ.get("TESSERA_PROPENSITY_PROMOTION_MARGIN", "0.002"))
#: Features whose drift is watched: the behavioural ones, not those that grow with calendar time
#: by construction (tenure, first-purchase age) on a young history.
DRIFT_FEATURES = tuple(f for f in P.FEATURES if f not in ("tenure_days", "first_purchase_age_days"))


@dataclass
class TrainResult:
    run_id: str
    model_name: str
    model_version: str
    is_champion: bool
    selected_candidate: str
    metrics: dict[str, float]
    champion_same_backtest_auc: float | None
    run: P.PropensityRun
    duration_seconds: float
    params: dict[str, str] = field(default_factory=dict)


def _pip_requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in ("scikit-learn", "numpy", "pandas", "scipy", "skops")]


def _trusted_types(model) -> list[str]:
    import skops.io

    untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    foreign = [t for t in untrusted if not t.startswith(("sklearn.", "numpy."))]
    if foreign:
        raise TypeError(f"the model references types outside scikit-learn/numpy: {foreign}")
    return sorted(untrusted)


def _champion_on_same_backtest(client, run: P.PropensityRun, model_name: str) -> float | None:
    """The current champion re-scored on this run's holdout evaluation half (same rows, same
    labels). None, so that the champion is compared by its own recorded backtest score, when there
    is no champion, it takes other features or another horizon, or its training history reaches
    into this holdout window (the registered model is refitted on label windows up to its history
    end: re-scored there it would be judged on labels it learnt from)."""
    import mlflow.sklearn
    from sklearn.metrics import roc_auc_score

    mv = registry.champion_version(client, model_name)
    tags = (mv.tags or {}) if mv is not None else {}
    if mv is None or tags.get(ENGINE_TAG) != ENGINE:
        return None
    if tags.get(HORIZON_TAG) != str(run.config.horizon_days):
        return None
    c_H = P._day(pd.Timestamp(run.cutoffs["holdout"][0]))  # this run's holdout cutoff
    seen_until = tags.get(HISTORY_END_TAG)
    if seen_until is None or P._day(pd.Timestamp(seen_until)) > c_H:
        return None
    try:
        model = mlflow.sklearn.load_model(f"models:/{model_name}/{mv.version}")
        b = run.builder
        ho = b.frame(c_H)
        evalm = ~P._halves(b.customer_ids[ho["customer"].to_numpy()])
        y = b.labels(c_H, ho["customer"].to_numpy())[evalm]
        p = model.predict_proba(P.X_of(ho)[evalm])[:, 1]
        return float(roc_auc_score(y, p))
    except Exception as exc:  # noqa: BLE001 - an unreadable champion is compared by its tag
        log.warning("could not re-score champion v%s on this backtest: %s", mv.version, exc)
        return None


def train_and_register(
    orders: pd.DataFrame,
    end: pd.Timestamp,
    config: P.EngineConfig = P.EngineConfig(),
    *,
    tracking_uri: str | None = None,
    experiment_name: str = EXPERIMENT_NAME,
    model_name: str = MODEL_NAME,
    promotion_margin: float = PROMOTION_MARGIN,
    data_source: str = "",
) -> TrainResult:
    """Run the engine, log everything to MLflow, register a version, decide champion/challenger."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    started = time.perf_counter()
    run = P.train(orders, end, config)
    m = dict(run.metrics)
    params = {
        "horizon_days": str(config.horizon_days),
        "label_window_days": run.cutoffs["label_window_days"][0],
        # the label window the shipped model was trained on (shorter than the backtest's on a short history)
        "training_label_window_days": run.cutoffs["training_label_window_days"][0],
        "n_cutoffs": str(config.n_cutoffs),
        "cutoff_step_days": str(config.step),
        "min_history_days": str(config.min_history_days),
        "max_train_rows": str(config.max_train_rows),
        "random_state": str(config.random_state),
        "selected_candidate": run.selected,
        "candidates": ",".join(P.CANDIDATES),
        "baselines": ",".join(P.BASELINES),
        "calibration": "sigmoid (Platt) on the holdout cutoff; metrics on the other half of its customers",
        "history_end": run.cutoffs["history_end"][0],
        "holdout_cutoff": run.cutoffs["holdout"][0],
        "training_cutoffs": ",".join(run.cutoffs["training"]),
        "n_features": str(len(P.FEATURES)),
        "promotion_margin": str(promotion_margin),
        "data_source": data_source or "orders frame",
    }
    params.update({k: f"{v:.6g}" for k, v in run.clv_params.items()})
    client, uri = registry.configure_mlflow(tracking_uri)
    exp_id = registry.ensure_experiment(client, experiment_name, registry.default_artifact_location(uri))
    champ_auc = _champion_on_same_backtest(client, run, model_name)
    if champ_auc is not None:
        m["champion_same_backtest_roc_auc"] = champ_auc
    m.update({k: float(v) for k, v in run.rows.items()})
    m.update({k: float(v) for k, v in run.timings.items()})
    # the backbone's names, kept for the Dagster metadata and the summary
    m["val_roc_auc"] = m["tessera_roc_auc"]
    m["auc"] = m["tessera_roc_auc"]

    with mlflow.start_run(experiment_id=exp_id, run_name=f"propensity-{run.selected}-h{config.horizon_days}") as mr:
        mlflow.set_tags({"tessera.stage": "ml", "tessera.model": model_name, ENGINE_TAG: ENGINE})
        mlflow.log_params(params)
        mlflow.log_metrics({k: v for k, v in m.items() if np.isfinite(v)})
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            (d / "features.json").write_text(json.dumps(list(P.FEATURES), indent=2))
            window = {**run.cutoffs, **run.rows, "horizon_days": config.horizon_days, "step_days": config.step}
            (d / "data_window.json").write_text(json.dumps(window, indent=2))
            run.train_reference.to_parquet(d / "train_reference.parquet", index=False)
            curves = {k: v for k, v in run.curves.items() if not k.startswith("candidate_")}
            ev.plot_roc(curves, d / "roc_curve.png", title="ROC, holdout window")
            ev.plot_calibration(
                {"tessera (calibrated)": run.curves["tessera"], "uncalibrated": run.uncalibrated,
                 "bgnbd": run.curves["bgnbd"]},
                d / "calibration_curve.png",
                title="Calibration, holdout window",
            )
            ev.plot_lift(curves, d / "lift_curve.png")
            for name in ("features.json", "data_window.json", "train_reference.parquet"):
                mlflow.log_artifact(str(d / name), artifact_path="data")
            for name in ("roc_curve.png", "calibration_curve.png", "lift_curve.png"):
                mlflow.log_artifact(str(d / name), artifact_path="plots")
        example = run.input_example
        info = mlflow.sklearn.log_model(
            run.model,
            name="model",
            signature=infer_signature(example, run.model.predict_proba(example)),
            input_example=example,
            pyfunc_predict_fn="predict_proba",
            pip_requirements=_pip_requirements(),
            skops_trusted_types=_trusted_types(run.model),
            registered_model_name=model_name,
            await_registration_for=30,
        )
        run_id = mr.info.run_id
    version = str(info.registered_model_version)
    for tag, value in ((HORIZON_TAG, str(config.horizon_days)), (LABEL_TAG, str(run.label_days)), (ENGINE_TAG, ENGINE),
                       (HISTORY_END_TAG, P._iso(run.end_day)),
                       ("selected_candidate", run.selected), (registry.VAL_AUC_TAG, f"{m['tessera_roc_auc']:.6f}")):
        client.set_model_version_tag(model_name, version, tag, value)
    promotion = registry.decide_promotion(
        client, version, m["tessera_roc_auc"], champion_score_on_same_backtest=champ_auc,
        margin=promotion_margin, model_name=model_name,
    )
    duration = time.perf_counter() - started
    log.info("trained %s v%s (%s) AUC %.4f, best baseline %.4f, champion=%s, %.1fs", model_name, version,
             run.selected, m["tessera_roc_auc"], m["best_baseline_roc_auc"], promotion.promoted, duration)
    return TrainResult(
        run_id=run_id, model_name=model_name, model_version=version, is_champion=promotion.promoted,
        selected_candidate=run.selected, metrics=m, champion_same_backtest_auc=champ_auc, run=run,
        duration_seconds=duration, params=params,
    )


@dataclass(frozen=True)
class ChampionScores:
    scores: pd.DataFrame  # customer_id, score
    model_name: str
    model_version: str
    run_id: str
    horizon_days: int
    features: pd.DataFrame  # the scoring features (for drift)


def score_with_champion(
    orders: pd.DataFrame, end: pd.Timestamp, *, tracking_uri: str | None = None, model_name: str = MODEL_NAME,
    customers: list[str] | None = None,
) -> ChampionScores:
    """Load ``models:/<name>@champion`` and score every customer of ``orders`` (plus
    ``customers`` without orders, whose order features are missing) as of ``end``."""
    champion = registry.load_champion(tracking_uri, model_name)
    client, _ = registry.configure_mlflow(tracking_uri)
    mv = client.get_model_version(model_name, champion.version)
    horizon = int((mv.tags or {}).get(HORIZON_TAG, 90))
    label_days = int((mv.tags or {}).get(LABEL_TAG, horizon))
    b = P.FeatureBuilder(orders, horizon)
    T = P._day(end)
    with_orders = 0  # the first rows of X: customers with orders, whose BG/NBD fit can carry p
    if b.first_day is not None:
        fr = b.frame(T)
        ids = b.customer_ids[fr["customer"].to_numpy()]
        X = P.X_of(fr).reset_index(drop=True)
        with_orders = len(X)
    else:
        ids = np.empty(0, dtype=object)
        X = pd.DataFrame(columns=list(P.FEATURES), dtype="float32")
    if customers is not None:
        extra = pd.Index(customers).difference(pd.Index(ids))
        if len(extra):
            ids = np.concatenate([ids, np.asarray(extra, dtype=object)])
            X = pd.concat([X, pd.DataFrame(np.nan, index=range(len(extra)), columns=list(P.FEATURES), dtype="float32")],
                          ignore_index=True)
    p = champion.model.predict_proba(X)[:, 1] if len(X) else np.empty(0)
    if with_orders:
        p[:with_orders] = b.to_horizon(T, p[:with_orders], label_days)
    return ChampionScores(
        scores=pd.DataFrame({"customer_id": ids, "score": np.clip(p, 0, 1)}),
        model_name=champion.model_name, model_version=champion.version, run_id=champion.run_id,
        horizon_days=horizon, features=X,
    )


@dataclass(frozen=True)
class GateResult:
    passed: bool
    auc: float | None
    auc_floor: float
    max_psi: float
    psi_threshold: float
    worst_feature: str | None
    psi: dict[str, float]
    reasons: list[str]


def quality_gate(
    model_auc: float | None, reference: pd.DataFrame, current: pd.DataFrame, *,
    auc_floor: float = AUC_FLOOR, psi_threshold: float = PSI_THRESHOLD,
) -> GateResult:
    """Fails when the model's holdout ROC AUC is below ``auc_floor`` or the PSI of any watched
    scoring feature against the training data exceeds ``psi_threshold``."""
    psi = P.feature_psi(reference, current, DRIFT_FEATURES) if len(current) and len(reference) else {}
    worst = max(psi, key=psi.get) if psi else None
    max_psi = psi[worst] if worst else 0.0
    reasons = []
    if model_auc is None or not np.isfinite(model_auc) or model_auc < auc_floor:
        reasons.append(f"holdout ROC AUC {model_auc} below the floor {auc_floor}")
    if max_psi > psi_threshold:
        reasons.append(f"feature drift: PSI of {worst} is {max_psi:.3f} > {psi_threshold}")
    return GateResult(not reasons, model_auc, auc_floor, max_psi, psi_threshold, worst, psi, reasons)


def champion_reference(tracking_uri: str | None = None, model_name: str = MODEL_NAME) -> tuple[pd.DataFrame, float | None]:
    """The champion run's training-feature sample and its holdout ROC AUC."""
    import mlflow

    client, _ = registry.configure_mlflow(tracking_uri)
    mv = registry.champion_version(client, model_name)
    if mv is None:
        raise LookupError(f"registered model {model_name!r} has no champion")
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(run_id=mv.run_id, artifact_path="data/train_reference.parquet", dst_path=tmp)
        ref = pd.read_parquet(path)
    auc = client.get_run(mv.run_id).data.metrics.get("tessera_roc_auc")
    return ref, auc
