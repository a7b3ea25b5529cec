"""`tessera decide explain` and `tessera experiments readout`. See docs/offers.md and
docs/experiments.md. The lead registers ``decide_app`` as ``tessera decide`` and
``experiments_app`` as ``tessera experiments``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tessera.cli_support import fail as _fail

decide_app = typer.Typer(help="Next-best-offer decisions (config/offers.yml).", no_args_is_help=True)
experiments_app = typer.Typer(help="Experiments: readouts and assignment.", no_args_is_help=True)
console = Console(width=200)



@decide_app.callback()
def _decide() -> None:
    """Next-best-offer decisions."""


@experiments_app.callback()
def _experiments() -> None:
    """Experiments."""


@decide_app.command("explain")
def explain(
    customer_id: Annotated[str, typer.Argument(help="A profile id, or any identifier (customer id, email, phone).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the explanation as JSON.")] = False,
    warehouse: Annotated[Path | None, typer.Option(help="The DuckDB warehouse (default: TESSERA_WAREHOUSE).")] = None,
) -> None:
    """Why this customer got each offer on each channel, and why every other offer lost."""
    from tessera.decide.explain import ExplainError, explain_customer, render_explanation

    try:
        result = explain_customer(customer_id, warehouse)
    except ExplainError as exc:
        _fail(str(exc))
        return
    if as_json:
        console.print_json(json.dumps(result, default=str))
    else:
        console.print(render_explanation(result))


@experiments_app.command("readout")
def readout(
    assignments: Annotated[Path, typer.Option(help="CSV with unit_id,arm.")],
    outcomes: Annotated[Path, typer.Option(help="CSV with unit_id and one column per metric.")],
    control: Annotated[str, typer.Option(help="The control arm's name.")],
    output: Annotated[Path, typer.Option(help="Where to write the readout JSON.")],
    weights: Annotated[str | None, typer.Option(
        help="Planned split: arm=weight pairs (control=50,treatment=50) or numbers in sorted arm order. "
             "Equal by default.")] = None,
    pre_period: Annotated[Path | None, typer.Option(
        "--pre-period", help="CSV with unit_id and pre-experiment covariates for CUPED.")] = None,
) -> None:
    """Compare every treatment arm with the control on every metric (statsmodels/scipy figures)."""
    from tessera.experiments.readout import ReadoutError, readout_from_files, table_rows

    started = time.perf_counter()
    try:
        result = readout_from_files(assignments, outcomes, control, weights, pre_period)
    except ReadoutError as exc:
        _fail(str(exc))
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    s = result["srm"]
    flag = "[bold red]SAMPLE RATIO MISMATCH[/bold red]" if s["p_value"] < 0.001 else "ok"
    console.print(
        f"[bold]{result['units']:,} units[/bold], control [bold]{control}[/bold]; "
        f"SRM chi2={s['chi2']:.3f} df={s['df']} p={s['p_value']:.4g} {flag}"
    )
    rows = table_rows(result)
    if rows:
        table = Table(show_lines=False)
        for head in rows[0]:
            table.add_column(head, justify="left" if head in {"metric", "type", "arm"} else "right")
        for r in rows:
            table.add_row(*r.values())
        console.print(table)
    console.print(f"wrote {output} in {time.perf_counter() - started:.1f}s")
