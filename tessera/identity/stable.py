"""Stable profile ids across runs, and the merge/split history between two runs.

A component keeps the id that most of its records had in the previous run, so adding records never
renames a profile. When two previous profiles merge, the one with the larger share of records
survives (history: ``merged``); when a previous profile splits, the part holding most of its
records keeps the id and the rest get new ids (history: ``split``). New ids are ``prof_`` + a hash
of the component's smallest record id.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict

import duckdb
import numpy as np
import pandas as pd

HISTORY_COLUMNS = ["profile_id", "change_type", "related_profile_id", "record_count"]


def new_profile_id(anchor_record: str, taken: set[str]) -> str:
    salt = 0
    while True:
        digest = hashlib.md5(f"{anchor_record}|{salt}".encode()).hexdigest()[:16]
        candidate = f"prof_{digest}"
        if candidate not in taken:
            return candidate
        salt += 1


def _first_run(record_ids: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    """Every component is new: ``new_profile_id(smallest record id)`` for each, computed in DuckDB
    (the same MD5 as :func:`new_profile_id`), with the Python loop only if two ids collide."""
    con = duckdb.connect()
    try:
        con.register("comp", pd.DataFrame({"record_id": record_ids, "label": labels}))
        anchors = con.execute(
            "select label, min(record_id::varchar) as anchor, count(*) as n, "
            "'prof_' || substr(md5(min(record_id::varchar) || '|0'), 1, 16) as pid "
            "from comp group by label order by anchor"
        ).fetchnumpy()
    finally:
        con.close()
    pids = np.asarray(anchors["pid"], dtype=object)
    if len(set(pids.tolist())) != len(pids):  # a hash collision: resolve it as new_profile_id does
        taken: set[str] = set()
        for k, a in enumerate(anchors["anchor"].tolist()):
            pids[k] = new_profile_id(a, taken)
            taken.add(pids[k])
    ids = pd.Series(pids, index=anchors["label"]).reindex(labels).to_numpy(dtype=object)
    history = pd.DataFrame({"profile_id": pids, "change_type": "created", "related_profile_id": None,
                            "record_count": np.asarray(anchors["n"], dtype=np.int64)}, columns=HISTORY_COLUMNS)
    return ids, history


def assign_profile_ids(
    record_ids: np.ndarray, labels: np.ndarray, previous: pd.DataFrame | None
) -> tuple[np.ndarray, pd.DataFrame]:
    """record_ids[i] is in component labels[i]; previous: record_id, profile_id (or None).

    Returns (profile id per record, history DataFrame).
    """
    labels = np.asarray(labels)
    if previous is None or not len(previous):
        return _first_run(np.asarray(record_ids, dtype=object), labels)
    record_ids = np.asarray(record_ids).astype(str)
    prev_map = dict(zip(previous["record_id"].astype(str), previous["profile_id"].astype(str)))

    history: list[dict] = []
    comp_of_label: dict = {}
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    groups = np.split(order, bounds) if len(order) else []
    members = {i: g for i, g in enumerate(groups)}
    anchor = {i: min(record_ids[g]) for i, g in members.items()}
    comp_prev: dict[int, Counter] = {}
    claims: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for comp, g in members.items():
        c = Counter(prev_map[r] for r in record_ids[g] if r in prev_map)
        comp_prev[comp] = c
        for pid, k in c.items():
            claims[pid].append((k, comp))
    winner_of = {pid: sorted(c, key=lambda kc: (-kc[0], anchor[kc[1]]))[0][1] for pid, c in claims.items()}
    taken = set(prev_map.values())
    ids = np.empty(len(record_ids), dtype=object)
    for comp in sorted(members, key=lambda c: anchor[c]):
        g = members[comp]
        won = [pid for pid, _ in comp_prev[comp].most_common() if winner_of.get(pid) == comp]
        if won:
            best_k = comp_prev[comp][won[0]]
            pid = sorted(p for p in won if comp_prev[comp][p] == best_k)[0]
            for other in won:
                if other != pid:
                    history.append(dict(profile_id=pid, change_type="merged", related_profile_id=other,
                                        record_count=len(g)))
            new_records = sum(1 for r in record_ids[g] if r not in prev_map)
            if new_records:
                history.append(dict(profile_id=pid, change_type="records_added", related_profile_id=None,
                                    record_count=new_records))
        else:
            pid = new_profile_id(anchor[comp], taken)
            taken.add(pid)
            if comp_prev[comp]:
                for origin in comp_prev[comp]:
                    history.append(dict(profile_id=pid, change_type="split", related_profile_id=origin,
                                        record_count=len(g)))
            else:
                history.append(dict(profile_id=pid, change_type="created", related_profile_id=None,
                                    record_count=len(g)))
        ids[g] = pid
        comp_of_label[comp] = pid
    return ids, pd.DataFrame(history, columns=HISTORY_COLUMNS)
