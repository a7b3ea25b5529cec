"""Stage 6, activation: the reverse-ETL sync engine and its destinations.

Public API (the ``tessera sync`` CLI is a thin wrapper over these):

- ``load_syncs(config_dir=None) -> list[SyncConfig]``
- ``run_sync(name_or_config, warehouse_path=None, dry_run=False, full_resync=False, *, config_dir=None,
  destination=None, sample_size=10) -> SyncRunResult``
- ``sync_status(name, warehouse_path=None, *, config_dir=None) -> dict``
- ``sync_list(config_dir=None, warehouse_path=None) -> list[dict]``
- ``reset_sync_state(name, warehouse_path=None) -> int``
- ``dead_letters(name, ...)``, ``replay_dead_letters(name, keys=None, ...)``, ``add_suppression(kind, value, ...)``
"""

from tessera.activate.config import (
    ConsentConfig,
    SyncConfig,
    SyncConfigError,
    get_sync,
    load_destinations,
    load_syncs,
)
from tessera.activate.engine import (
    SyncError,
    SyncRunResult,
    SyncSourceMissing,
    add_suppression,
    dead_letters,
    replay_dead_letters,
    reset_sync_state,
    run_sync,
    stop_on_signals,
    sync_list,
    sync_status,
)

__all__ = [
    "ConsentConfig",
    "SyncConfig",
    "SyncConfigError",
    "SyncError",
    "SyncRunResult",
    "SyncSourceMissing",
    "add_suppression",
    "dead_letters",
    "get_sync",
    "load_destinations",
    "load_syncs",
    "replay_dead_letters",
    "reset_sync_state",
    "run_sync",
    "stop_on_signals",
    "sync_list",
    "sync_status",
]
