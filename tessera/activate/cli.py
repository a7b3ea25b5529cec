"""`tessera sync ...`: list, run and inspect reverse-ETL syncs. See docs/syncs.md."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

sync_app = typer.Typer(help="Reverse-ETL syncs (config/syncs/*.yml).", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/bold red] {message}")
    raise typer.Exit(code)


@sync_app.command("list")
def sync_list() -> None:
    """List the configured syncs."""
    from tessera.activate import load_syncs

    for cfg in load_syncs():
        console.print(
            f"{cfg.name:24} {cfg.model:40} -> {cfg.destination:16} mode={cfg.mode} "
            f"{'enabled' if cfg.enabled else 'disabled'}"
        )


@sync_app.command("run")
def sync_run(
    name: str,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be sent; send nothing.")] = False,
    full_resync: Annotated[bool, typer.Option("--full-resync", help="Resend every row.")] = False,
) -> None:
    """Run one sync now: send only the rows that changed since the last acknowledged state."""
    from tessera.activate import run_sync

    try:
        result = run_sync(name, dry_run=dry_run, full_resync=full_resync)
    except (KeyError, ValueError, FileNotFoundError, RuntimeError) as exc:
        _fail(str(exc))
    print(json.dumps(result.to_dict() if hasattr(result, "to_dict") else result.__dict__, indent=2, default=str))


@sync_app.command("status")
def sync_status_cmd(name: str) -> None:
    """Show the last runs and the acknowledged state of one sync."""
    from tessera.activate import sync_status

    try:
        print(json.dumps(sync_status(name), indent=2, default=str))
    except (KeyError, ValueError, RuntimeError) as exc:
        _fail(str(exc))
