"""The identity resolver's configuration (``identity.yml``), validated with errors that name the field.

Everything has a default; the smallest useful file maps input columns to roles::

    columns:
      rec_id: record_id
      given_name: first_name
      surname: last_name

See docs/identity.md for every setting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera.config.errors import ConfigError
from tessera.config.loader import read_yaml

ROLES = (
    "record_id", "source", "first_name", "last_name", "full_name", "date_of_birth", "street_number",
    "street", "address_line_2", "city", "postcode", "state", "country", "email", "phone", "national_id",
    "customer_id", "device_id", "loyalty_id", "crm_id", "updated_at",
)
IDENTIFIER_ROLES = ("customer_id", "loyalty_id", "crm_id", "national_id", "email", "phone", "device_id")
DEFAULT_RULES = (("customer_id",), ("loyalty_id",), ("crm_id",), ("national_id",), ("email",), ("phone",),
                 ("device_id",))
SURVIVORSHIP_RULES = ("most_recent", "source_priority", "most_frequent")
# golden-record traits (columns of profiles.dim_customer_profiles) and their default survivorship rule
DEFAULT_SURVIVORSHIP = {
    "first_name": "source_priority", "last_name": "source_priority", "customer_id": "source_priority",
    "date_of_birth": "source_priority", "city": "source_priority", "country": "source_priority",
    "email": "most_recent", "phone": "most_recent", "loyalty_id": "most_recent", "loyalty_tier": "most_recent",
}
# the warehouse's sources, most trusted first, when survivorship.source_priority is not given
DEFAULT_SOURCE_PRIORITY = ("shop", "crm", "loyalty", "support", "web")


@dataclass(frozen=True)
class ResolverConfig:
    columns: dict[str, str] = field(default_factory=dict)  # input column -> role
    # normalization
    default_region: str = "US"
    date_order: str = "dmy"  # how to read ambiguous nn/nn/yyyy dates
    email_provider_rules: bool = False  # gmail/googlemail: drop dots and +tags
    # deterministic pass
    rules: tuple[tuple[str, ...], ...] = DEFAULT_RULES
    max_records_per_value: int = 25
    blocked_values: dict[str, frozenset[str]] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=lambda: {"customer_id": 1, "loyalty_id": 1, "crm_id": 1})
    # shared contact values (a family email, a home phone) link only records with compatible first names
    name_guard: tuple[str, ...] = ("email", "phone")
    # probabilistic pass
    probabilistic: bool = True
    threshold: float | None = None  # match probability; None = chosen without labels
    max_block_size: int = 400
    em_max_pairs: int = 500_000  # pairs per EM session (a sample when a training block has more)
    # guards
    max_cluster_size: int = 50
    # manual overrides
    merge: tuple[tuple[str, ...], ...] = ()
    unmerge: tuple[tuple[str, str], ...] = ()
    # survivorship per trait
    survivorship: dict[str, dict[str, Any]] = field(default_factory=dict)
    source_priority: tuple[str, ...] = ()

    def survivorship_rules(self) -> dict[str, str]:
        """The rule per golden trait: the configured one, else the default."""
        return {t: self.survivorship.get(t, {}).get("rule", d) for t, d in DEFAULT_SURVIVORSHIP.items()}

    def source_ranks(self) -> dict[str, int]:
        """Source -> rank (1 = most trusted) for the source_priority rule."""
        return {s: i + 1 for i, s in enumerate(self.source_priority or DEFAULT_SOURCE_PRIORITY)}

    def is_blocked(self, id_type: str, value: str) -> bool:
        v = str(value).strip().lower()
        return v in self.blocked_values.get(id_type, frozenset()) or v in self.blocked_values.get("*", frozenset())

    # backbone compatibility
    @property
    def trusted_identifiers(self) -> tuple[str, ...]:
        return tuple(r[0] for r in self.rules if len(r) == 1)


def _err(where: str, msg: str) -> ConfigError:
    return ConfigError(f"{where}: {msg}")


def _mapping(v, where) -> dict:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise _err(where, "expected a mapping")
    return v


def _int(v, where, minimum) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise _err(where, f"expected a whole number >= {minimum}, got {v!r}")
    return v


def parse_config(data: dict | None, where: str = "identity.yml") -> ResolverConfig:
    data = _mapping(data, where)
    known = {"columns", "normalize", "deterministic", "probabilistic", "guards", "overrides", "survivorship"}
    for key in data:
        if key not in known:
            raise _err(f"{where}: {key}", f"unknown section; expected one of {sorted(known)}")
    kw: dict[str, Any] = {}

    cols = _mapping(data.get("columns"), f"{where}: columns")
    seen: dict[str, str] = {}
    for col, role in cols.items():
        if role not in ROLES:
            raise _err(f"{where}: columns.{col}", f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        if role in seen:
            raise _err(f"{where}: columns.{col}", f"role {role!r} is already given to column {seen[role]!r}")
        seen[role] = str(col)
    kw["columns"] = {str(k): str(v) for k, v in cols.items()}

    norm = _mapping(data.get("normalize"), f"{where}: normalize")
    for key in norm:
        if key not in ("default_region", "date_order", "email_provider_rules"):
            raise _err(f"{where}: normalize.{key}", "unknown setting")
    if "default_region" in norm:
        region = norm["default_region"]
        if not isinstance(region, str) or len(region) != 2:
            raise _err(f"{where}: normalize.default_region", f"expected a two-letter region code, got {region!r}")
        kw["default_region"] = region.upper()
    if "date_order" in norm:
        if norm["date_order"] not in ("dmy", "mdy"):
            raise _err(f"{where}: normalize.date_order", "expected dmy or mdy")
        kw["date_order"] = norm["date_order"]
    if "email_provider_rules" in norm:
        if not isinstance(norm["email_provider_rules"], bool):
            raise _err(f"{where}: normalize.email_provider_rules", "expected true or false")
        kw["email_provider_rules"] = norm["email_provider_rules"]

    det = _mapping(data.get("deterministic"), f"{where}: deterministic")
    for key in det:
        if key not in ("rules", "trusted_identifiers", "max_records_per_value", "blocked_values", "limits",
                       "name_guard"):
            raise _err(f"{where}: deterministic.{key}", "unknown setting")
    if "rules" in det and "trusted_identifiers" in det:
        raise _err(f"{where}: deterministic", "give rules or trusted_identifiers, not both")
    raw_rules = det.get("rules", det.get("trusted_identifiers"))
    if raw_rules is not None:
        name = "rules" if "rules" in det else "trusted_identifiers"
        if not isinstance(raw_rules, list):
            raise _err(f"{where}: deterministic.{name}", "expected a list")
        rules = []
        for i, r in enumerate(raw_rules):
            parts = [r] if isinstance(r, str) else r
            if not isinstance(parts, list) or not parts or not all(isinstance(p, str) for p in parts):
                raise _err(f"{where}: deterministic.{name}[{i}]", "expected a role or a list of roles")
            for p in parts:
                if p not in ROLES or p in ("record_id", "source", "updated_at"):
                    raise _err(f"{where}: deterministic.{name}[{i}]", f"unknown identifier role {p!r}")
            rules.append(tuple(parts))
        kw["rules"] = tuple(rules)
    if "max_records_per_value" in det:
        kw["max_records_per_value"] = _int(det["max_records_per_value"], f"{where}: deterministic.max_records_per_value", 2)
    blocked = _mapping(det.get("blocked_values"), f"{where}: deterministic.blocked_values")
    for k, vals in blocked.items():
        if vals is not None and not isinstance(vals, list):
            raise _err(f"{where}: deterministic.blocked_values.{k}", "expected a list of values")
    kw["blocked_values"] = {str(k): frozenset(str(v).strip().lower() for v in (vals or [])) for k, vals in blocked.items()}
    if "limits" in det:
        limits = _mapping(det["limits"], f"{where}: deterministic.limits")
        for k, v in limits.items():
            if k not in ROLES:
                raise _err(f"{where}: deterministic.limits.{k}", "unknown role")
            _int(v, f"{where}: deterministic.limits.{k}", 1)
        kw["limits"] = {str(k): int(v) for k, v in limits.items()}

    if "name_guard" in det:
        ng = det["name_guard"]
        if not isinstance(ng, list) or not all(isinstance(x, str) and x in ROLES for x in ng):
            raise _err(f"{where}: deterministic.name_guard", "expected a list of identifier roles")
        kw["name_guard"] = tuple(ng)

    prob = data.get("probabilistic")
    if prob is False:
        kw["probabilistic"] = False
    else:
        prob = _mapping(prob, f"{where}: probabilistic")
        for key in prob:
            if key not in ("enabled", "threshold", "max_block_size", "em_max_pairs"):
                raise _err(f"{where}: probabilistic.{key}", "unknown setting")
        if "enabled" in prob:
            if not isinstance(prob["enabled"], bool):
                raise _err(f"{where}: probabilistic.enabled", "expected true or false")
            kw["probabilistic"] = prob["enabled"]
        th = prob.get("threshold", "auto")
        if th != "auto":
            if isinstance(th, bool) or not isinstance(th, (int, float)) or not 0 < th < 1:
                raise _err(f"{where}: probabilistic.threshold", f"expected auto or a probability in (0, 1), got {th!r}")
            kw["threshold"] = float(th)
        if "max_block_size" in prob:
            kw["max_block_size"] = _int(prob["max_block_size"], f"{where}: probabilistic.max_block_size", 2)
        if "em_max_pairs" in prob:
            kw["em_max_pairs"] = _int(prob["em_max_pairs"], f"{where}: probabilistic.em_max_pairs", 1000)

    guards = _mapping(data.get("guards"), f"{where}: guards")
    for key in guards:
        if key != "max_cluster_size":
            raise _err(f"{where}: guards.{key}", "unknown setting")
    if "max_cluster_size" in guards:
        kw["max_cluster_size"] = _int(guards["max_cluster_size"], f"{where}: guards.max_cluster_size", 2)

    ov = _mapping(data.get("overrides"), f"{where}: overrides")
    for key in ov:
        if key not in ("merge", "unmerge"):
            raise _err(f"{where}: overrides.{key}", "unknown setting; expected merge or unmerge")
    merges, unmerges = [], []
    for i, g in enumerate(ov.get("merge") or []):
        if not isinstance(g, list) or len(g) < 2:
            raise _err(f"{where}: overrides.merge[{i}]", "expected a list of at least two record ids")
        merges.append(tuple(str(x) for x in g))
    for i, g in enumerate(ov.get("unmerge") or []):
        if not isinstance(g, list) or len(g) != 2:
            raise _err(f"{where}: overrides.unmerge[{i}]", "expected a pair of record ids")
        unmerges.append((str(g[0]), str(g[1])))
    kw["merge"], kw["unmerge"] = tuple(merges), tuple(unmerges)

    surv = _mapping(data.get("survivorship"), f"{where}: survivorship")
    rules_out: dict[str, dict[str, Any]] = {}
    for trait, spec in surv.items():
        if trait == "source_priority":
            if not isinstance(spec, list) or not all(isinstance(s, str) for s in spec):
                raise _err(f"{where}: survivorship.source_priority", "expected a list of source names")
            if len(set(spec)) != len(spec):
                raise _err(f"{where}: survivorship.source_priority", "a source is listed twice")
            kw["source_priority"] = tuple(spec)
            continue
        if trait not in DEFAULT_SURVIVORSHIP:
            raise _err(f"{where}: survivorship.{trait}",
                       f"unknown trait; expected source_priority or one of {', '.join(DEFAULT_SURVIVORSHIP)}")
        if isinstance(spec, str):
            spec = {"rule": spec}
        spec = _mapping(spec, f"{where}: survivorship.{trait}")
        rule = spec.get("rule")
        if rule not in SURVIVORSHIP_RULES:
            raise _err(f"{where}: survivorship.{trait}.rule", f"expected one of {', '.join(SURVIVORSHIP_RULES)}, got {rule!r}")
        rules_out[str(trait)] = {"rule": rule}
    kw["survivorship"] = rules_out
    return ResolverConfig(**kw)


def load_config(path: Path | str) -> ResolverConfig:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: file not found")
    return parse_config(read_yaml(path) or {}, where=str(path))
