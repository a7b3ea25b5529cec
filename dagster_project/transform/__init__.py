"""dbt models as assets (assets.py), the dbt project and its preparation (project.py).

Nothing is imported here: preparing the dbt manifest (project.py) must work before the assets,
which read that manifest, can be defined.
"""
