"""Identity resolution: from source records and their identifiers to stable profiles."""

from tessera.identity.config import ResolverConfig, load_config, parse_config
from tessera.identity.deterministic import (
    IdentityConfig,
    ResolutionResult,
    load_identity_config,
    resolve_components,
)
from tessera.identity.engine import Resolution, resolve
from tessera.identity.evaluate import evaluate_clusters
from tessera.identity.warehouse import run_identity_resolution

__all__ = [
    "IdentityConfig",
    "Resolution",
    "ResolutionResult",
    "ResolverConfig",
    "evaluate_clusters",
    "load_config",
    "load_identity_config",
    "parse_config",
    "resolve",
    "resolve_components",
    "run_identity_resolution",
]
