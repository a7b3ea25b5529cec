"""Train, calibrate, log and register the purchase-propensity model.

1. Load ``ml_features.ml_propensity_training`` (one row per profile and cutoff).
2. Time split: train on the earlier cutoffs, validate on the latest cutoff.
3. Fit the candidates (scaled logistic regression, histogram gradient boosting) and a
   recency-only baseline on the training rows; pick the candidate with the best validation ROC AUC.
4. Calibrate the chosen model on half of the validation profiles (isotonic, or sigmoid when that
   half is small) and measure everything reported as ``val_*`` on the other half.
5. Log params, data window, features, metrics, ROC and calibration plots and the model to MLflow,
   register it as ``tessera_purchase_propensity`` and move ``champion`` to it if it is not worse.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

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

from ml import EXPERIMENT_NAME, MODEL_NAME, registry
from ml import evaluate as ev
from ml import features as F

log = logging.getLogger(__name__)

#: Below this many calibration rows isotonic regression overfits; use Platt (sigmoid) instead.
MIN_ROWS_ISOTONIC = 1000


@dataclass(frozen=True)
class TrainingResult:
    run_id: str
    model_name: str
    model_version: str
    is_champion: bool
    selected_candidate: str
    metrics: dict[str, float]
    train_rows: int
    valid_rows: int
    train_cutoffs: tuple[str, ...]
    valid_cutoff: str
    duration_seconds: float
    params: dict[str, str] = field(default_factory=dict)


def _linear_pipeline(random_state: int) -> Pipeline:
    # Every feature is a non-negative count, amount, number of days or flag: log1p tames the long
    # tails before scaling. Nulls ("never ordered") get the median plus a missing-indicator column.
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
            ("log1p", FunctionTransformer(np.log1p, feature_names_out="one-to-one")),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(C=1.0, max_iter=2000, random_state=random_state)),
        ]
    )


def build_candidates(random_state: int = 0) -> dict[str, object]:
    """The unfitted candidate models, by name."""
    return {
        "logistic_regression": _linear_pipeline(random_state),
        "hist_gradient_boosting": HistGradientBoostingClassifier(
            learning_rate=0.06,
            max_iter=300,
            max_leaf_nodes=15,
            min_samples_leaf=40,
            l2_regularization=1.0,
            early_stopping=True,
            validation_fraction=0.15,
            n_iter_no_change=20,
            random_state=random_state,
        ),
    }


def _calibration_halves(profile_ids: pd.Series) -> np.ndarray:
    """Deterministic 50/50 split of the validation profiles: True = calibration half."""
    hashed = pd.util.hash_pandas_object(profile_ids.astype(str), index=False).to_numpy()
    return (hashed % 2) == 0


def _param_dict(name: str, model) -> dict[str, str]:
    est = model.named_steps["model"] if isinstance(model, Pipeline) else model
    keep = ("C", "max_iter", "learning_rate", "max_leaf_nodes", "min_samples_leaf", "l2_regularization")
    return {f"{name}.{k}": str(v) for k, v in est.get_params().items() if k in keep}


def _pip_requirements() -> list[str]:
    # Given explicitly so MLflow does not spawn a subprocess to infer them.
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in ("scikit-learn", "numpy", "pandas", "scipy", "skops")]


def _skops_trusted_types(model) -> list[str]:
    """The types skops will not load by default, limited to scikit-learn's and numpy's own.

    The model is built here from scikit-learn parts only; anything else makes logging fail."""
    import skops.io

    untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    foreign = [t for t in untrusted if not t.startswith(("sklearn.", "numpy."))]
    if foreign:
        raise TypeError(f"the model references types outside scikit-learn/numpy: {foreign}")
    return sorted(untrusted)


def train_propensity_model(
    warehouse: str | Path | None = None,
    tracking_uri: str | None = None,
    *,
    frame: pd.DataFrame | None = None,
    experiment_name: str = EXPERIMENT_NAME,
    model_name: str = MODEL_NAME,
    random_state: int = 0,
) -> TrainingResult:
    """Train and register a new version of the propensity model; see the module docstring.

    ``frame`` replaces reading the training mart (tests, notebooks)."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    started = time.perf_counter()
    df = frame if frame is not None else F.load_training_frame(warehouse)
    split = F.time_split(df)
    X_tr, y_tr = F.feature_matrix(split.train), F.labels(split.train)
    X_va, y_va = F.feature_matrix(split.valid), F.labels(split.valid)

    # -- candidates, selection on the whole validation cutoff -----------------------------------
    metrics: dict[str, float] = {}
    candidates = build_candidates(random_state)
    fitted: dict[str, object] = {}
    val_scores: dict[str, np.ndarray] = {}
    for name, model in candidates.items():
        t0 = time.perf_counter()
        model.fit(X_tr, y_tr)
        fitted[name] = model
        val_scores[name] = model.predict_proba(X_va)[:, 1]
        metrics[f"{name}_val_roc_auc"] = float(roc_auc_score(y_va, val_scores[name]))
        metrics[f"{name}_fit_seconds"] = time.perf_counter() - t0
    selected = max(fitted, key=lambda n: metrics[f"{n}_val_roc_auc"])
    baseline_cols = list(F.BASELINE_FEATURES)
    baseline = _linear_pipeline(random_state).fit(X_tr[baseline_cols], y_tr)

    # -- calibration on one half of the validation profiles, evaluation on the other ------------
    calib_mask = _calibration_halves(split.valid[F.ID_COLUMN])
    n_calib = int(calib_mask.sum())
    for part, mask in (("calibration", calib_mask), ("evaluation", ~calib_mask)):
        if y_va[mask].nunique() < 2:
            raise ValueError(f"the validation {part} half has a single class; too little data to train")
    method = "isotonic" if n_calib >= MIN_ROWS_ISOTONIC else "sigmoid"
    model = CalibratedClassifierCV(FrozenEstimator(fitted[selected]), method=method)
    model.fit(X_va[calib_mask], y_va[calib_mask])

    hold = ~calib_mask
    X_ho, y_ho = X_va[hold], y_va[hold].to_numpy()
    p_model = model.predict_proba(X_ho)[:, 1]
    p_uncal = fitted[selected].predict_proba(X_ho)[:, 1]
    p_base = baseline.predict_proba(X_ho[baseline_cols])[:, 1]
    for prefix, p in (("val", p_model), ("uncalibrated_val", p_uncal), ("baseline_val", p_base)):
        for k, v in ev.binary_metrics(y_ho, p).items():
            metrics[f"{prefix}_{k}"] = v
    metrics["train_rows"] = float(len(X_tr))
    metrics["train_positive_rate"] = float(y_tr.mean())
    metrics["valid_rows"] = float(len(X_va))
    metrics["calibration_rows"] = float(n_calib)

    params = {
        "selected_candidate": selected,
        "calibration_method": method,
        "calibration_split": "validation profiles, hash(profile_id) % 2 == 0",
        "candidates": ",".join(candidates),
        "split": "time: train = earlier cutoffs, validation = latest cutoff",
        "train_cutoffs": ",".join(split.train_cutoffs),
        "valid_cutoff": split.valid_cutoff,
        "n_features": str(len(F.FEATURE_COLUMNS)),
        "baseline": "logistic regression on " + ",".join(baseline_cols),
        "random_state": str(random_state),
    }
    if "horizon_days" in df.columns and df["horizon_days"].notna().any():
        params["horizon_days"] = str(int(df["horizon_days"].dropna().iloc[0]))
    for name, m in candidates.items():
        params.update(_param_dict(name, m))

    # -- MLflow ---------------------------------------------------------------------------------
    client, uri = registry.configure_mlflow(tracking_uri)
    exp_id = registry.ensure_experiment(client, experiment_name, registry.default_artifact_location(uri))
    with mlflow.start_run(experiment_id=exp_id, run_name=f"propensity-{selected}") as run:
        mlflow.set_tags({"tessera.stage": "ml", "tessera.model": model_name, "selected_candidate": selected})
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as tmp:
            tmpdir = Path(tmp)
            (tmpdir / "features.json").write_text(json.dumps(list(F.FEATURE_COLUMNS), indent=2))
            window = {
                "train_cutoffs": list(split.train_cutoffs),
                "valid_cutoff": split.valid_cutoff,
                "rows_per_cutoff": {
                    str(k): int(v) for k, v in df.groupby(F.CUTOFF_COLUMN).size().sort_index().items()
                },
                "positives_per_cutoff": {
                    str(k): int(v)
                    for k, v in df.groupby(F.CUTOFF_COLUMN)[F.LABEL_COLUMN].sum().sort_index().items()
                },
                "train_rows": len(X_tr),
                "valid_rows": len(X_va),
                "calibration_rows": n_calib,
                "holdout_rows": int(hold.sum()),
            }
            (tmpdir / "data_window.json").write_text(json.dumps(window, indent=2))
            curves = {
                f"{selected} (calibrated)": (y_ho, p_model),
                "recency-only baseline": (y_ho, p_base),
            }
            for name in fitted:
                if name != selected:
                    curves[name] = (y_ho, fitted[name].predict_proba(X_ho)[:, 1])
            ev.plot_roc(curves, tmpdir / "roc_curve.png")
            ev.plot_calibration(
                {f"{selected} (calibrated)": (y_ho, p_model), f"{selected} (uncalibrated)": (y_ho, p_uncal)},
                tmpdir / "calibration_curve.png",
            )
            for name in ("features.json", "data_window.json"):
                mlflow.log_artifact(str(tmpdir / name), artifact_path="data")
            for name in ("roc_curve.png", "calibration_curve.png"):
                mlflow.log_artifact(str(tmpdir / name), artifact_path="plots")

        example = X_va.head(5)
        signature = infer_signature(example, model.predict_proba(example))
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            input_example=example,
            pyfunc_predict_fn="predict_proba",
            pip_requirements=_pip_requirements(),
            skops_trusted_types=_skops_trusted_types(model),
            registered_model_name=model_name,
            await_registration_for=30,
        )
        run_id = run.info.run_id

    version = str(info.registered_model_version)
    promotion = registry.promote_if_not_worse(client, version, metrics["val_roc_auc"], model_name)
    client.set_model_version_tag(model_name, version, "selected_candidate", selected)
    duration = time.perf_counter() - started
    log.info(
        "trained %s v%s (%s, val AUC %.4f, baseline %.4f) in %.1fs",
        model_name,
        version,
        selected,
        metrics["val_roc_auc"],
        metrics["baseline_val_roc_auc"],
        duration,
    )
    return TrainingResult(
        run_id=run_id,
        model_name=model_name,
        model_version=version,
        is_champion=promotion.promoted,
        selected_candidate=selected,
        metrics=metrics,
        train_rows=len(X_tr),
        valid_rows=len(X_va),
        train_cutoffs=split.train_cutoffs,
        valid_cutoff=split.valid_cutoff,
        duration_seconds=duration,
        params=params,
    )
