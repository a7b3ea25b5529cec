"""Sync and destination configuration: ``config/syncs/<name>.yml`` and ``config/destinations.yml``.

Everything here is plain YAML validated with pydantic. Loading never touches the warehouse or
the network and never reads credentials: destinations name the environment variables that hold
their URL and secrets, and those are read only when a sync actually runs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tessera import paths

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
SyncMode = Literal["insert", "update", "upsert", "mirror"]


class SyncConfigError(ValueError):
    """A sync or destination configuration file is missing or invalid."""


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileOutboxDestination(_Base):
    """Writes one file per run and batch under ``outbox_dir()/<path>``."""

    name: str
    type: Literal["file_outbox"] = "file_outbox"
    path: str = Field(
        description="Folder, relative to tessera.paths.outbox_dir() unless absolute, e.g. 'email'."
    )
    format: Literal["jsonl", "csv"] = "jsonl"
    description: str | None = None

    def resolved_path(self) -> Path:
        """Resolved at call time so TESSERA_DATA_DIR set after import is honoured."""
        path = Path(self.path).expanduser()
        return path if path.is_absolute() else paths.outbox_dir() / path


class WebhookDestination(_Base):
    """POSTs each batch as JSON to a URL read from the environment."""

    name: str
    type: Literal["webhook"] = "webhook"
    url_env: str = Field(description="Environment variable holding the endpoint URL.")
    secret_env: str | None = Field(
        default=None, description="Environment variable holding the HMAC-SHA256 signing secret (optional)."
    )
    require_signature: bool = Field(
        default=False,
        description="Skip the sync instead of sending unsigned requests when the secret is unset.",
    )
    timeout: float = Field(default=10.0, gt=0)
    max_retries: int = Field(default=5, ge=0, le=20)
    backoff_initial: float = Field(
        default=0.5, ge=0, description="First retry wait in seconds (exponential)."
    )
    backoff_max: float = Field(default=30.0, ge=0)
    max_retry_after: float = Field(
        default=60.0, ge=0, description="Upper bound on a server's Retry-After, in seconds."
    )
    description: str | None = None

    @model_validator(mode="after")
    def _signature(self) -> WebhookDestination:
        if self.require_signature and not self.secret_env:
            raise ValueError("require_signature needs secret_env")
        return self

    def url(self) -> str | None:
        return os.environ.get(self.url_env) or None

    def secret(self) -> str | None:
        return (os.environ.get(self.secret_env) or None) if self.secret_env else None


class SmtpDestination(_Base):
    """One email per row over SMTP, rendered from Jinja templates; a ledger prevents a second send."""

    name: str
    type: Literal["smtp"] = "smtp"
    host_env: str = Field(default="TESSERA_SMTP_HOST", description="Env var with the SMTP host; unset -> skipped.")
    port_env: str = Field(default="TESSERA_SMTP_PORT", description="Env var with the port (default 25).")
    username_env: str | None = None
    password_env: str | None = None
    starttls: bool = False
    timeout: float = Field(default=10.0, gt=0)
    from_address: str = "Tessera <no-reply@tessera.local>"
    to_field: str = Field(default="email", description="Row field holding the recipient address.")
    subject: str = Field(default="{{ subject }}", description="Jinja template of the subject line.")
    body: str | None = Field(default=None, description="Jinja template of the plain-text body.")
    template_file: str | None = Field(
        default=None, description="Jinja template file for the body (relative to the config dir)."
    )
    ledger: str | None = Field(
        default=None, description="SQLite ledger of sent messages (default $TESSERA_DATA_DIR/smtp/<name>.sqlite)."
    )
    description: str | None = None

    def host(self) -> str | None:
        return os.environ.get(self.host_env) or None

    def port(self) -> int:
        return int(os.environ.get(self.port_env) or 25)

    def resolved_ledger(self) -> Path:
        if self.ledger:
            path = Path(self.ledger).expanduser()
            return path if path.is_absolute() else paths.data_dir() / path
        return paths.data_dir() / "smtp" / f"{self.name}.sqlite"


class PostgresDestination(_Base):
    """Upserts and deletes rows of one PostgreSQL table (a CRM or call-centre table)."""

    name: str
    type: Literal["postgres"] = "postgres"
    dsn_env: str = Field(default="TESSERA_PG_DSN", description="Env var with a libpq DSN/URL; unset -> skipped.")
    table: str = Field(description="[schema.]table")
    key_column: str = Field(description="Column holding the record key (primary key or unique).")
    create_table: bool = Field(
        default=False, description="Create the table (key text primary key, one column per field) if missing."
    )
    connect_timeout: int = Field(default=10, ge=1)
    description: str | None = None

    def dsn(self) -> str | None:
        return os.environ.get(self.dsn_env) or None


class RedisDestination(_Base):
    """One Redis hash per record (customer): ``<key_prefix><record key>``, read by the website."""

    name: str
    type: Literal["redis"] = "redis"
    url_env: str = Field(default="TESSERA_REDIS_URL", description="Env var with redis://host:port/db; unset -> skipped.")
    key_prefix: str = "tessera:"
    ttl_seconds: int | None = Field(default=None, ge=1)
    description: str | None = None

    def url(self) -> str | None:
        return os.environ.get(self.url_env) or None


class AudienceFileDestination(_Base):
    """Hashed ad-audience files (Google Customer Match / Meta style): added and removed members."""

    name: str
    type: Literal["audience_file"] = "audience_file"
    path: str = Field(description="Folder, relative to tessera.paths.outbox_dir() unless absolute.")
    email_field: str | None = "email"
    phone_field: str | None = "phone"
    default_country_code: str = Field(default="1", description="Calling code for numbers without one (E.164).")
    description: str | None = None

    def resolved_path(self) -> Path:
        path = Path(self.path).expanduser()
        return path if path.is_absolute() else paths.outbox_dir() / path


AnyDestination = (
    FileOutboxDestination
    | WebhookDestination
    | SmtpDestination
    | PostgresDestination
    | RedisDestination
    | AudienceFileDestination
)
DestinationConfig = Annotated[AnyDestination, Field(discriminator="type")]


class ConsentConfig(_Base):
    channel: Literal["email", "sms", "push", "web"]
    purpose: Literal["marketing", "personalization"]
    profile_column: str = Field(default="profile_id", description="Model column holding the profile id.")


class SyncConfig(_Base):
    name: str
    description: str | None = None
    model: str = Field(description="Warehouse table or view, e.g. activation.sync_email__decisions.")
    primary_key: list[str]
    destination: str
    mode: SyncMode = "upsert"
    mapping: dict[str, str] | None = Field(
        default=None, description="destination field -> model column; default: every column, same name."
    )
    batch_size: int = Field(default=500, ge=1, le=100_000)
    concurrency: int = Field(
        default=1,
        ge=1,
        le=32,
        description="Batches in flight at once, for destinations that allow it (webhook); each batch is "
        "still recorded in flight before it is sent and committed as soon as it is acknowledged. "
        "1 sends batches one after the other, in plan order.",
    )
    rate_limit: float | None = Field(
        default=None, gt=0, description="Requests per second to the destination."
    )
    schedule: str | None = None
    consent: ConsentConfig | None = None
    max_attempts: int = Field(
        default=3, ge=1, le=100, description="Rejections of the same row before it is dead-lettered."
    )
    retry_budget: int | None = Field(
        default=100, ge=0, description="Retries (429/5xx/timeouts) allowed per run, over all batches."
    )
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError(f"sync name {value!r} must match {NAME_RE.pattern}")
        return value

    @field_validator("primary_key", mode="before")
    @classmethod
    def _pk(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if not value:
            raise ValueError("primary_key must name at least one column")
        return value

    @field_validator("mapping", mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        if isinstance(value, list):  # shorthand: a list of columns sent under their own names
            value = {str(col): str(col) for col in value}
        if value is not None and not value:
            raise ValueError("mapping must not be empty (omit it to send every column)")
        return value

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        parts = value.split(".")
        if not 1 <= len(parts) <= 3 or not all(parts):
            raise ValueError(f"model {value!r} must be [database.]schema.table")
        return value

    @model_validator(mode="after")
    def _schedule(self) -> SyncConfig:
        if self.schedule is not None and len(self.schedule.split()) != 5:
            raise ValueError(f"schedule {self.schedule!r} must be a 5-field cron string")
        return self

    @property
    def model_schema(self) -> str:
        parts = self.model.split(".")
        return parts[-2] if len(parts) >= 2 else "main"

    @property
    def model_table(self) -> str:
        return self.model.split(".")[-1]


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SyncConfigError(f"{path}: cannot read YAML: {exc}") from exc


def _syncs_dir(config_dir: Path) -> Path:
    """Accept the config root (holding syncs/) or the syncs folder itself."""
    return config_dir / "syncs" if (config_dir / "syncs").is_dir() else config_dir


def _destinations_file(config_dir: Path) -> Path:
    for candidate in (config_dir / "destinations.yml", config_dir.parent / "destinations.yml"):
        if candidate.is_file():
            return candidate
    return config_dir / "destinations.yml"


def load_destinations(
    config_dir: str | Path | None = None,
) -> dict[str, AnyDestination]:
    """Named destinations from ``<config_dir>/destinations.yml`` (empty when the file is absent)."""
    root = Path(config_dir) if config_dir is not None else paths.config_dir()
    path = _destinations_file(root)
    if not path.is_file():
        return {}
    data = _read_yaml(path) or {}
    entries = data.get("destinations", data) if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise SyncConfigError(f"{path}: expected a mapping 'destinations: {{name: {{type: ...}}}}'")
    out: dict[str, AnyDestination] = {}
    from pydantic import TypeAdapter

    adapter: TypeAdapter[Any] = TypeAdapter(DestinationConfig)
    for name, body in entries.items():
        if not isinstance(body, dict):
            raise SyncConfigError(f"{path}: destination {name!r} must be a mapping")
        try:
            out[str(name)] = adapter.validate_python({"name": str(name), **body})
        except ValidationError as exc:
            raise SyncConfigError(f"{path}: destination {name!r} is invalid:\n{exc}") from exc
    return out


def load_sync_file(path: str | Path) -> SyncConfig:
    path = Path(path)
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise SyncConfigError(f"{path}: expected a mapping")
    data.setdefault("name", path.stem)
    try:
        return SyncConfig.model_validate(data)
    except ValidationError as exc:
        raise SyncConfigError(f"{path}: invalid sync configuration:\n{exc}") from exc


def load_syncs(
    config_dir: str | Path | None = None, *, validate_destinations: bool = True
) -> list[SyncConfig]:
    """Every ``syncs/*.yml`` under ``config_dir`` (default ``tessera.paths.config_dir()``), sorted by name.

    Disabled syncs are included (check ``.enabled``). Raises ``SyncConfigError`` on invalid files,
    duplicate names or a destination not defined in ``destinations.yml``.
    """
    root = Path(config_dir) if config_dir is not None else paths.config_dir()
    folder = _syncs_dir(root)
    if not folder.is_dir():
        return []
    syncs: dict[str, SyncConfig] = {}
    for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]):
        sync = load_sync_file(path)
        if sync.name in syncs:
            raise SyncConfigError(f"{path}: duplicate sync name {sync.name!r}")
        syncs[sync.name] = sync
    if validate_destinations and syncs:
        destinations = load_destinations(root)
        for sync in syncs.values():
            if sync.destination not in destinations:
                raise SyncConfigError(
                    f"sync {sync.name!r}: destination {sync.destination!r} is not defined in "
                    f"{_destinations_file(root)} (known: {sorted(destinations) or 'none'})"
                )
    return [syncs[name] for name in sorted(syncs)]


def get_sync(name: str, config_dir: str | Path | None = None) -> SyncConfig:
    for sync in load_syncs(config_dir):
        if sync.name == name:
            return sync
    raise SyncConfigError(f"no sync named {name!r} in {_syncs_dir(Path(config_dir or paths.config_dir()))}")
