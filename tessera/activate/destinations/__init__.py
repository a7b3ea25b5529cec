"""Sync destinations and the factory that builds one from ``config/destinations.yml``."""

from __future__ import annotations

import os
from pathlib import Path

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


def build_destination(config: cfg.AnyDestination, *, rate_limit: float | None = None) -> Destination:
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
    if isinstance(config, cfg.AudienceFileDestination):
        from tessera.activate.destinations.audience import AudienceFileDestination

        return AudienceFileDestination(
            config.name,
            config.resolved_path(),
            email_field=config.email_field,
            phone_field=config.phone_field,
            default_country_code=config.default_country_code,
        )
    if isinstance(config, cfg.SmtpDestination):
        host = config.host()
        if not host:
            raise DestinationNotConfigured(
                f"destination {config.name!r}: environment variable {config.host_env} (SMTP host) is not set"
            )
        from tessera import paths
        from tessera.activate.destinations.smtp import SmtpDestination

        body = config.body
        if config.template_file:
            template = Path(config.template_file).expanduser()
            if not template.is_absolute():
                template = paths.config_dir() / template
            body = template.read_text(encoding="utf-8")
        return SmtpDestination(
            config.name,
            host,
            config.port(),
            from_address=config.from_address,
            to_field=config.to_field,
            subject=config.subject,
            body=body,
            ledger=config.resolved_ledger(),
            username=os.environ.get(config.username_env) if config.username_env else None,
            password=os.environ.get(config.password_env) if config.password_env else None,
            starttls=config.starttls,
            timeout=config.timeout,
        )
    if isinstance(config, cfg.PostgresDestination):
        dsn = config.dsn()
        if not dsn:
            raise DestinationNotConfigured(
                f"destination {config.name!r}: environment variable {config.dsn_env} (PostgreSQL DSN) is not set"
            )
        from tessera.activate.destinations.postgres import PostgresDestination

        return PostgresDestination(
            config.name,
            dsn,
            config.table,
            config.key_column,
            create_table=config.create_table,
            connect_timeout=config.connect_timeout,
        )
    if isinstance(config, cfg.RedisDestination):
        url = config.url()
        if not url:
            raise DestinationNotConfigured(
                f"destination {config.name!r}: environment variable {config.url_env} (Redis URL) is not set"
            )
        from tessera.activate.destinations.redis_store import RedisDestination

        return RedisDestination(config.name, url, key_prefix=config.key_prefix, ttl_seconds=config.ttl_seconds)
    raise TypeError(f"unknown destination config {config!r}")
