"""``tessera identity resolve|evaluate``: the resolver on any CSV or Parquet file.

    tessera identity resolve --config identity.yml --input records.csv --output clusters.csv
    tessera identity evaluate --truth truth.csv --clusters clusters.csv
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import typer

from tessera.config.errors import ConfigError

identity_app = typer.Typer(help="Identity resolution on files: resolve records into profiles, evaluate against a truth.",
                           no_args_is_help=True)


def read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix in (".csv", ".txt", ".gz"):
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    raise typer.BadParameter(f"{path}: expected a .csv or .parquet file")


def write_table(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".parquet", ".pq"):
        df.to_parquet(path, index=False)
    elif path.suffix.lower() == ".csv":
        df.to_csv(path, index=False)
    else:
        raise typer.BadParameter(f"{path}: expected a .csv or .parquet file")


def map_columns(df: pd.DataFrame, columns: dict[str, str], where: str) -> pd.DataFrame:
    """Rename input columns to roles; unmapped columns are dropped. Unknown input columns are errors."""
    if not columns:
        from tessera.identity.config import ROLES

        columns = {c: c for c in df.columns if c in ROLES}
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ConfigError(f"{where}: columns.{missing[0]}: the input has no column {missing[0]!r} "
                          f"(it has {', '.join(map(str, df.columns))})")
    if "record_id" not in columns.values():
        raise ConfigError(f"{where}: columns: no input column is mapped to record_id")
    return df[list(columns)].rename(columns=columns)


@identity_app.command("resolve")
def resolve_cmd(
    config: Path = typer.Option(..., "--config", help="identity.yml: column roles and settings"),
    input: Path = typer.Option(..., "--input", help="records, .csv or .parquet"),
    output: Path = typer.Option(..., "--output", help="clusters, .csv or .parquet: record_id,profile_id"),
    previous: Path | None = typer.Option(None, "--previous", help="last run's clusters, to keep profile ids stable"),
    stats: Path | None = typer.Option(None, "--stats", help="write the run's statistics as JSON here"),
) -> None:
    """Resolve records into profiles: one output row per input record."""
    from tessera.identity.config import load_config
    from tessera.identity.engine import resolve

    try:
        cfg = load_config(config)
        df = read_table(input)
        records = map_columns(df, cfg.columns, str(config))
        prev = None
        if previous is not None:
            prev = read_table(previous).iloc[:, :2]
            prev.columns = ["record_id", "profile_id"]
        result = resolve(records, cfg, prev)
    except (ConfigError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    write_table(result.assignments[["record_id", "profile_id"]], output)
    s = result.stats
    typer.echo(
        f"{s['records_in']} records -> {s['profiles_out']} profiles "
        f"({s['deterministic_links']} deterministic links, {s['probabilistic_links']} probabilistic links"
        + (f" at match probability >= {s['threshold']:.3f}" if s.get("threshold") else "")
        + f", {s['hub_values_quarantined']} hub values quarantined) in {s['timings_s']['total']:.1f} s -> {output}"
    )
    if s["clusters_over_size_limit"]:
        typer.echo(f"warning: {len(s['clusters_over_size_limit'])} profiles hold more than the size limit: "
                   + ", ".join(f"{c['profile_id']} ({c['records']})" for c in s["clusters_over_size_limit"][:5]))
    if stats is not None:
        stats.write_text(json.dumps(s, indent=2, default=str))


@identity_app.command("evaluate")
def evaluate_cmd(
    truth: Path = typer.Option(..., "--truth", help="record_id,person_id (.csv or .parquet)"),
    clusters: Path = typer.Option(..., "--clusters", help="record_id,profile_id (.csv or .parquet)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Print pairwise and B-cubed precision, recall and F1 of clusters against a truth."""
    from tessera.identity.evaluate import evaluate_clusters, format_scores

    try:
        scores = evaluate_clusters(read_table(truth), read_table(clusters))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(scores.as_dict(), indent=2) if as_json else format_scores(scores))


if __name__ == "__main__":
    identity_app()
