from dagster_project.transform.assets import transform_assets

__all__ = ["transform_assets"]
