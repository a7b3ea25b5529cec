"""MLflow set-up, the registered propensity model and its ``champion`` alias.

Layout (defaults; ``MLFLOW_TRACKING_URI`` overrides the store):

- tracking + registry store: ``sqlite:///$TESSERA_DATA_DIR/mlflow/mlflow.db``
- artifacts: ``$TESSERA_DATA_DIR/mlflow/artifacts`` (next to the sqlite file for any sqlite URI)
- experiment ``tessera_purchase_propensity``, registered model ``tessera_purchase_propensity``,
  alias ``champion`` on the version scoring uses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ml  # noqa: F401  (sets the MLflow telemetry opt-outs before mlflow is imported)
from ml import CHAMPION_ALIAS, EXPERIMENT_NAME, MODEL_NAME
from tessera import paths

log = logging.getLogger(__name__)

VAL_AUC_TAG = "val_roc_auc"


def _sqlite_path(tracking_uri: str) -> Path | None:
    prefix = "sqlite:///"
    if tracking_uri.startswith(prefix):
        return Path(tracking_uri[len(prefix) :])
    return None


def default_artifact_location(tracking_uri: str) -> str:
    """``<dir of the sqlite file>/artifacts`` for a sqlite store, else ``mlflow_dir()/artifacts``."""
    db = _sqlite_path(tracking_uri)
    root = db.parent if db is not None else paths.mlflow_dir()
    return (root / "artifacts").resolve().as_uri()


def configure_mlflow(tracking_uri: str | None = None):
    """Point MLflow's tracking and registry at ``tracking_uri`` (default: the Tessera store) and
    return ``(MlflowClient, tracking_uri)``. Creates the folder of a sqlite store."""
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = tracking_uri or paths.mlflow_tracking_uri()
    db = _sqlite_path(uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri), uri


def ensure_experiment(client, name: str = EXPERIMENT_NAME, artifact_location: str | None = None) -> str:
    """The id of experiment ``name``, created (with ``artifact_location``) or restored if needed."""
    exp = client.get_experiment_by_name(name)
    if exp is None:
        return client.create_experiment(name, artifact_location=artifact_location)
    if exp.lifecycle_stage == "deleted":
        client.restore_experiment(exp.experiment_id)
    return exp.experiment_id


def champion_version(client, model_name: str = MODEL_NAME):
    """The ModelVersion carrying the ``champion`` alias, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(model_name, CHAMPION_ALIAS)
    except MlflowException:
        return None


def version_val_auc(client, mv) -> float | None:
    """A version's validation ROC AUC: its tag, else its run's metric."""
    if mv is None:
        return None
    if mv.tags and VAL_AUC_TAG in mv.tags:
        return float(mv.tags[VAL_AUC_TAG])
    if mv.run_id:
        metric = client.get_run(mv.run_id).data.metrics.get(VAL_AUC_TAG)
        return float(metric) if metric is not None else None
    return None


@dataclass(frozen=True)
class Promotion:
    promoted: bool
    previous_version: str | None
    previous_val_auc: float | None


@dataclass(frozen=True)
class Champion:
    model: Any  # a fitted scikit-learn classifier (predict_proba)
    model_name: str
    version: str
    run_id: str
    model_uri: str


def load_champion(tracking_uri: str | None = None, model_name: str = MODEL_NAME) -> Champion:
    """Load ``models:/<model_name>@champion`` with the scikit-learn flavour."""
    import mlflow.sklearn

    client, _ = configure_mlflow(tracking_uri)
    mv = champion_version(client, model_name)
    if mv is None:
        raise LookupError(f"registered model {model_name!r} has no {CHAMPION_ALIAS!r} alias; train first")
    uri = f"models:/{model_name}@{CHAMPION_ALIAS}"
    model = mlflow.sklearn.load_model(uri)
    return Champion(
        model=model, model_name=model_name, version=str(mv.version), run_id=mv.run_id, model_uri=uri
    )


# -- champion / challenger ------------------------------------------------------------------------

CHALLENGER_ALIAS = "challenger"
SCORE_TAG = "backtest_roc_auc"  # the holdout ROC AUC a version was trained and compared with
DEFAULT_PROMOTION_MARGIN = 0.0


def _version_score(client, mv) -> float | None:
    if mv is None:
        return None
    for tag in (SCORE_TAG, VAL_AUC_TAG):
        if mv.tags and tag in mv.tags:
            return float(mv.tags[tag])
    return version_val_auc(client, mv)


def alias_version(client, alias: str, model_name: str = MODEL_NAME):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(model_name, alias)
    except MlflowException:
        return None


def decide_promotion(
    client,
    version: str,
    score: float,
    *,
    champion_score_on_same_backtest: float | None = None,
    margin: float = DEFAULT_PROMOTION_MARGIN,
    model_name: str = MODEL_NAME,
) -> Promotion:
    """``champion`` moves to ``version`` when there is no champion yet, or when ``score`` beats
    the champion's score **on the same backtest** (``champion_score_on_same_backtest``: the
    champion model re-scored on this run's holdout; else the champion's own recorded score) by
    at least ``margin``. Otherwise ``version`` becomes ``challenger``."""
    client.set_model_version_tag(model_name, version, SCORE_TAG, f"{score:.6f}")
    current = champion_version(client, model_name)
    cur_score = champion_score_on_same_backtest
    if cur_score is None:
        cur_score = _version_score(client, current)
    if current is None or cur_score is None or score >= cur_score + margin:
        client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version)
        log.info("model %s version %s is now %s (%.4f vs %s)", model_name, version, CHAMPION_ALIAS, score, cur_score)
        return Promotion(True, str(current.version) if current else None, cur_score)
    client.set_registered_model_alias(model_name, CHALLENGER_ALIAS, version)
    log.info(
        "model %s version %s (%.4f) stays %s: champion v%s scores %.4f on the same backtest (margin %.4f)",
        model_name, version, score, CHALLENGER_ALIAS, current.version, cur_score, margin,
    )
    return Promotion(False, str(current.version), cur_score)


PREVIOUS_CHAMPION_TAG = "previous_champion"


def promote(version: str | None = None, *, tracking_uri: str | None = None, model_name: str = MODEL_NAME) -> str:
    """Make ``version`` (default: the ``challenger``) the champion by hand; remembers the
    replaced champion for :func:`rollback`. Returns the new champion's version."""
    client, _ = configure_mlflow(tracking_uri)
    if version is None:
        ch = alias_version(client, CHALLENGER_ALIAS, model_name)
        if ch is None:
            raise LookupError(f"registered model {model_name!r} has no {CHALLENGER_ALIAS!r}; name a version")
        version = str(ch.version)
    client.get_model_version(model_name, str(version))  # raises when it does not exist
    current = champion_version(client, model_name)
    if current is not None and str(current.version) != str(version):
        client.set_model_version_tag(model_name, str(version), PREVIOUS_CHAMPION_TAG, str(current.version))
    client.set_registered_model_alias(model_name, CHAMPION_ALIAS, str(version))
    ch = alias_version(client, CHALLENGER_ALIAS, model_name)
    if ch is not None and str(ch.version) == str(version):
        client.delete_registered_model_alias(model_name, CHALLENGER_ALIAS)
    return str(version)


def rollback(*, tracking_uri: str | None = None, model_name: str = MODEL_NAME) -> str:
    """Give ``champion`` back to the version it replaced (its ``previous_champion`` tag, else the
    highest version below the champion). Returns the new champion's version."""
    client, _ = configure_mlflow(tracking_uri)
    current = champion_version(client, model_name)
    if current is None:
        raise LookupError(f"registered model {model_name!r} has no {CHAMPION_ALIAS!r} to roll back")
    target = (current.tags or {}).get(PREVIOUS_CHAMPION_TAG)
    if target is None:
        lower = [
            int(v.version)
            for v in client.search_model_versions(f"name='{model_name}'")
            if int(v.version) < int(current.version)
        ]
        if not lower:
            raise LookupError(f"version {current.version} is the first version; nothing to roll back to")
        target = str(max(lower))
    client.set_registered_model_alias(model_name, CHAMPION_ALIAS, str(target))
    client.set_registered_model_alias(model_name, CHALLENGER_ALIAS, str(current.version))
    return str(target)
