"""Dagster assets for Stage 6: one asset per enabled sync in ``config/syncs/``.

Asset key ``["activation", "sync_run__<sync name>"]``, group ``activation``, kinds
``{"reverse_etl", <destination type>}``, depending on the dbt model's key ``[<schema>, <model>]``.
Built at import from YAML only: no warehouse access and no credentials are read until a run.
"""

from pathlib import Path

import dagster as dg
from dagster import AssetExecutionContext

from tessera.activate import SyncConfig, load_destinations, load_syncs, run_sync

GROUP = "activation"


def sync_asset_key(sync_name: str) -> dg.AssetKey:
    return dg.AssetKey(["activation", f"sync_run__{sync_name}"])


def model_asset_key(sync: SyncConfig) -> dg.AssetKey:
    return dg.AssetKey([sync.model_schema, sync.model_table])


def _build_one(sync: SyncConfig, destination_type: str, config_dir: Path | None) -> dg.AssetsDefinition:
    description = (sync.description or f"Reverse-ETL sync {sync.name}.").strip() + (
        f"\n\nSends `{sync.model}` to destination `{sync.destination}` ({destination_type}) in "
        f"`{sync.mode}` mode; only rows added or changed since the last acknowledged state are sent."
    )

    @dg.asset(
        key=sync_asset_key(sync.name),
        group_name=GROUP,
        kinds={"reverse_etl", destination_type},
        deps=[model_asset_key(sync)],
        description=description,
        metadata={
            "sync": sync.name,
            "model": sync.model,
            "destination": sync.destination,
            "destination_type": destination_type,
            "mode": sync.mode,
            "primary_key": ", ".join(sync.primary_key),
            "schedule": sync.schedule or "",
            "consent": f"{sync.consent.channel}/{sync.consent.purpose}" if sync.consent else "none",
        },
        tags={"tessera/stage": "activation"},
        required_resource_keys={"warehouse"},
    )
    def _sync_asset(context: AssetExecutionContext) -> dg.MaterializeResult:
        # The shared WarehouseResource (dagster_project.resources); empty path = tessera.paths default.
        warehouse_path = getattr(context.resources.warehouse, "path", "") or None
        result = run_sync(sync, warehouse_path, config_dir=config_dir)
        context.log.info(
            f"sync {sync.name}: status={result.status} planned={result.rows_planned} sent={result.rows_sent} "
            f"acked={result.rows_acked} rejected={result.rows_rejected} "
            f"skipped_consent={result.rows_skipped_consent} error={result.error}"
        )
        if result.status in ("partial", "interrupted"):
            context.log.warning(f"sync {sync.name} partially delivered: {result.error}")
        return dg.MaterializeResult(
            metadata={
                "status": result.status,
                "run_id": result.run_id,
                "destination": f"{sync.destination} ({destination_type})",
                "rows_planned": result.rows_planned,
                "rows_added": result.rows_added,
                "rows_changed": result.rows_changed,
                "rows_deleted": result.rows_deleted,
                "rows_sent": result.rows_sent,
                "rows_acked": result.rows_acked,
                "rows_rejected": result.rows_rejected,
                "rows_skipped_consent": result.rows_skipped_consent,
                "rows_unacked": result.rows_unacked,
                "rows_dead_lettered": result.rows_dead_lettered,
                "rows_held_dead_letter": result.rows_held_dead_letter,
                "rows_blocked_at_send": result.rows_blocked_at_send,
                "retries": result.retries,
                "batches": result.batches,
                "diff_s": dg.FloatMetadataValue(result.diff_s),
                "duration_s": dg.FloatMetadataValue(result.duration_s),
                "error": result.error or "",
            }
        )

    return _sync_asset


def build_sync_assets(config_dir: str | Path | None = None) -> list[dg.AssetsDefinition]:
    """One asset per enabled sync under ``config_dir`` (default ``tessera.paths.config_dir()``).

    Each asset needs the ``warehouse`` resource (``WarehouseResource``: its ``path``, or the default
    ``tessera.paths.warehouse_path()`` when empty).

    Reads YAML only. A run raises (failing the asset) when the sync cannot run at all (missing
    model, consent table or configuration); partial deliveries materialize with a warning and
    ``status: partial`` in the metadata; a sync whose destination is not configured in the
    environment (e.g. webhook URL unset) materializes with ``status: skipped``.
    """
    root = Path(config_dir) if config_dir is not None else None
    destinations = load_destinations(root)
    return [
        _build_one(sync, destinations[sync.destination].type, root)
        for sync in load_syncs(root)
        if sync.enabled
    ]
