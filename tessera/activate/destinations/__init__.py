"""Sync destinations and the factory that builds one from ``config/destinations.yml``."""

from __future__ import annotations

from tessera.activate import config as cfg
from tessera.activate.destinations.base import (
    BatchResult,
    Destination,
    DestinationNotConfigured,
    RowOp,
    TokenBucket,
)
from tessera.activate.destinations.file_outbox import FileOutboxDestination
from tessera.activate.destinations.webhook import WebhookDestination

__all__ = [
    "BatchResult",
    "Destination",
    "DestinationNotConfigured",
    "FileOutboxDestination",
    "RowOp",
    "TokenBucket",
    "WebhookDestination",
    "build_destination",
]


def build_destination(
    config: cfg.FileOutboxDestination | cfg.WebhookDestination, *, rate_limit: float | None = None
) -> Destination:
    """Instantiate a destination, reading its URL/secret from the environment now.

    Raises ``DestinationNotConfigured`` when a required environment variable is unset.
    """
    if isinstance(config, cfg.FileOutboxDestination):
        return FileOutboxDestination(config.name, config.resolved_path(), config.format)
    if isinstance(config, cfg.WebhookDestination):
        url = config.url()
        if not url:
            raise DestinationNotConfigured(
                f"destination {config.name!r}: environment variable {config.url_env} is not set"
            )
        if config.require_signature and not config.secret():
            raise DestinationNotConfigured(
                f"destination {config.name!r}: require_signature is set but environment variable "
                f"{config.secret_env} (signing secret) is not set"
            )
        return WebhookDestination(
            config.name,
            url,
            secret=config.secret(),
            timeout=config.timeout,
            max_retries=config.max_retries,
            backoff_initial=config.backoff_initial,
            backoff_max=config.backoff_max,
            max_retry_after=config.max_retry_after,
            rate_limit=rate_limit,
        )
    raise TypeError(f"unknown destination config {config!r}")
