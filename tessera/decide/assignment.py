"""Deterministic experiment assignment: ``md5(salt + ':' + unit_id)`` gives a bucket in
[0, 10000); consecutive bucket ranges, sized by the arms' weights, give the arm.

The same function runs in the warehouse (macro ``tessera_bucket`` in
dbt_project/macros/decisions_bucket.sql), so SQL and Python always agree. An arm depends only on
the salt and the stable profile id: it does not change across runs, and records merging into a
profile do not move it (the profile keeps its id; see docs/identity.md).

Experiments are configuration (``config/experiments.yml``, see docs/experiments.md):

- weighted arms: ``arms: {control: 20, a: 40, b: 40}``;
- factorial arms: ``factors: {subject: {plain: 1, urgent: 1}, send_time: {am: 1, pm: 1}}``;
  each factor has its own salt (``salt/factor``), so the factors are independent and every
  combination (``subject=plain|send_time=am`` ...) is an arm;
- a per-campaign control group: ``campaign: OFFER_ID`` names the offer the experiment is about;
- the global holdout (``global_holdout``) is decided first, with its own salt, and wins over
  every experiment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera import paths
from tessera.config.errors import ConfigError

BUCKETS = 10_000
HOLDOUT = "holdout"


def bucket(salt: str, unit_id: str, buckets: int = BUCKETS) -> int:
    """Equals the SQL macro ``tessera_bucket(salt || ':' || unit_id)``."""
    digest = hashlib.md5(f"{salt}:{unit_id}".encode()).hexdigest()
    return int(digest[:15], 16) % buckets


def _ranges(weights: Mapping[str, float]) -> list[tuple[str, int]]:
    """Arms with the exclusive upper bucket bound of each, in the configured order."""
    total = float(sum(weights.values()))
    if total <= 0 or any(w < 0 for w in weights.values()):
        raise ConfigError("arm weights must be non-negative and not all zero")
    bounds, acc = [], 0.0
    for arm, w in weights.items():
        acc += w
        bounds.append((arm, round(BUCKETS * acc / total)))
    bounds[-1] = (bounds[-1][0], BUCKETS)
    return bounds


def pick(salt: str, unit_id: str, weights: Mapping[str, float]) -> str:
    b = bucket(salt, unit_id)
    for arm, upper in _ranges(weights):
        if b < upper:
            return arm
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    salt: str
    arms: dict[str, float] = field(default_factory=dict)  # weighted arms
    factors: dict[str, dict[str, float]] = field(default_factory=dict)  # factorial
    campaign: str | None = None  # the offer a per-campaign control group is about
    control: str = "control"

    def arm_weights(self) -> dict[str, float]:
        """The planned share of every arm (factorial: the product of the level shares)."""
        if self.arms:
            total = sum(self.arms.values())
            return {a: w / total for a, w in self.arms.items()}
        combos: dict[str, float] = {"": 1.0}
        for factor, levels in self.factors.items():
            total = sum(levels.values())
            combos = {
                (f"{k}|" if k else "") + f"{factor}={lvl}": share * w / total
                for k, share in combos.items() for lvl, w in levels.items()
            }
        return combos

    def assign(self, unit_id: str) -> str:
        if self.arms:
            return pick(self.salt, unit_id, self.arms)
        return "|".join(f"{f}={pick(f'{self.salt}/{f}', unit_id, lv)}" for f, lv in self.factors.items())


@dataclass(frozen=True)
class ExperimentsConfig:
    holdout_salt: str
    holdout_percent: float
    experiments: dict[str, ExperimentSpec]

    def assign(self, experiment: str, unit_id: str) -> str:
        """The unit's arm: ``holdout`` for the global holdout, else the experiment's arm."""
        if self.holdout_percent and bucket(self.holdout_salt, unit_id) < self.holdout_percent * 100:
            return HOLDOUT
        return self.experiments[experiment].assign(unit_id)

    def assign_many(self, experiment: str, unit_ids: Iterable[str]) -> list[tuple[str, str]]:
        if experiment not in self.experiments:
            raise ConfigError(f"unknown experiment {experiment!r}; known: {sorted(self.experiments)}")
        return [(u, self.assign(experiment, u)) for u in unit_ids]


def _weights(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, dict) or len(value) < 2:
        raise ConfigError(f"{where}: expected at least two arms as name: weight")
    out = {}
    for k, v in value.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise ConfigError(f"{where}.{k}: expected a non-negative weight, got {v!r}")
        out[str(k)] = float(v)
    if sum(out.values()) <= 0:
        raise ConfigError(f"{where}: the weights add up to 0")
    return out


def parse_experiments(
    data: Mapping[str, Any], where: str = "experiments.yml",
    default_holdout: tuple[str, float] = ("tessera-global-holdout", 0.0),
) -> ExperimentsConfig:
    from tessera.config.conditions import validate_name

    unknown = set(data) - {"global_holdout", "experiments"}
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)}")
    gh = data.get("global_holdout") or {}
    percent = float(gh.get("percent", default_holdout[1]))
    if not 0 <= percent <= 100:
        raise ConfigError(f"{where}: global_holdout.percent: expected 0..100, got {percent}")
    experiments: dict[str, ExperimentSpec] = {}
    for i, raw in enumerate(data.get("experiments") or []):
        w = f"{where}: experiments[{i}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{w}: expected a mapping")
        extra = set(raw) - {"name", "salt", "arms", "factors", "campaign", "control", "description"}
        if extra:
            raise ConfigError(f"{w}: unknown field(s) {sorted(extra)}")
        name = validate_name(raw.get("name"), f"{w}.name")
        if name in experiments:
            raise ConfigError(f"{w}.name: duplicate experiment {name!r}")
        if ("arms" in raw) == ("factors" in raw):
            raise ConfigError(f"{w}: give either arms (weighted) or factors (factorial), not both")
        arms = _weights(raw["arms"], f"{w}.arms") if "arms" in raw else {}
        factors = {}
        if "factors" in raw:
            if not isinstance(raw["factors"], dict) or not raw["factors"]:
                raise ConfigError(f"{w}.factors: expected factor: {{level: weight}}")
            factors = {str(f): _weights(lv, f"{w}.factors.{f}") for f, lv in raw["factors"].items()}
        spec = ExperimentSpec(name, str(raw.get("salt", name)), arms, factors, raw.get("campaign"),
                              str(raw.get("control", "control")))
        if spec.control not in spec.arm_weights():
            raise ConfigError(f"{w}.control: {spec.control!r} is not one of the arms {sorted(spec.arm_weights())}")
        experiments[name] = spec
    return ExperimentsConfig(str(gh.get("salt", default_holdout[0])), percent, experiments)


def load_experiments(config_dir: Path | None = None) -> ExperimentsConfig:
    from tessera.config import load_offer_catalog
    from tessera.config.loader import read_yaml

    # without its own global_holdout, the holdout is the decisions' (offers.yml experiment), so
    # Python and the warehouse hold out the same profiles
    exp = load_offer_catalog(config_dir).experiment
    default = (exp.salt, exp.holdout_percent)
    path = (config_dir or paths.config_dir()) / "experiments.yml"
    if not path.exists():
        return ExperimentsConfig(default[0], default[1], {})
    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping")
    return parse_experiments(data, str(path), default)


RANGES_TABLE = "experiments.arm_ranges"
RANGE_COLUMNS = ("experiment", "factor", "factor_order", "salt", "level", "lower_bucket", "upper_bucket",
                 "holdout_salt", "holdout_percent")


def arm_ranges(config: ExperimentsConfig) -> list[dict[str, Any]]:
    """The bucket ranges that the SQL assignment (dbt model decisions.fct_experiment_assignments)
    reads: per experiment, one row per arm (weighted: ``factor`` null) or per factor level
    (factorial: the level's salt is ``salt/factor``, ``factor_order`` the configured order that
    names the combined arm), with the global holdout that wins over every experiment."""
    rows = []
    for spec in config.experiments.values():
        parts = [(None, 0, spec.salt, spec.arms)] if spec.arms else [
            (factor, k, f"{spec.salt}/{factor}", levels) for k, (factor, levels) in enumerate(spec.factors.items())]
        for factor, order, salt, weights in parts:
            lower = 0
            for level, upper in _ranges(weights):
                rows.append({"experiment": spec.name, "factor": factor, "factor_order": order, "salt": salt,
                             "level": level, "lower_bucket": lower, "upper_bucket": upper,
                             "holdout_salt": config.holdout_salt, "holdout_percent": config.holdout_percent})
                lower = upper
    return rows


def write_arm_ranges(con, config: ExperimentsConfig) -> int:
    """Replace experiments.arm_ranges with ``arm_ranges(config)``; returns the row count."""
    import pandas as pd

    from tessera.warehouse import replace_table

    frame = pd.DataFrame(arm_ranges(config), columns=list(RANGE_COLUMNS)).astype(
        {"experiment": "string", "factor": "string", "factor_order": "int64", "salt": "string", "level": "string",
         "lower_bucket": "int64", "upper_bucket": "int64", "holdout_salt": "string", "holdout_percent": "float64"})
    replace_table(con, RANGES_TABLE, frame)
    return len(frame)
