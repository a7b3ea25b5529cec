"""Typed configuration objects for segments and the offer catalog."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from tessera.config.conditions import Condition

CONTENT_FIELDS = ("subject", "body", "title", "message", "headline")


@dataclass(frozen=True)
class SegmentDefinition:
    name: str
    description: str
    condition: Condition
    path: Path


@dataclass(frozen=True)
class ChannelRule:
    channel: str
    consent_purpose: str


@dataclass(frozen=True)
class Offer:
    id: str
    name: str
    channels: dict[str, dict[str, str]]  # channel -> content fields
    eligibility: Condition | None
    value: float
    priority: int
    valid_from: date | None
    valid_to: date | None
    is_default: bool


@dataclass(frozen=True)
class Experiment:
    name: str
    salt: str
    holdout_percent: float
    control_percent: float


@dataclass(frozen=True)
class OfferCatalog:
    version: str
    channels: dict[str, ChannelRule]
    offers: tuple[Offer, ...]
    experiment: Experiment
    min_orders_for_personalization: int
    min_events_for_personalization: int
    path: Path
    raw: dict = field(repr=False, default_factory=dict)

    @property
    def rules_hash(self) -> str:
        """A short content hash of the catalog: changes whenever any rule changes."""
        text = json.dumps(self.raw, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def rules_version(self) -> str:
        return f"{self.version}+{self.rules_hash}"

    def defaults(self) -> dict[str, Offer]:
        return {ch: o for o in self.offers if o.is_default for ch in o.channels}
