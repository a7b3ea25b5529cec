"""``tessera predict propensity|recommendations`` and ``tessera ml promote|rollback``.

Registered by the main CLI as ``tessera predict`` (``predict_app``) and ``tessera ml`` (``ml_app``).
Every expected failure (missing file or column, too short a history, no champion) ends with a
one-line ``error:`` message and exit code 2, never a traceback. See docs/ml.md.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

predict_app = typer.Typer(help="Predictions from a purchase log file (no warehouse needed).", no_args_is_help=True,
                          pretty_exceptions_enable=False)
ml_app = typer.Typer(help="The registered propensity model: champion and challenger.", no_args_is_help=True,
                     pretty_exceptions_enable=False)


def _say(msg: str) -> None:
    typer.echo(msg, err=True)


def _fail(msg: str, code: int = 2) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def _parse_date(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        _fail(f"--as-of {value!r} is not an ISO 8601 date (YYYY-MM-DD)")
        raise


def _write(df, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() in (".parquet", ".pq"):
        df.to_parquet(output, index=False)
    else:
        df.to_csv(output, index=False)


def _load(orders: Path, as_of: str, *, keep_lines: bool = False):
    """The orders file up to ``--as-of`` (``ml.orders.load_orders``), its summary on stderr; a file
    or date error exits 2 with one line."""
    from ml.orders import OrdersError, load_orders

    when = _parse_date(as_of)
    try:
        log = load_orders(orders, when, keep_lines=keep_lines)
    except OrdersError as exc:
        _fail(str(exc))
    _say(log.summary())
    return log


def _quiet() -> None:
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("pymc", "pytensor", "mlflow", "alembic", "arviz", "pymc_marketing"):
        logging.getLogger(name).setLevel(logging.ERROR)


@predict_app.command("propensity")
def propensity(
    orders: Annotated[Path, typer.Option("--orders", help="CSV or Parquet: order_id,customer_id,ordered_at,amount[,quantity,product_id,category,status].")],
    as_of: Annotated[str, typer.Option("--as-of", help="Last day of history (YYYY-MM-DD); later orders are dropped.")],
    output: Annotated[Path, typer.Option("--output", help="customer_id,score as CSV or Parquet (by extension).")],
    horizon_days: Annotated[int, typer.Option("--horizon-days", min=1, help="Score = P(at least one order in this many days after --as-of).")] = 90,
    cutoffs: Annotated[int, typer.Option("--cutoffs", min=1, help="Stacked training cutoffs.")] = 4,
    metrics: Annotated[Path | None, typer.Option("--metrics", help="Also write the backtest metrics (JSON).")] = None,
    baselines: Annotated[Path | None, typer.Option("--baselines", help="Also write customer_id and each baseline's probability (bgnbd, pareto_nbd, rfm_logistic, recency) for the same horizon.")] = None,
    mlflow: Annotated[bool, typer.Option("--mlflow/--no-mlflow", help="Log the run and register the model (champion/challenger) in Tessera's MLflow store.")] = False,
) -> None:
    """Train on the log's own history (stacked cutoffs, backtest vs BG/NBD, Pareto/NBD, RFM and
    recency baselines), calibrate, and score every customer with an order on or before --as-of."""
    import json

    _quiet()
    from ml import propensity as P

    t0 = time.perf_counter()
    log = _load(orders, as_of)
    if log.orders.empty:
        _fail("no valid order on or before the as-of date")
    cfg = P.EngineConfig(horizon_days=horizon_days, n_cutoffs=cutoffs)
    try:
        if mlflow:
            from ml.pipeline import train_and_register

            res = train_and_register(log.orders, log.as_of_end, cfg, data_source=str(orders))
            run = res.run
            _say(f"MLflow run {res.run_id}: version {res.model_version} "
                 f"({'champion' if res.is_champion else 'challenger'})")
        else:
            run = P.train(log.orders, log.as_of_end, cfg)
    except P.NotEnoughHistory as exc:
        _fail(str(exc))
    m = run.metrics
    _say(f"holdout window from {run.cutoffs['holdout'][0]} ({run.rows['holdout_eval_rows']} customers evaluated), "
         f"model: {run.selected}")
    _say(f"{'':14s} {'ROC AUC':>8s} {'PR AUC':>8s} {'Brier':>8s} {'lift@10%':>8s}")
    for name in ("tessera", *P.BASELINES):
        _say(f"{name:14s} {m[name + '_roc_auc']:8.4f} {m[name + '_pr_auc']:8.4f} {m[name + '_brier']:8.4f} "
             f"{m[name + '_top_decile_lift']:8.2f}")
    scores = run.score_frame()
    _write(scores, output)
    if baselines is not None:
        _write(run.baseline_scores(), baselines)
    if metrics is not None:
        metrics.write_text(json.dumps({"metrics": m, "cutoffs": run.cutoffs, "rows": run.rows,
                                       "selected": run.selected, "timings": run.timings, "quarantined": dict(log.quarantined),
                                       "dropped_after_as_of": log.dropped_after_as_of}, indent=2))
    _say(f"wrote {len(scores)} scores to {output} in {time.perf_counter() - t0:.1f}s")


@predict_app.command("recommendations")
def recommendations(
    orders: Annotated[Path, typer.Option("--orders", help="Order lines, CSV or Parquet: order_id,customer_id,ordered_at,amount,product_id[,quantity,category].")],
    as_of: Annotated[str, typer.Option("--as-of", help="Last day of history (YYYY-MM-DD).")],
    output: Annotated[Path, typer.Option("--output", help="customer_id,product_id,rank,score (CSV or Parquet).")],
    k: Annotated[int, typer.Option("--k", min=1, help="Products per customer.")] = 10,
    exclude_purchased: Annotated[bool, typer.Option("--exclude-purchased/--include-purchased", help="Never recommend a product the customer already bought.")] = True,
    evaluate: Annotated[bool, typer.Option("--evaluate/--no-evaluate", help="Also report hit rate@k and recall@k on the last 90 days vs popularity.")] = True,
) -> None:
    """Item-to-item co-purchase recommendations with a popularity fallback."""
    _quiet()
    from ml import recommend as R

    log = _load(orders, as_of, keep_lines=True)
    if log.lines is None:
        _fail("recommendations need a product_id column")
    if log.lines.empty:
        _fail("no purchase line with a product_id on or before the as-of date")
    cfg = R.RecConfig(k=k, exclude_purchased=exclude_purchased)
    if evaluate:
        try:
            e = R.evaluate(log.lines, log.as_of_end, cfg)
            _say(f"time split at {e['split']} ({int(e['test_customers'])} customers): "
                 f"hit rate@{k} {e[f'hit_rate_at_{k}']:.3f} vs popularity {e[f'popularity_hit_rate_at_{k}']:.3f}, "
                 f"recall@{k} {e[f'recall_at_{k}']:.3f} vs {e[f'popularity_recall_at_{k}']:.3f}")
        except (ValueError, ZeroDivisionError) as exc:
            _say(f"evaluation skipped: {exc}")
    rec = R.fit(log.lines, log.as_of_end, cfg)
    recs = rec.top_k()
    _write(recs, output)
    _say(f"wrote {len(recs)} recommendations for {recs['customer_id'].nunique()} customers to {output}")


@ml_app.command("promote")
def promote(
    version: Annotated[str | None, typer.Argument(help="Version to make champion (default: the challenger).")] = None,
) -> None:
    """Make a version (default: the challenger) the champion, overriding the automatic rule."""
    _quiet()
    from mlflow.exceptions import MlflowException

    from ml import registry

    try:
        v = registry.promote(version)
    except (LookupError, MlflowException) as exc:
        _fail(str(exc).splitlines()[0])
    typer.echo(f"champion is now version {v}")


@ml_app.command("rollback")
def rollback() -> None:
    """Give champion back to the version it replaced; the current one becomes challenger."""
    _quiet()
    from mlflow.exceptions import MlflowException

    from ml import registry

    try:
        v = registry.rollback()
    except (LookupError, MlflowException) as exc:
        _fail(str(exc).splitlines()[0])
    typer.echo(f"champion rolled back to version {v}")
