"""The `tessera` command. See docs/cli.md."""

from __future__ import annotations

import json
import os
import sys
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tessera.runner import quiet_environment

quiet_environment()  # before any library that reports usage statistics is imported

from tessera import paths  # noqa: E402
from tessera.activate.cli import sync_app  # noqa: E402
from tessera.cli_support import err  # noqa: E402
from tessera.cli_support import fail as _fail  # noqa: E402
from tessera.decide.cli import decide_app, experiments_app  # noqa: E402
from tessera.identity.cli import identity_app  # noqa: E402
from tessera.predict.cli import ml_app, predict_app  # noqa: E402

app = typer.Typer(help="Tessera: the warehouse-native customer data platform.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
demo_app = typer.Typer(help="The demo company: generate its data, run the whole graph on it.", no_args_is_help=True)
segments_app = typer.Typer(help="Segments (config/segments/*.yml).", no_args_is_help=True)
app.add_typer(demo_app, name="demo")
app.add_typer(segments_app, name="segments")
app.add_typer(sync_app, name="sync")
app.add_typer(identity_app, name="identity")
app.add_typer(decide_app, name="decide")
app.add_typer(experiments_app, name="experiments")
app.add_typer(predict_app, name="predict")
app.add_typer(ml_app, name="ml")

console = Console()



@app.command("compile")
def compile_cmd(
    parse: Annotated[bool, typer.Option("--parse/--no-parse", help="Also parse dbt into a manifest.")] = False,
) -> None:
    """Validate config/ and compile segments and offers into dbt models and seeds."""
    from tessera.compile import compile_all
    from tessera.config import ConfigError

    try:
        result = compile_all()
    except ConfigError as exc:
        _fail(str(exc))
    console.print(
        f"compiled {len(result.segments)} segments and {len(result.offers)} offers "
        f"(rules {result.rules_version}): {len(result.written)} files written, "
        f"{len(result.unchanged)} unchanged, {len(result.removed)} removed"
    )
    if parse:
        from dagster_project.transform.project import prepare_project

        prepare_project()
        console.print("dbt manifest ready")


@app.command("run")
def run_cmd(
    job: Annotated[str, typer.Option(help="tessera_full_graph or tessera_ingest_and_activate")] = "tessera_full_graph",
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Run the graph as of this time (ISO date or timestamp, e.g. 2026-11-20T14:00:00Z)."),
    ] = None,
) -> None:
    """Materialize the graph on your configured sources (config/sources.yml), then print a summary."""
    if as_of is not None:
        os.environ["TESSERA_AS_OF"] = _parse_as_of(as_of)
    result = _run_graph(job)
    if not result.success:
        raise typer.Exit(1)


def _parse_as_of(value: str) -> str:
    """--as-of as a UTC ISO timestamp (a date is its midnight UTC; no zone means UTC)."""
    from datetime import UTC, datetime

    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        _fail(f"--as-of: expected an ISO date or timestamp like 2026-11-20T14:00:00Z, got {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _run_graph(job: str):
    from tessera.config import ConfigError
    from tessera.runner import run_graph
    from tessera.summary import collect_summary, render_summary, where_next

    try:
        result = run_graph(job)
    except ConfigError as exc:
        _fail(str(exc))
    render_summary(collect_summary(), console)
    console.print(
        f"\nDagster run {result.run_id}: {'[green]success' if result.success else '[red]failed'}[/] "
        f"in {result.wall_seconds:.1f} s"
    )
    for line in result.errors:
        err.print(f"[red]  {line}")
    where_next(console)
    return result


@app.command("summary")
def summary_cmd(as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False) -> None:
    """Print the summary of the last run from the warehouse."""
    from tessera.summary import collect_summary, render_summary

    if not paths.warehouse_path().exists():
        _fail(f"no warehouse at {paths.warehouse_path()}; run `make demo` or `tessera run` first")
    summary = collect_summary()
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        render_summary(summary, console)


@demo_app.command("generate")
def demo_generate(
    customers: Annotated[int, typer.Option(min=1, help="Number of true persons.")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same data.")] = 42,
    out: Annotated[Path | None, typer.Option(help="Output folder (default: $TESSERA_DEMO_DIR).")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Anchor date YYYY-MM-DD (default: today).")] = None,
) -> None:
    """Generate the demo company's messy multi-source data and its ground truth."""
    from tessera.demo.generator import generate

    anchor = None
    if as_of:
        try:
            anchor = date.fromisoformat(as_of)
        except ValueError:
            _fail(f"--as-of: expected a date like 2026-11-20, got {as_of!r}")
    target = out or paths.demo_dir()
    manifest = generate(customers=customers, seed=seed, out=target, as_of=anchor)
    counts = manifest.get("counts") or manifest.get("row_counts") or {}
    console.print(f"demo data for {customers:,} customers (seed {seed}) written to {target}")
    for name, n in sorted(counts.items()):
        console.print(f"  {name}: {n:,}" if isinstance(n, int) else f"  {name}: {n}")


@demo_app.command("run")
def demo_run(
    customers: Annotated[int, typer.Option(min=1, help="Number of true persons.")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    regenerate: Annotated[bool, typer.Option(help="Regenerate the data even if it exists.")] = False,
) -> None:
    """Generate the demo data (if needed), start the demo's local services, run the whole graph."""
    from tessera.demo.services import demo_services, ensure_demo_data

    manifest = ensure_demo_data(customers=customers, seed=seed, regenerate=regenerate, console=console)
    os.environ.setdefault("TESSERA_AS_OF", str(manifest["as_of_timestamp"]))
    console.print(f"as-of time of this run: {os.environ['TESSERA_AS_OF']}")
    with ExitStack() as stack:
        stack.enter_context(demo_services(console=console))
        result = _run_graph("tessera_full_graph")
    if not result.success:
        raise typer.Exit(1)


@segments_app.command("list")
def segments_list() -> None:
    """List the segments with their current sizes."""
    import duckdb

    from tessera.config import load_segments

    sizes: dict[str, int] = {}
    if paths.warehouse_path().exists():
        con = duckdb.connect(str(paths.warehouse_path()), read_only=True)
        try:
            sizes = dict(con.execute("select segment, count(*) from segments.segment_memberships group by 1").fetchall())
        except duckdb.Error:
            sizes = {}
        finally:
            con.close()
    for seg in load_segments():
        console.print(f"{seg.name:28} {sizes.get(seg.name, '-'):>8}  {seg.description}")


def main() -> None:  # pragma: no cover
    app(prog_name="tessera")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
