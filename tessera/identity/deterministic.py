"""Deterministic identity resolution with stable profile ids.

Records that share a trusted identifier value join one connected component (one profile).
Blocked values and hub values (shared by more records than a limit) never merge anything.
Profile ids survive across runs: a component keeps the id that most of its records had before,
so adding records never renames a profile. Merges and splits are reported for the history table.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from tessera import paths
from tessera.config.errors import ConfigError
from tessera.config.loader import read_yaml

DEFAULT_TRUSTED = ("customer_id", "loyalty_id", "crm_id", "email", "phone", "device_id")


@dataclass(frozen=True)
class IdentityConfig:
    trusted_identifiers: tuple[str, ...] = DEFAULT_TRUSTED
    max_records_per_value: int = 25
    blocked_values: dict[str, frozenset[str]] = field(default_factory=dict)

    def is_blocked(self, id_type: str, value: str) -> bool:
        v = value.strip().lower()
        return v in self.blocked_values.get(id_type, frozenset()) or v in self.blocked_values.get("*", frozenset())


def load_identity_config(config_dir: Path | None = None) -> IdentityConfig:
    path = (config_dir or paths.config_dir()) / "identity.yml"
    if not path.exists():
        return IdentityConfig()
    data = read_yaml(path) or {}
    det = data.get("deterministic") or {}
    if not isinstance(det, dict):
        raise ConfigError(f"{path}: deterministic: expected a mapping")
    trusted = det.get("trusted_identifiers", list(DEFAULT_TRUSTED))
    if not isinstance(trusted, list) or not all(isinstance(t, str) for t in trusted) or not trusted:
        raise ConfigError(f"{path}: deterministic.trusted_identifiers: expected a list of identifier types")
    limit = det.get("max_records_per_value", 25)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 2:
        raise ConfigError(f"{path}: deterministic.max_records_per_value: expected a whole number >= 2")
    blocked_raw = det.get("blocked_values") or {}
    if not isinstance(blocked_raw, dict):
        raise ConfigError(f"{path}: deterministic.blocked_values: expected a mapping of id type to values")
    blocked = {
        str(k): frozenset(str(v).strip().lower() for v in (vals or [])) for k, vals in blocked_raw.items()
    }
    return IdentityConfig(tuple(trusted), limit, blocked)


@dataclass
class ResolutionResult:
    assignments: pd.DataFrame  # record_id, profile_id, source
    history: pd.DataFrame  # profile_id, change_type, related_profile_id, record_count
    hubs: pd.DataFrame  # id_type, id_value, record_count, reason
    stats: dict


def _new_profile_id(anchor_record: str, taken: set[str]) -> str:
    salt = 0
    while True:
        digest = hashlib.md5(f"{anchor_record}|{salt}".encode()).hexdigest()[:16]
        candidate = f"prof_{digest}"
        if candidate not in taken:
            return candidate
        salt += 1


def resolve_components(
    records: pd.DataFrame,
    identifiers: pd.DataFrame,
    previous: pd.DataFrame | None,
    config: IdentityConfig,
) -> ResolutionResult:
    """Resolve records into profiles.

    records: record_id, source. identifiers: record_id, id_type, id_value.
    previous: record_id, profile_id from the last run (or None).
    """
    record_ids = records["record_id"].astype(str).to_numpy()
    index = {rid: i for i, rid in enumerate(record_ids)}
    n = len(record_ids)

    ids = identifiers[identifiers["id_type"].isin(config.trusted_identifiers)].copy()
    ids = ids[ids["record_id"].isin(index.keys()) & ids["id_value"].notna()]
    ids["id_value"] = ids["id_value"].astype(str)
    ids = ids[ids["id_value"].str.strip() != ""]
    blocked_mask = np.array([config.is_blocked(t, v) for t, v in zip(ids["id_type"], ids["id_value"])], dtype=bool)
    blocked = ids[blocked_mask]
    ids = ids[~blocked_mask].drop_duplicates(["record_id", "id_type", "id_value"])

    counts = ids.groupby(["id_type", "id_value"])["record_id"].transform("size")
    hub_mask = (counts > config.max_records_per_value).to_numpy()
    hubs = (
        ids[hub_mask].groupby(["id_type", "id_value"]).size().reset_index(name="record_count")
        .assign(reason=lambda d: f"shared by more than {config.max_records_per_value} records")
    )
    blocked_report = (
        blocked.groupby(["id_type", "id_value"]).size().reset_index(name="record_count")
        .assign(reason="blocked value")
    )
    usable = ids[~hub_mask]

    # edges: connect every record sharing a value to the first record with that value
    rows = usable["record_id"].map(index).to_numpy()
    group_keys = usable["id_type"] + "\x1f" + usable["id_value"]
    first = pd.Series(rows).groupby(group_keys.to_numpy()).transform("first").to_numpy()
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, first)), shape=(n, n))
    n_components, labels = connected_components(graph, directed=False)

    prev_map: dict[str, str] = {}
    if previous is not None and len(previous):
        prev_map = dict(zip(previous["record_id"].astype(str), previous["profile_id"].astype(str)))
    all_previous_ids = set(prev_map.values())

    members: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        members[int(label)].append(i)

    # which previous profile ids does each component contain, and how many records of each
    claims: dict[str, list[tuple[int, int]]] = defaultdict(list)  # prev id -> [(n records, component)]
    comp_prev: dict[int, Counter] = {}
    for comp, idxs in members.items():
        c = Counter(prev_map[record_ids[i]] for i in idxs if record_ids[i] in prev_map)
        comp_prev[comp] = c
        for pid, k in c.items():
            claims[pid].append((k, comp))

    # a previous id goes to the component holding most of its records (ties: smallest anchor record)
    anchor = {comp: min(record_ids[i] for i in idxs) for comp, idxs in members.items()}
    winner_of: dict[str, int] = {
        pid: sorted(cands, key=lambda kc: (-kc[0], anchor[kc[1]]))[0][1] for pid, cands in claims.items()
    }

    taken = set(all_previous_ids)
    comp_id: dict[int, str] = {}
    history: list[dict] = []
    for comp in sorted(members, key=lambda c: anchor[c]):
        won = [pid for pid, k in comp_prev[comp].most_common() if winner_of.get(pid) == comp]
        if won:
            # keep the id most records had; ties go to the lexically smallest id
            best_k = comp_prev[comp][won[0]]
            pid = sorted(p for p in won if comp_prev[comp][p] == best_k)[0]
            for other in won:
                if other != pid:
                    history.append(dict(profile_id=pid, change_type="merged", related_profile_id=other,
                                        record_count=len(members[comp])))
            new_records = sum(1 for i in members[comp] if record_ids[i] not in prev_map)
            if new_records:
                history.append(dict(profile_id=pid, change_type="records_added", related_profile_id=None,
                                    record_count=new_records))
        else:
            pid = _new_profile_id(anchor[comp], taken)
            taken.add(pid)
            split_from = [p for p in comp_prev[comp]]
            if split_from:
                for origin in split_from:
                    history.append(dict(profile_id=pid, change_type="split", related_profile_id=origin,
                                        record_count=len(members[comp])))
            else:
                history.append(dict(profile_id=pid, change_type="created", related_profile_id=None,
                                    record_count=len(members[comp])))
        comp_id[comp] = pid

    profile_ids = np.array([comp_id[int(label)] for label in labels], dtype=object)
    assignments = pd.DataFrame(
        {"record_id": record_ids, "profile_id": profile_ids, "source": records["source"].astype(str).to_numpy()}
    )
    sizes = assignments.groupby("profile_id").size().sort_values(ascending=False)
    history_df = pd.DataFrame(history, columns=["profile_id", "change_type", "related_profile_id", "record_count"])
    kinds = Counter(h["change_type"] for h in history)
    hubs_all = pd.concat([hubs, blocked_report], ignore_index=True)
    stats = {
        "records_in": int(n),
        "profiles_out": int(n_components),
        "profiles_created": kinds.get("created", 0),
        "merges": kinds.get("merged", 0),
        "splits": kinds.get("split", 0),
        "multi_record_profiles": int((sizes > 1).sum()),
        "hub_values_quarantined": int(len(hubs)),
        "blocked_values_seen": int(len(blocked_report)),
        "largest_clusters": [
            {"profile_id": pid, "records": int(k)} for pid, k in sizes.head(5).items()
        ],
    }
    return ResolutionResult(assignments, history_df, hubs_all, stats)
