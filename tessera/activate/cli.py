"""`tessera sync ...`: list, run and inspect reverse-ETL syncs. See docs/syncs.md.

Exit codes of ``tessera sync run``: 0 success / skipped / dry run, 1 failed (configuration or
warehouse problem), 3 partial (rows rejected, dead-lettered or left unacknowledged: they are
retried next run), 143 interrupted by SIGTERM/SIGINT (acknowledged batches are committed).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tessera.cli_support import fail as _fail

sync_app = typer.Typer(help="Reverse-ETL syncs (config/syncs/*.yml).", no_args_is_help=True)
console = Console(width=None if sys.stdout.isatty() else 200)

EXIT_CODES = {"success": 0, "skipped": 0, "dry_run": 0, "partial": 3, "interrupted": 143, "failed": 1}



def _dump(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


@sync_app.command("list")
def sync_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the configured syncs with their last run."""
    from tessera.activate import sync_list as list_syncs

    rows = list_syncs()
    if as_json:
        _dump(rows)
        return
    table = Table("sync", "model", "destination", "mode", "schedule", "enabled", "last run", "acked")
    for row in rows:
        table.add_row(
            row["name"],
            row["model"],
            row["destination"],
            row["mode"],
            row["schedule"] or "",
            "yes" if row["enabled"] else "no",
            str(row["last_status"] or "-"),
            str(row["last_rows_acked"] if row["last_rows_acked"] is not None else "-"),
        )
    console.print(table)


def _print_dry_run(result: Any) -> None:
    console.print(
        f"[bold]{result.sync_name}[/bold] (dry run, mode {result.mode}, destination {result.destination}): "
        f"{result.rows_added} to add, {result.rows_changed} to change, {result.rows_deleted} to delete; "
        f"{result.rows_skipped_consent} without consent, {result.rows_held_dead_letter} held in the dead letters, "
        f"{result.rows_invalid} with a NULL or duplicate key. Diff took {result.diff_s:.3f}s."
    )
    for change, label in (
        ("added", "would add"),
        ("changed", "would change"),
        ("deleted", "would delete"),
        ("skipped_consent", "skipped (no consent / suppressed)"),
        ("dead_lettered", "held in dead letters"),
    ):
        samples = result.samples.get(change) or []
        if not samples:
            continue
        console.print(f"\n[bold]{label}[/bold] (first {len(samples)}):")
        for sample in samples:
            fields = sample.get("fields") or sample.get("previous") or {}
            text = json.dumps(fields, default=str, ensure_ascii=False)
            console.print(f"  {sample.get('op', ''):7} {sample['key']}  {text[:160]}", markup=False, highlight=False)


@sync_app.command("run")
def sync_run(
    name: str,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be sent; send nothing.")] = False,
    full_resync: Annotated[bool, typer.Option("--full-resync", help="Resend every row.")] = False,
    samples: Annotated[int, typer.Option("--samples", help="Sample rows per change type (dry run).")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
) -> None:
    """Run one sync now: send only the rows that changed since the last acknowledged state."""
    from tessera.activate import run_sync
    from tessera.activate.engine import stop_on_signals

    try:
        with stop_on_signals():
            result = run_sync(name, dry_run=dry_run, full_resync=full_resync, sample_size=samples)
    except (KeyError, ValueError, FileNotFoundError, RuntimeError) as exc:
        _fail(str(exc))
    if as_json:
        _dump(result.to_dict())
    elif dry_run:
        _print_dry_run(result)
    else:
        console.print(
            f"{result.sync_name}: [bold]{result.status}[/bold] run {result.run_id} - planned {result.rows_planned} "
            f"(+{result.rows_added} ~{result.rows_changed} -{result.rows_deleted}), sent {result.rows_sent}, "
            f"acked {result.rows_acked}, rejected {result.rows_rejected}, dead-lettered {result.rows_dead_lettered}, "
            f"skipped for consent {result.rows_skipped_consent}, retries {result.retries}, "
            f"{result.batches} batches in {result.duration_s:.2f}s"
            + (f"\n  {result.error}" if result.error else ""),
            highlight=False,
        )
    raise typer.Exit(EXIT_CODES.get(result.status, 1))


@sync_app.command("status")
def sync_status_cmd(name: str) -> None:
    """Show the last runs, the acknowledged state and the dead letters of one sync (JSON)."""
    from tessera.activate import sync_status

    try:
        _dump(sync_status(name))
    except (KeyError, ValueError, RuntimeError) as exc:
        _fail(str(exc))


@sync_app.command("dead-letters")
def dead_letters_cmd(
    name: str,
    include_replayed: Annotated[bool, typer.Option("--all", help="Include rows already replayed.")] = False,
) -> None:
    """List rows the destination refused too many times (JSON)."""
    from tessera.activate import dead_letters

    try:
        _dump(dead_letters(name, include_replayed=include_replayed))
    except (KeyError, ValueError, RuntimeError) as exc:
        _fail(str(exc))


@sync_app.command("replay")
def replay_cmd(
    name: str,
    keys: Annotated[list[str] | None, typer.Option("--key", help="Replay only this record key (repeatable).")] = None,
) -> None:
    """Release dead-lettered rows so the next run sends them again."""
    from tessera.activate import replay_dead_letters

    try:
        n = replay_dead_letters(name, keys or None)
    except (KeyError, ValueError, RuntimeError) as exc:
        _fail(str(exc))
    console.print(f"{n} dead-lettered row(s) of {name} released; run `tessera sync run {name}` to send them")


@sync_app.command("suppress")
def suppress_cmd(
    kind: Annotated[str, typer.Argument(help="profile | email | phone")],
    value: str,
    channel: Annotated[str, typer.Option(help="email|sms|push|web, or * for every channel")] = "*",
    reason: Annotated[str | None, typer.Option(help="Why (kept with the entry).")] = None,
) -> None:
    """Add a profile, email address or phone number to the suppression list (checked at send time)."""
    from tessera.activate import add_suppression

    try:
        add_suppression(kind, value, channel=channel, reason=reason)
    except (KeyError, ValueError, RuntimeError) as exc:
        _fail(str(exc))
    console.print(f"suppressed {kind} {value} on channel {channel}")
