from dagster_project.decide.assets import decide_assets

__all__ = ["decide_assets"]
