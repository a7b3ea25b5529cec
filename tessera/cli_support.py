"""What every `tessera` sub-command shares: how a command fails."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

err = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line error (no traceback) and exit with ``code``."""
    err.print(f"[bold red]error:[/bold red] {message}")
    raise typer.Exit(code)
