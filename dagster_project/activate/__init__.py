"""Stage 6 assets: reverse-ETL syncs built from ``config/syncs/*.yml``."""

from dagster_project.activate.assets import build_sync_assets, sync_asset_key

activation_assets = build_sync_assets()

__all__ = ["activation_assets", "build_sync_assets", "sync_asset_key"]
