"""Read segment and offer YAML files into validated objects, with errors that name the field."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import yaml

from tessera import paths
from tessera.config.conditions import (
    CHANNELS,
    PURPOSES,
    TRAITS,
    parse_condition,
    referenced_segments,
    validate_name,
)
from tessera.config.errors import ConfigError
from tessera.config.models import (
    CONTENT_FIELDS,
    ChannelRule,
    Experiment,
    Fatigue,
    Offer,
    OfferCap,
    OfferCatalog,
    SegmentDefinition,
)


def read_yaml(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


def _mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _reject_unknown(data: dict, allowed: set[str], where: str) -> None:
    unknown = set(data) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(allowed)}")


def load_segments(config_dir: Path | None = None) -> list[SegmentDefinition]:
    """Load every ``segments/*.yml`` under the configuration folder, sorted by name."""
    folder = (config_dir or paths.config_dir()) / "segments"
    segments: dict[str, SegmentDefinition] = {}
    for path in sorted(folder.glob("*.y*ml")):
        data = _mapping(read_yaml(path), str(path))
        _reject_unknown(data, {"name", "description", "conditions"}, str(path))
        name = validate_name(data.get("name"), f"{path}: name")
        if name in segments:
            raise ConfigError(f"{path}: name {name!r} is already used by {segments[name].path}")
        if "conditions" not in data:
            raise ConfigError(f"{path}: conditions: missing")
        condition = parse_condition(data["conditions"], f"{path}: conditions")
        segments[name] = SegmentDefinition(name, str(data.get("description", "")).strip(), condition, path)
    for seg in segments.values():
        for ref in referenced_segments(seg.condition):
            if ref not in segments:
                raise ConfigError(f"{seg.path}: conditions: refers to unknown segment {ref!r}")
            if ref == seg.name:
                raise ConfigError(f"{seg.path}: conditions: a segment cannot refer to itself")
    _check_acyclic(segments)
    return [segments[k] for k in sorted(segments)]


def _check_acyclic(segments: dict[str, SegmentDefinition]) -> None:
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise ConfigError(f"segments refer to each other in a cycle: {' -> '.join(trail + [name])}")
        state[name] = 1
        for ref in sorted(referenced_segments(segments[name].condition)):
            visit(ref, trail + [name])
        state[name] = 2

    for name in segments:
        visit(name, [])


def _date(value: Any, where: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{where}: expected a date like 2026-01-31, got {value!r}") from None


def _whole(value: Any, where: str, *, minimum: int = 0, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}: expected a whole number >= {minimum}, got {value!r}")
    return value


def _clock(value: Any, where: str) -> int:
    """"21:30" (or 21) to minutes after midnight."""
    text = str(value) if value is not None else ""
    try:
        hours, _, minutes = text.partition(":")
        h, m = int(hours), int(minutes or 0)
    except ValueError:
        h = m = -1
    if not (0 <= h <= 24 and 0 <= m < 60 and h * 60 + m <= 1440):
        raise ConfigError(f"{where}: expected a time like \"21:00\", got {value!r}")
    return h * 60 + m


def load_offer_catalog(config_dir: Path | None = None, segment_names: set[str] | None = None) -> OfferCatalog:
    """Load ``offers.yml``: channels, the experiment design and the offers themselves."""
    path = (config_dir or paths.config_dir()) / "offers.yml"
    data = _mapping(read_yaml(path), str(path))
    _reject_unknown(data, {"version", "channels", "experiment", "personalization", "fatigue", "offers"}, str(path))
    if segment_names is None:
        segment_names = {s.name for s in load_segments(config_dir)}

    channels: dict[str, ChannelRule] = {}
    for ch, rule in _mapping(data.get("channels"), f"{path}: channels").items():
        where = f"{path}: channels.{ch}"
        if ch not in CHANNELS:
            raise ConfigError(f"{where}: unknown channel; Tessera knows {', '.join(CHANNELS)}")
        rule = _mapping(rule or {}, where)
        _reject_unknown(rule, {"consent_purpose", "counts_toward_fatigue", "quiet_hours", "rank"}, where)
        purpose = rule.get("consent_purpose", "marketing")
        if purpose not in PURPOSES:
            raise ConfigError(f"{where}.consent_purpose: expected one of {PURPOSES}, got {purpose!r}")
        fatigue_flag = rule.get("counts_toward_fatigue", purpose == "marketing")
        if not isinstance(fatigue_flag, bool):
            raise ConfigError(f"{where}.counts_toward_fatigue: expected true or false, got {fatigue_flag!r}")
        quiet_start = quiet_end = None
        offset = 0.0
        if rule.get("quiet_hours") is not None:
            quiet = _mapping(rule["quiet_hours"], f"{where}.quiet_hours")
            _reject_unknown(quiet, {"start", "end", "utc_offset_hours"}, f"{where}.quiet_hours")
            quiet_start = _clock(quiet.get("start"), f"{where}.quiet_hours.start")
            quiet_end = _clock(quiet.get("end"), f"{where}.quiet_hours.end")
            offset = quiet.get("utc_offset_hours", 0)
            if isinstance(offset, bool) or not isinstance(offset, int | float) or not -14 <= offset <= 14:
                raise ConfigError(f"{where}.quiet_hours.utc_offset_hours: expected a number in -14..14, got {offset!r}")
            if quiet_start == quiet_end:
                raise ConfigError(f"{where}.quiet_hours: start and end are equal")
        rank = rule.get("rank", len(channels))
        if isinstance(rank, bool) or not isinstance(rank, int):
            raise ConfigError(f"{where}.rank: expected a whole number, got {rank!r}")
        channels[ch] = ChannelRule(ch, purpose, fatigue_flag, quiet_start, quiet_end, float(offset), rank)
    if not channels:
        raise ConfigError(f"{path}: channels: at least one channel is needed")

    exp = _mapping(data.get("experiment") or {}, f"{path}: experiment")
    _reject_unknown(exp, {"name", "salt", "holdout_percent", "control_percent"}, f"{path}: experiment")
    experiment = Experiment(
        name=validate_name(exp.get("name", "default"), f"{path}: experiment.name"),
        salt=str(exp.get("salt", exp.get("name", "default"))),
        holdout_percent=float(exp.get("holdout_percent", 0)),
        control_percent=float(exp.get("control_percent", 0)),
    )
    for key in ("holdout_percent", "control_percent"):
        pct = getattr(experiment, key)
        if not 0 <= pct <= 100:
            raise ConfigError(f"{path}: experiment.{key}: expected 0..100, got {pct}")
    if experiment.holdout_percent + experiment.control_percent > 100:
        raise ConfigError(f"{path}: experiment: holdout_percent + control_percent exceed 100")

    fat = _mapping(data.get("fatigue") or {}, f"{path}: fatigue")
    _reject_unknown(fat, {"max_touches", "window_days"}, f"{path}: fatigue")
    fatigue = Fatigue(
        _whole(fat.get("max_touches"), f"{path}: fatigue.max_touches", allow_none=True),
        _whole(fat.get("window_days", 7), f"{path}: fatigue.window_days", minimum=1),
    )

    pers = _mapping(data.get("personalization") or {}, f"{path}: personalization")
    _reject_unknown(pers, {"min_orders", "min_events"}, f"{path}: personalization")

    offers: list[Offer] = []
    seen: set[str] = set()
    raw_offers = data.get("offers")
    if not isinstance(raw_offers, list) or not raw_offers:
        raise ConfigError(f"{path}: offers: expected a non-empty list")
    for i, raw in enumerate(raw_offers):
        where = f"{path}: offers[{i}]"
        raw = _mapping(raw, where)
        _reject_unknown(
            raw,
            {"id", "name", "channels", "eligibility", "value", "value_column", "value_rate", "priority",
             "valid_from", "valid_to", "default", "cap", "budget", "control_percent"},
            where,
        )
        offer_id = validate_name(raw.get("id"), f"{where}.id")
        where = f"{path}: offers[{offer_id}]"
        if offer_id in seen:
            raise ConfigError(f"{where}.id: duplicate offer id")
        seen.add(offer_id)
        content: dict[str, dict[str, str]] = {}
        for ch, fields in _mapping(raw.get("channels"), f"{where}.channels").items():
            if ch not in channels:
                raise ConfigError(f"{where}.channels.{ch}: channel is not declared under channels:")
            fields = _mapping(fields or {}, f"{where}.channels.{ch}")
            _reject_unknown(fields, set(CONTENT_FIELDS), f"{where}.channels.{ch}")
            content[ch] = {k: str(v) for k, v in fields.items()}
        if not content:
            raise ConfigError(f"{where}.channels: an offer needs at least one channel")
        eligibility = None
        if raw.get("eligibility") is not None:
            eligibility = parse_condition(raw["eligibility"], f"{where}.eligibility")
            for ref in referenced_segments(eligibility):
                if ref not in segment_names:
                    raise ConfigError(f"{where}.eligibility: unknown segment {ref!r}")
        value = raw.get("value", 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{where}.value: expected a non-negative number, got {value!r}")
        priority = raw.get("priority", 0)
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise ConfigError(f"{where}.priority: expected a whole number, got {priority!r}")
        valid_from = _date(raw.get("valid_from"), f"{where}.valid_from")
        valid_to = _date(raw.get("valid_to"), f"{where}.valid_to")
        if valid_from and valid_to and valid_to <= valid_from:
            raise ConfigError(f"{where}.valid_to: must be after valid_from")
        is_default = bool(raw.get("default", False))
        if is_default and eligibility is not None:
            raise ConfigError(f"{where}.eligibility: a default offer is for everyone; remove eligibility")
        cap = None
        if raw.get("cap") is not None:
            rc = _mapping(raw["cap"], f"{where}.cap")
            _reject_unknown(rc, {"max", "per_days"}, f"{where}.cap")
            cap = OfferCap(_whole(rc.get("max"), f"{where}.cap.max", minimum=1),
                           _whole(rc.get("per_days"), f"{where}.cap.per_days", minimum=1))
        budget = _whole(raw.get("budget"), f"{where}.budget", allow_none=True)
        control_percent = raw.get("control_percent", 0)
        if isinstance(control_percent, bool) or not isinstance(control_percent, int | float) \
                or not 0 <= control_percent < 100:
            raise ConfigError(f"{where}.control_percent: expected a number in 0..100, got {control_percent!r}")
        value_column = raw.get("value_column")
        if value_column is not None and TRAITS.get(value_column) != "number":
            numeric = sorted(t for t, k in TRAITS.items() if k == "number")
            raise ConfigError(f"{where}.value_column: expected a numeric trait ({', '.join(numeric)}), "
                              f"got {value_column!r}")
        value_rate = raw.get("value_rate", 1.0)
        if isinstance(value_rate, bool) or not isinstance(value_rate, int | float) or value_rate < 0:
            raise ConfigError(f"{where}.value_rate: expected a non-negative number, got {value_rate!r}")
        if is_default and (cap or budget is not None or control_percent):
            raise ConfigError(f"{where}: a default offer cannot have cap, budget or control_percent")
        offers.append(
            Offer(offer_id, str(raw.get("name", offer_id)), content, eligibility, float(value), priority,
                  valid_from, valid_to, is_default, cap, budget, float(control_percent), value_column,
                  float(value_rate))
        )

    for ch in channels:
        defaults = [o.id for o in offers if o.is_default and ch in o.channels]
        if len(defaults) != 1:
            raise ConfigError(
                f"{path}: channel {ch!r} needs exactly one default offer (default: true), found {defaults or 'none'}"
            )

    return OfferCatalog(
        version=str(data.get("version", "1")),
        channels=channels,
        offers=tuple(offers),
        experiment=experiment,
        min_orders_for_personalization=int(pers.get("min_orders", 0)),
        min_events_for_personalization=int(pers.get("min_events", 1)),
        path=path,
        raw=data,
        fatigue=fatigue,
    )
