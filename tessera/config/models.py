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
    counts_toward_fatigue: bool = True  # a marketing touch: uses the customer's fatigue budget
    quiet_start: int | None = None  # minutes after local midnight; no decision is sent from ...
    quiet_end: int | None = None  # ... until this time (the window may cross midnight)
    utc_offset_hours: float = 0.0  # local time of the quiet hours = UTC + offset
    rank: int = 0  # order of the channels when the fatigue budget cannot take them all


@dataclass(frozen=True)
class OfferCap:
    max_touches: int
    per_days: int


@dataclass(frozen=True)
class Fatigue:
    max_touches: int | None  # None: no cross-channel budget
    window_days: int


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
    cap: OfferCap | None = None  # at most cap.max_touches of this offer per customer in cap.per_days
    budget: int | None = None  # global stock: at most this many customers ever get the offer
    control_percent: float = 0.0  # per-campaign control group: winners who get the default instead
    value_column: str | None = None  # a numeric trait: per-customer value = trait x value_rate
    value_rate: float = 1.0  # (customers whose trait is null use `value`)


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
    fatigue: Fatigue = Fatigue(None, 7)
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
