"""Identity resolution: from source records and their identifiers to stable profiles."""

from tessera.identity.deterministic import (
    IdentityConfig,
    ResolutionResult,
    load_identity_config,
    resolve_components,
)
from tessera.identity.warehouse import run_identity_resolution

__all__ = [
    "IdentityConfig",
    "ResolutionResult",
    "load_identity_config",
    "resolve_components",
    "run_identity_resolution",
]
