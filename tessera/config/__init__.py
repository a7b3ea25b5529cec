"""Loading and validating Tessera's YAML configuration (segments, offers, experiments).

Sources, syncs and destinations have their own loaders next to the code that uses them
(``tessera.sources`` and ``tessera.activate``); this package holds the shared pieces and the
marketer-facing definitions that are compiled into dbt models.
"""

from tessera.config.errors import ConfigError
from tessera.config.loader import load_offer_catalog, load_segments
from tessera.config.models import OfferCatalog, SegmentDefinition

__all__ = [
    "ConfigError",
    "OfferCatalog",
    "SegmentDefinition",
    "load_offer_catalog",
    "load_segments",
]
