"""Reads config/sources.yml (``$TESSERA_CONFIG_DIR/sources.yml``, falling back to the project's copy)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from tessera import paths

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _defaults() -> dict[str, str]:
    return {"TESSERA_DEMO_DIR": str(paths.demo_dir()), "TESSERA_DATA_DIR": str(paths.data_dir())}


def expand(value: Any) -> Any:
    """Replace ${NAME} / ${NAME:-default} from the environment, recursively."""
    if isinstance(value, str):
        defaults = _defaults()

        def sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            env = os.environ.get(name)
            if env:
                return env
            if default is not None:
                return default
            return defaults.get(name, "")

        return _VAR.sub(sub, value)
    if isinstance(value, dict):
        return {k: expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v) for v in value]
    return value


def config_file() -> Path:
    candidate = paths.config_dir() / "sources.yml"
    return candidate if candidate.exists() else paths.PROJECT_ROOT / "config" / "sources.yml"


def load_sources_config() -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(config_file().read_text(encoding="utf-8")) or {}
    return expand(data.get("sources", {}))


def source_config(name: str) -> dict[str, Any]:
    sources = load_sources_config()
    if name not in sources:
        raise KeyError(f"source {name!r} is not configured in {config_file()}")
    return sources[name]


def resolve_path(value: str | None) -> Path:
    """A configured path; relative paths are relative to the demo dir."""
    if not value:
        raise ValueError("source path is not configured")
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = paths.demo_dir() / path
    return path
