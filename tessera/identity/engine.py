"""Tessera's identity resolver: normalize, deterministic pass, probabilistic pass (Splink), guards.

    records (role columns) ─▶ normalize (DuckDB SQL + email-validator/phonenumbers on distinct values)
        ─▶ deterministic pass: rules in priority order, blocked values, hub quarantine, per-profile limits
        ─▶ probabilistic pass: Splink on DuckDB (u by random sampling, m by EM, no labels), blocking keys
           with a block-size cap, pairs between different deterministic clusters only
        ─▶ threshold chosen without labels (the model's expected F1), links in descending probability
           through the same union-find, so no profile ever holds conflicting strong identifiers
        ─▶ manual merge/unmerge overrides ─▶ stable profile ids and history

The input is a pandas DataFrame whose columns are roles (see ``tessera.identity.config.ROLES``);
``record_id`` is required, every other role is optional.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache

import duckdb
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from tessera.identity.config import ROLES, ResolverConfig
from tessera.identity.nicknames import is_nickname_match, name_groups
from tessera.identity.normalize import (
    code_sql,
    date_sql,
    fold_sql,
    name_sql,
    normalize_email,
    normalize_phone,
    street_sql,
)
from tessera.identity.stable import assign_profile_ids

log = logging.getLogger(__name__)

ROLE_COL = {"first_name": "fn", "last_name": "ln", "date_of_birth": "dob", "address_line_2": "addr2"}
# the normalized columns the probabilistic pass compares
COMPARE_COLS = ("fn", "ln", "fn_group", "dob", "street", "street_number", "city", "postcode", "national_id", "email",
                "phone")
CODE_ROLES = ("national_id", "customer_id", "loyalty_id", "device_id", "crm_id", "street_number", "postcode")


@dataclass
class Resolution:
    assignments: pd.DataFrame  # record_id, profile_id, source
    history: pd.DataFrame  # profile_id, change_type, related_profile_id, record_count
    quarantined: pd.DataFrame  # id_type, id_value, record_count, reason
    stats: dict
    links: pd.DataFrame = field(default_factory=pd.DataFrame)  # record_id_l, record_id_r, match_probability


class _UnionFind:
    """Union-find whose unions respect per-profile limits on distinct identifier values."""

    def __init__(self, n: int, limits: dict[str, int]):
        self.parent = list(range(n))
        self.size = [1] * n
        self.limits = limits
        self.values: dict[int, dict[str, set]] = {}
        self.refused = 0
        self.refused_by_names = 0

    def add_value(self, i: int, role: str, value) -> None:
        self.values.setdefault(i, {}).setdefault(role, set()).add(value)

    def find(self, i: int) -> int:
        p = self.parent
        root = i
        while p[root] != root:
            root = p[root]
        while p[i] != root:
            p[i], i = root, p[i]
        return root

    def union(self, a: int, b: int, force: bool = False, name_guard: bool = False) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        va, vb = self.values.get(ra), self.values.get(rb)
        if va and vb and not force:
            for role, lim in self.limits.items():
                x, y = va.get(role), vb.get(role)
                if x and y and len(x | y) > lim:
                    self.refused += 1
                    return False
            if name_guard and va.get("__fn") and vb.get("__fn") and not _names_compatible(va, vb):
                self.refused_by_names += 1
                return False
        if self.size[ra] < self.size[rb]:
            ra, rb, va, vb = rb, ra, vb, va
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        if vb:
            if va is None:
                self.values[ra] = vb
            else:
                for role, s in vb.items():
                    va.setdefault(role, set()).update(s)
            del self.values[rb]
        return True

    def labels(self) -> np.ndarray:
        """The root of every element (pointer jumping in numpy, no Python loop)."""
        p = np.asarray(self.parent, dtype=np.int64)
        while True:
            pp = p[p]
            if np.array_equal(pp, p):
                return p
            p = pp

    def union_all(self, a: np.ndarray, b: np.ndarray) -> int:
        """Union every pair (a[k], b[k]) at once, with no limit or name check; the number of merges.

        Only valid while no element carries values (no limits or guards to respect)."""
        assert not self.values
        n = len(self.parent)
        if len(a) == 0:
            return 0
        roots = self.labels()
        before = int((roots == np.arange(n)).sum())
        graph = coo_matrix((np.ones(n + len(a), dtype=np.int8),
                            (np.concatenate([np.arange(n), a]), np.concatenate([roots, b]))), shape=(n, n))
        k, lab = connected_components(graph, directed=False)
        rep = np.full(k, n, dtype=np.int64)
        np.minimum.at(rep, lab, np.arange(n, dtype=np.int64))
        self.parent = rep[lab].tolist()
        counts = np.bincount(lab, minlength=k)
        size = np.ones(n, dtype=np.int64)
        size[rep] = counts
        self.size = size.tolist()
        return before - k


@lru_cache(maxsize=200_000)
def first_names_compatible(a: str, b: str) -> bool:
    """Could these two normalized first names be one person's? Equal, an initial of the other, a
    nickname (Bob and Robert), or a close spelling (a typo)."""
    if a == b:
        return True
    if len(a) == 1 or len(b) == 1:
        return a[0] == b[0]
    if is_nickname_match(a, b):
        return True
    return SequenceMatcher(None, a, b).ratio() >= 0.75


def _names_compatible(va: dict, vb: dict) -> bool:
    """Some first name of one side fits some first name (or, for swapped names, surname) of the other."""
    fa, fb = va.get("__fn", ()), vb.get("__fn", ())
    la, lb = va.get("__ln", set()), vb.get("__ln", set())
    return any(first_names_compatible(x, y) for x in fa for y in (fb | lb)) or any(
        first_names_compatible(x, y) for x in la for y in fb)


def _present(df: pd.DataFrame, role: str) -> bool:
    return role in df.columns and bool(df[role].notna().any())


def _normalize(con: duckdb.DuckDBPyConnection, df: pd.DataFrame, config: ResolverConfig) -> list[str]:
    """Create table ``recs`` (idx, record_id, source, normalized roles, fn_group) and return present roles.

    Every text role is normalized once per distinct raw value (a map table), then joined back: real
    inputs repeat names, streets, cities and dates many times, so this is several times faster than
    normalizing every row.
    """
    present = [r for r in ROLES if _present(df, r)]
    src = pd.DataFrame({r: df[r] for r in ROLES if r in df.columns})
    src.insert(0, "__idx", np.arange(len(df), dtype=np.int64))
    con.register("src_df", src)
    have = set(src.columns)

    def raw(role: str) -> str:
        return f"src_df.{role}::varchar" if role in have else "null::varchar"

    con.execute(
        "create or replace temp table raw_recs as select __idx as idx, "
        + ", ".join(f"{raw(r)} as {r}" for r in ROLES if r != "updated_at")
        + (", try_cast(src_df.updated_at as timestamp) as updated_at" if "updated_at" in have
           else ", null::timestamp as updated_at")
        + " from src_df"
    )
    con.unregister("src_df")

    # maps from a distinct raw value to its normalized value(s)
    full_first = ("case when contains(v, ',') then string_split(trim(" + fold_sql("split_part(v, chr(44), 2)")
                  + "), ' ')[1] else string_split(" + fold_sql("v") + ", ' ')[1] end")
    full_last = ("case when contains(v, ',') then " + name_sql("split_part(v, chr(44), 1)")
                 + " when len(string_split(" + fold_sql("v") + ", ' ')) > 1 then string_split("
                 + fold_sql("v") + ", ' ')[-1] end")
    sql_maps = {  # role -> {output column: expression of v}
        "first_name": {"fn0": name_sql("v")},
        "last_name": {"ln0": name_sql("v")},
        "full_name": {"full_fn": full_first, "full_ln": full_last},
        "date_of_birth": {"dob": date_sql("v", config.date_order)},
        "street": {"street": street_sql("v")},
        "address_line_2": {"addr2": street_sql("v")},
        "city": {"city": fold_sql("v")},
        "state": {"state": fold_sql("v")},
        "country": {"country": fold_sql("v")},
    }
    for r in CODE_ROLES:
        sql_maps[r] = {r: code_sql("v")}
    joins, cols = [], {}
    for role, outs in sql_maps.items():
        if role not in present:
            for out in outs:
                cols[out] = "null::varchar" if out != "dob" else "null::date"
            continue
        con.execute(f"create or replace temp table map_{role} as select v, "
                    + ", ".join(f"{e} as {o}" for o, e in outs.items())
                    + f" from (select distinct {role} as v from raw_recs where {role} is not null)")
        joins.append(f"left join map_{role} on map_{role}.v = r.{role}")
        for out in outs:
            cols[out] = f"map_{role}.{out}"
    # emails and phones through their libraries, once per distinct value
    for role, fn in (("email", lambda v: normalize_email(v, config.email_provider_rules)),
                     ("phone", lambda v: normalize_phone(v, config.default_region))):
        if role not in present:
            cols[role] = "null::varchar"
            continue
        vals = [v for (v,) in con.execute(f"select distinct {role} from raw_recs where {role} is not null").fetchall()]
        m = pd.DataFrame({"v": vals, role: [fn(v) for v in vals]}, columns=["v", role]).astype(object)
        con.register(f"map_{role}_df", m)
        con.execute(f"create or replace temp table map_{role} as select v::varchar as v, {role}::varchar as {role} "
                    f"from map_{role}_df")
        con.unregister(f"map_{role}_df")
        joins.append(f"left join map_{role} on map_{role}.v = r.{role}")
        cols[role] = f"map_{role}.{role}"
    cols["fn"] = f"coalesce({cols.pop('fn0')}, {cols.pop('full_fn')})"
    cols["ln"] = f"coalesce({cols.pop('ln0')}, {cols.pop('full_ln')})"
    # name groups (nicknames) for every distinct normalized first name
    fn_sources = ["select fn0 as fn from map_first_name"] if "first_name" in present else []
    if "full_name" in present:
        fn_sources.append("select full_fn as fn from map_full_name")
    fn_vals = [v for (v,) in con.execute(
        f"select distinct fn from ({' union all '.join(fn_sources)}) where fn is not null").fetchall()
    ] if fn_sources else []
    groups = name_groups()
    fn_map = pd.DataFrame({"fn": fn_vals or ["\x00"],  # "\x00" keeps the column types when there are no names
                           "fn_group": [sorted(groups.get(v, {v})) for v in fn_vals or ["\x00"]]})
    con.register("fn_map", fn_map)
    con.execute(
        "create or replace temp table recs as select r.idx, r.record_id, coalesce(r.source, 'input') as source, "
        "r.updated_at, " + ", ".join(f"{e} as {c}" for c, e in cols.items())
        + f", coalesce(fn_map.fn_group, case when {cols['fn']} is not null then [{cols['fn']}] end) as fn_group "
        "from raw_recs r " + " ".join(joins) + f" left join fn_map on fn_map.fn = {cols['fn']}"
    )
    con.unregister("fn_map")
    con.execute("drop table raw_recs")
    for role in sql_maps.keys() | {"email", "phone"}:
        con.execute(f"drop table if exists map_{role}")
    return present


def _value_expr(roles: tuple[str, ...]) -> str:
    cols = [ROLE_COL.get(r, r) for r in roles]
    if len(cols) == 1:
        return f"{cols[0]}::varchar"
    return "case when " + " and ".join(f"{c} is not null" for c in cols) + " then concat_ws('|', " + ", ".join(
        f"{c}::varchar" for c in cols) + ") end"


def _deterministic(con, uf: _UnionFind, config: ResolverConfig, present: list[str]) -> tuple[int, list[dict]]:
    quarantined: list[dict] = []
    links = 0
    for rule in config.rules:
        if not all(r in present or r in ("first_name", "last_name") for r in rule):
            continue
        expr = _value_expr(rule)
        name = "+".join(rule)
        con.execute(
            f"create or replace temp table rule_groups as select v, count(*) as n, list(idx) as idxs "
            f"from (select {expr} as v, idx from recs) where v is not null group by v having count(*) > 1"
        )
        usable = []
        for value, n in con.execute("select v, n from rule_groups").fetchall():
            if len(rule) == 1 and config.is_blocked(rule[0], value):
                quarantined.append(dict(id_type=name, id_value=value, record_count=n, reason="blocked value"))
            elif n > config.max_records_per_value:
                quarantined.append(dict(id_type=name, id_value=value, record_count=n,
                                        reason=f"shared by more than {config.max_records_per_value} records"))
            else:
                usable.append(value)
        keep = pd.DataFrame({"v": pd.Series(usable, dtype=object)})
        con.register("usable_values", keep)
        guard = len(rule) == 1 and rule[0] in config.name_guard
        if not uf.values and not guard:
            # nothing to check per union: all edges at once
            e = con.execute(
                "select list_extract(idxs, 1) as a, unnest(list_slice(idxs, 2, len(idxs))) as b "
                "from rule_groups semi join usable_values using (v)"
            ).fetchnumpy()
            links += uf.union_all(e["a"].astype(np.int64), e["b"].astype(np.int64))
        else:
            for (idxs,) in con.execute("select idxs from rule_groups semi join usable_values using (v)").fetchall():
                first = idxs[0]
                for other in idxs[1:]:
                    if uf.find(first) != uf.find(other) and uf.union(first, other, name_guard=guard):
                        links += 1
        con.unregister("usable_values")
    con.execute("drop table if exists rule_groups")
    return links, quarantined


# --- probabilistic pass -----------------------------------------------------------------------------

def _blocking_keys(present: set[str]) -> dict[str, list[str]]:
    """Blocking rules on normalized columns, each a list of columns that must all be equal."""
    rules = {
        "bk_ln_dob": ["ln", "dob"],
        "bk_fn_dob": ["fn", "dob"],
        "bk_fn_ln_pc": ["fn", "ln", "postcode"],
        "bk_dob_pc": ["dob", "postcode"],
        "bk_no_st_pc": ["street_number", "street", "postcode"],
        "bk_fn_ln_no": ["fn", "ln", "street_number"],
        "bk_fn_ln_city": ["fn", "ln", "city"],
        "bk_dob_city": ["dob", "city"],
        "bk_no_st_city": ["street_number", "street", "city"],
        "bk_ln_pc": ["ln", "postcode"],
        "bk_nid": ["national_id"],
        "bk_email": ["email"],
        "bk_phone": ["phone"],
    }
    return {k: v for k, v in rules.items() if all(c in present for c in v)}


def _comparisons(present: set[str]):
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    def C(sql: str, label: str | None = None):
        # Splink's custom levels name the two sides col_l and col_r
        return cll.CustomLevel(re.sub(r"\b([lr])\.([a-z_]+)", r"\2_\1", sql), label)

    comps = []
    if {"fn", "ln"} & present:
        comps.append(cl.CustomComparison(output_column_name="name", comparison_levels=[
            C("(l.fn is null or r.fn is null) and (l.ln is null or r.ln is null)").configure(is_null_level=True),
            C("l.fn = r.fn and l.ln = r.ln", "exact"),
            C("l.fn = r.ln and l.ln = r.fn", "swapped"),
            C("l.ln = r.ln and list_has_any(l.fn_group, r.fn_group)", "surname, nickname"),
            C("l.ln = r.ln and jaro_winkler_similarity(l.fn, r.fn) >= 0.9", "surname, first name typo"),
            C("l.fn = r.fn and jaro_winkler_similarity(l.ln, r.ln) >= 0.9", "first name, surname typo"),
            C("l.ln = r.ln and (length(l.fn) = 1 or length(r.fn) = 1) and l.fn[1] = r.fn[1]", "surname, initial"),
            C("l.ln = r.ln and (l.fn is null or r.fn is null)", "surname, first name missing"),
            C("l.fn = r.fn and (l.ln is null or r.ln is null)", "first name, surname missing"),
            C("jaro_winkler_similarity(l.fn, r.fn) >= 0.88 and jaro_winkler_similarity(l.ln, r.ln) >= 0.88",
              "both close"),
            C("l.ln = r.ln", "surname only"),
            C("l.fn = r.fn or jaro_winkler_similarity(l.ln, r.fn) >= 0.9 and jaro_winkler_similarity(l.fn, r.ln) >= 0.9",
              "first name only or swapped with typo"),
            cll.ElseLevel(),
        ]))
    if "dob" in present:
        comps.append(cl.CustomComparison(output_column_name="dob", comparison_levels=[
            cll.NullLevel("dob"),
            C("l.dob = r.dob", "exact"),
            C("year(l.dob) = year(r.dob) and month(l.dob) = day(r.dob) and day(l.dob) = month(r.dob)",
              "day and month swapped"),
            C("damerau_levenshtein(strftime(l.dob, '%Y%m%d'), strftime(r.dob, '%Y%m%d')) <= 1", "one digit"),
            C("abs(date_diff('day', l.dob, r.dob)) <= 366", "within a year"),
            cll.ElseLevel(),
        ]))
    if "street" in present or "street_number" in present:
        comps.append(cl.CustomComparison(output_column_name="address", comparison_levels=[
            C("l.street is null or r.street is null").configure(is_null_level=True),
            C("l.street = r.street and l.street_number = r.street_number", "exact"),
            C("l.street = r.street and (l.street_number is null or r.street_number is null)", "street, no number"),
            C("jaro_winkler_similarity(l.street, r.street) >= 0.9 and l.street_number = r.street_number",
              "street typo, number"),
            C("l.street = r.street and damerau_levenshtein(l.street_number, r.street_number) <= 1",
              "street, number typo"),
            C("jaro_winkler_similarity(l.street, r.street) >= 0.9", "street close"),
            cll.ElseLevel(),
        ]))
    if {"postcode", "city"} <= present:
        # one comparison for the locality: postcode and city name the same place, so scoring them
        # as two independent pieces of evidence would count one agreement twice
        comps.append(cl.CustomComparison(output_column_name="locality", comparison_levels=[
            C("(l.postcode is null or r.postcode is null) and (l.city is null or r.city is null)").configure(
                is_null_level=True),
            C("l.postcode = r.postcode and l.city = r.city", "postcode and city"),
            C("l.postcode = r.postcode and (l.city is null or r.city is null "
              "or jaro_winkler_similarity(l.city, r.city) >= 0.9)", "postcode, city close or missing"),
            C("l.city = r.city and (l.postcode is null or r.postcode is null "
              "or damerau_levenshtein(l.postcode, r.postcode) <= 1)", "city, postcode one character or missing"),
            C("l.postcode = r.postcode or l.city = r.city", "postcode or city"),
            C("damerau_levenshtein(l.postcode, r.postcode) <= 1 and jaro_winkler_similarity(l.city, r.city) >= 0.9",
              "both close"),
            cll.ElseLevel(),
        ]))
    elif "postcode" in present:
        comps.append(cl.CustomComparison(output_column_name="postcode", comparison_levels=[
            cll.NullLevel("postcode"),
            C("l.postcode = r.postcode", "exact"),
            C("damerau_levenshtein(l.postcode, r.postcode) <= 1", "one character"),
            cll.ElseLevel(),
        ]))
    elif "city" in present:
        comps.append(cl.CustomComparison(output_column_name="city", comparison_levels=[
            cll.NullLevel("city"),
            C("l.city = r.city", "exact"),
            C("jaro_winkler_similarity(l.city, r.city) >= 0.9", "close"),
            cll.ElseLevel(),
        ]))
    if "national_id" in present:
        comps.append(cl.CustomComparison(output_column_name="national_id", comparison_levels=[
            cll.NullLevel("national_id"),
            C("l.national_id = r.national_id", "exact"),
            C("damerau_levenshtein(l.national_id, r.national_id) <= 1", "one character"),
            cll.ElseLevel(),
        ]))
    for role in ("email", "phone"):
        if role in present:
            comps.append(cl.CustomComparison(output_column_name=role, comparison_levels=[
                cll.NullLevel(role),
                C(f"l.{role} = r.{role}", "exact"),
                cll.ElseLevel(),
            ]))
    return comps


# deterministic rules for the prior (the share of pairs that match), assumed to find 80% of matches
PRIOR_RULES = (("fn", "ln", "dob"), ("fn", "ln", "postcode"), ("fn", "ln", "street"), ("national_id",), ("email",),
               ("phone",))
# candidate EM blocks, most informative first; each must leave some comparison free to train
EM_BLOCKS = (("fn", "ln"), ("dob", "postcode"), ("dob", "city"), ("street", "postcode"), ("email",), ("phone",),
             ("national_id",), ("dob",))


def _comparison_columns(comp) -> set[str]:
    """The input columns a comparison reads (from its levels' SQL: ``fn_l``, ``dob_r`` ...)."""
    sql = " ".join(lvl.sql_condition for lvl in comp.get_comparison("duckdb").comparison_levels)
    return set(re.findall(r"\b([a-z_]+)_[lr]\b", sql))


def _em_blocks(pres: set[str], comps, has_pairs=lambda block: True) -> list[tuple[str, ...]]:
    """EM blocking rules (column tuples) that together train every comparison at least once.

    ``has_pairs(block)`` says whether the block yields any pair: a session on an empty block fails
    inside Splink and leaves its settings without comparisons, so such blocks are skipped."""
    cols = {c.create_output_column_name(): _comparison_columns(c) for c in comps}
    untrained = set(cols)
    chosen = []
    for block in EM_BLOCKS:
        if not untrained or len(chosen) == 3:
            break
        if not set(block) <= pres:
            continue
        trains = {name for name in untrained if not cols[name] & set(block)}
        if trains and has_pairs(block):
            chosen.append(block)
            untrained -= trains
    return chosen


def choose_threshold(p: np.ndarray, lo: float = 0.5, hi: float = 0.995) -> float:
    """The match-probability threshold that maximizes the model's own expected pairwise F1.

    With calibrated probabilities, pairs above t contribute p expected true and 1-p expected false
    matches, pairs below contribute p expected missed matches. No labels are used.
    """
    if len(p) == 0:
        return lo
    s = np.sort(p)[::-1]
    etp = np.cumsum(s)
    efp = np.cumsum(1 - s)
    efn = s.sum() - etp
    f1 = 2 * etp / (2 * etp + efp + efn)
    ok = (s >= lo) & (s <= hi)
    if not ok.any():
        return lo if s[0] >= lo else hi
    i = int(np.argmax(np.where(ok, f1, -1)))
    return float(min(max(s[i], lo), hi))


def _key_arrays(col) -> tuple[np.ndarray, np.ndarray]:
    """(values, valid) of a fetched key column (a numpy masked array where it has nulls)."""
    values = np.ma.getdata(col).astype(np.uint64, copy=False)
    return values, ~np.ma.getmaskarray(col)


def _pairable(values: np.ndarray, valid: np.ndarray, det: np.ndarray, cap: int) -> np.ndarray:
    """Rows whose key value is shared by 2..cap rows spanning more than one deterministic cluster."""
    rows = np.flatnonzero(valid)
    keep = np.zeros(len(values), dtype=bool)
    if len(rows) < 2:
        return keep
    codes, uniques = pd.factorize(values[rows])  # hashing, no sort
    counts = np.bincount(codes, minlength=len(uniques))
    d = det[rows]
    lo = np.full(len(uniques), np.iinfo(np.int64).max, dtype=np.int64)
    hi = np.full(len(uniques), -1, dtype=np.int64)
    np.minimum.at(lo, codes, d)
    np.maximum.at(hi, codes, d)
    useful = (counts >= 2) & (counts <= cap) & (lo != hi)
    keep[rows] = useful[codes]
    return keep


def _pairs_sharing(con, cols: tuple[str, ...]) -> int:
    """Record pairs that agree on every column of ``cols`` (none of them null)."""
    return int(con.execute(
        "select coalesce(sum(n * (n - 1) // 2), 0) from (select count(*) as n from recs where "
        + " and ".join(f"{c} is not null" for c in cols) + f" group by {', '.join(cols)})").fetchall()[0][0])


def _values_at_most(values: np.ndarray, valid: np.ndarray, cap: int) -> np.ndarray:
    """The distinct valid values carried by at most cap rows."""
    u, counts = np.unique(values[valid], return_counts=True)
    return u[counts <= cap]


def _probabilistic(con, uf: _UnionFind, config: ResolverConfig, present: list[str], timings: dict) -> dict:
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.WARNING)
    t0 = time.perf_counter()
    labels = uf.labels()
    pres = {ROLE_COL.get(r, r) for r in present}
    if "full_name" in present:
        pres |= {"fn", "ln"}
    keys = _blocking_keys(pres)
    cap = config.max_block_size
    key_exprs = [(name, "case when " + " and ".join(f"{c} is not null" for c in cols) + " then hash("
                  + ", ".join(cols) + ") end") for name, cols in keys.items()]
    blocking = [f"l.{n} = r.{n} and l.det <> r.det" for n, _ in key_exprs]
    if {"fn", "ln"} <= pres:
        # swapped first and last names: one side's (first, last) is the other's (last, first)
        key_exprs += [("bk_fnln", "case when fn is not null and ln is not null then hash(fn, ln) end"),
                      ("bk_lnfn", "case when fn is not null and ln is not null then hash(ln, fn) end")]
        blocking.append("l.bk_fnln = r.bk_lnfn and l.det <> r.det")
    if not key_exprs:
        return {"probabilistic_links": 0, "threshold": None, "candidate_pairs": 0}
    # Keep a key value only where it can make a pair: a block of more than one deterministic cluster
    # and at most max_block_size records (a bigger block generates no pairs: stays tractable).
    # Singleton and single-cluster blocks are most of them, so Splink's joins see far fewer rows.
    raw_keys = con.execute("select " + ", ".join(f"{e} as {n}" for n, e in key_exprs) + " from recs order by idx"
                           ).fetchnumpy()
    pruned = {"idx": np.arange(len(labels), dtype=np.int64), "det": labels}
    for n, _ in key_exprs:
        if n not in ("bk_fnln", "bk_lnfn"):
            values, valid = _key_arrays(raw_keys[n])
            pruned[n] = pd.arrays.IntegerArray(values, ~_pairable(values, valid, labels, cap))
    if "bk_fnln" in raw_keys:
        (fl, fl_ok), (lf, lf_ok) = _key_arrays(raw_keys["bk_fnln"]), _key_arrays(raw_keys["bk_lnfn"])
        ok = fl_ok & lf_ok & (fl != lf)  # a name whose first and last parts are equal cannot be swapped
        both = np.intersect1d(_values_at_most(fl, ok, cap), _values_at_most(lf, ok, cap), assume_unique=True)
        pruned["bk_fnln"] = pd.arrays.IntegerArray(fl, ~(ok & np.isin(fl, both)))
        pruned["bk_lnfn"] = pd.arrays.IntegerArray(lf, ~(ok & np.isin(lf, both)))
    con.register("keys_df", pd.DataFrame(pruned))
    # only what the comparisons and blocking read: a narrow table keeps Splink's joins cheap
    con.execute(
        "create or replace temp table prob_recs as select k.idx, k.det, "
        + ", ".join(f"r.{c}" for c in COMPARE_COLS) + ", " + ", ".join(f"k.{n}" for n, _ in key_exprs)
        + " from recs r join keys_df k on k.idx = r.idx"
    )
    con.unregister("keys_df")
    timings["blocking_keys"] = time.perf_counter() - t0
    comps = _comparisons(pres)
    if len(comps) < 2:
        return {"probabilistic_links": 0, "threshold": None, "candidate_pairs": 0}
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="idx",
        comparisons=comps,
        blocking_rules_to_generate_predictions=blocking,
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
        additional_columns_to_retain=[],
    )
    db_api = DuckDBAPI(connection=con)
    linker = Linker(db_api.register("prob_recs"), settings, log_level=40)
    # rules that find some pairs on this input (a rule with none would make the prior 0, and every
    # match weight minus infinity); with none, or with a prior that would reach 1, Splink's default stays
    n_pairs = len(labels) * (len(labels) - 1) / 2
    counted = []
    for c in PRIOR_RULES:
        if len(counted) < 2 and set(c) <= pres and (k := _pairs_sharing(con, c)) > 0:
            counted.append((c, k))
    if counted and sum(k for _, k in counted) / 0.8 < n_pairs:
        linker.training.estimate_probability_two_random_records_match([block_on(*c) for c, _ in counted],
                                                                       recall=0.8)
    else:
        log.info("prior not estimated; Splink's default is used")
    timings["train_prior"] = time.perf_counter() - t0 - timings["blocking_keys"]
    linker.training.estimate_u_using_random_sampling(max_pairs=3e5, seed=1, min_count_per_level=None, num_chunks=1)
    timings["train_u"] = time.perf_counter() - t0 - timings["blocking_keys"] - timings["train_prior"]
    # m by EM. Each session blocks on real columns, so Splink knows which comparisons the block
    # fixes and trains only the others; sessions are added until every comparison was trained once.
    for cols in _em_blocks(pres, comps, lambda block: _pairs_sharing(con, block) > 0):
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(*cols), estimate_without_term_frequencies=True, max_pairs=config.em_max_pairs)
        except Exception as exc:  # noqa: BLE001 - e.g. a block with no pairs in a tiny input
            log.info("EM blocked on %s failed: %s", cols, exc)
    timings["train_em"] = time.perf_counter() - t0 - timings["train_u"] - timings["train_prior"] - timings["blocking_keys"]
    t1 = time.perf_counter()
    preds = linker.inference.predict(threshold_match_probability=0.05)
    pairs = con.execute(
        f"select idx_l, idx_r, match_probability from {preds.physical_name} order by match_probability desc"
    ).fetchnumpy()
    timings["predict"] = time.perf_counter() - t1
    p = pairs["match_probability"].astype(float)
    threshold = config.threshold if config.threshold is not None else choose_threshold(p)
    keep = p >= threshold
    if not uf.values:  # no limits to respect: every link at once
        links = uf.union_all(pairs["idx_l"][keep].astype(np.int64), pairs["idx_r"][keep].astype(np.int64))
    else:  # strongest first, so a limit refuses the weakest link of a would-be conflicting cluster
        links = 0
        for a, b in zip(pairs["idx_l"][keep].tolist(), pairs["idx_r"][keep].tolist()):
            if uf.find(a) != uf.find(b) and uf.union(a, b):
                links += 1
    return {
        "probabilistic_links": links,
        "threshold": threshold,
        "candidate_pairs": int(len(p)),
        "pairs_above_threshold": int(keep.sum()),
        "blocking_keys": list(keys) + (["swapped names"] if {"fn", "ln"} <= pres else []),
        "_pairs": (pairs["idx_l"][keep], pairs["idx_r"][keep], p[keep]),
    }


def resolve(df: pd.DataFrame, config: ResolverConfig, previous: pd.DataFrame | None = None) -> Resolution:
    """Resolve records (columns named by role) into profiles."""
    if "record_id" not in df.columns:
        raise ValueError("the input has no record_id column (map one with columns: <name>: record_id)")
    if df["record_id"].isna().any():
        raise ValueError("record_id is empty in some rows")
    if df["record_id"].astype(str).duplicated().any():
        dup = df["record_id"][df["record_id"].astype(str).duplicated()].iloc[0]
        raise ValueError(f"record_id is not unique: {dup!r} appears more than once")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    con = duckdb.connect()
    try:
        present = _normalize(con, df.reset_index(drop=True), config)
        timings["normalize"] = time.perf_counter() - t0
        n = len(df)
        rec = con.execute("select record_id, source from recs order by idx").fetchnumpy()
        record_ids = rec["record_id"].astype(str)
        sources = rec["source"].astype(str)
        # record id -> position, only for the ids the manual overrides name
        named = {r for pair in config.unmerge for r in pair} | {r for group in config.merge for r in group}
        index = {r: i for i, r in enumerate(record_ids) if r in named} if named else {}
        uf = _UnionFind(n, dict(config.limits))
        for role in config.limits:
            col = ROLE_COL.get(role, role)
            if role not in present:
                continue
            for i, v in con.execute(f"select idx, {col}::varchar from recs where {col} is not null").fetchall():
                if not config.is_blocked(role, v):
                    uf.add_value(i, role, v)
        if any(r in present for r in config.name_guard):
            for i, fn, ln in con.execute("select idx, fn, ln from recs where fn is not null").fetchall():
                uf.add_value(i, "__fn", fn)
                if ln:
                    uf.add_value(i, "__ln", ln)
        for k, (a, b) in enumerate(config.unmerge):
            if a in index and b in index:
                uf.limits[f"__unmerge_{k}"] = 1
                uf.add_value(index[a], f"__unmerge_{k}", "a")
                uf.add_value(index[b], f"__unmerge_{k}", "b")
        t1 = time.perf_counter()
        det_links, quarantined = _deterministic(con, uf, config, present)
        refused_det = uf.refused
        timings["deterministic"] = time.perf_counter() - t1
        prob: dict = {"probabilistic_links": 0, "threshold": None, "candidate_pairs": 0}
        if config.probabilistic and n > 1:
            prob = _probabilistic(con, uf, config, present, timings)
        forced = 0
        for group in config.merge:
            ids = [index[r] for r in group if r in index]
            for other in ids[1:]:
                if uf.find(ids[0]) != uf.find(other):
                    uf.union(ids[0], other, force=True)
                    forced += 1
        labels = uf.labels()
    finally:
        con.close()
    t2 = time.perf_counter()
    profile_ids, history = assign_profile_ids(record_ids, labels, previous)
    timings["stable_ids"] = time.perf_counter() - t2
    assignments = pd.DataFrame({"record_id": record_ids, "profile_id": profile_ids, "source": sources})
    sizes = assignments.groupby("profile_id").size().sort_values(ascending=False)
    kinds = history["change_type"].value_counts().to_dict() if len(history) else {}
    q = pd.DataFrame(quarantined, columns=["id_type", "id_value", "record_count", "reason"])
    links = pd.DataFrame(columns=["record_id_l", "record_id_r", "match_probability"])
    if "_pairs" in prob:
        li, ri, pp = prob.pop("_pairs")
        links = pd.DataFrame({"record_id_l": record_ids[li], "record_id_r": record_ids[ri], "match_probability": pp})
    oversized = sizes[sizes > config.max_cluster_size]
    timings["total"] = time.perf_counter() - t0
    stats = {
        "records_in": int(n),
        "profiles_out": int(len(sizes)),
        "multi_record_profiles": int((sizes > 1).sum()),
        "deterministic_links": int(det_links),
        "probabilistic_links": int(prob.get("probabilistic_links", 0)),
        "manual_merges": int(forced),
        "links_refused_by_limits": int(uf.refused),
        "links_refused_by_limits_deterministic": int(refused_det),
        "links_refused_by_name_guard": int(uf.refused_by_names),
        "threshold": prob.get("threshold"),
        "candidate_pairs": int(prob.get("candidate_pairs", 0)),
        "profiles_created": int(kinds.get("created", 0)),
        "merges": int(kinds.get("merged", 0)),
        "splits": int(kinds.get("split", 0)),
        "hub_values_quarantined": int((q["reason"] != "blocked value").sum()) if len(q) else 0,
        "blocked_values_seen": int((q["reason"] == "blocked value").sum()) if len(q) else 0,
        "clusters_over_size_limit": [{"profile_id": p, "records": int(k)} for p, k in oversized.head(20).items()],
        "largest_clusters": [{"profile_id": p, "records": int(k)} for p, k in sizes.head(5).items()],
        "roles_used": present,
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
    }
    return Resolution(assignments, history, q, stats, links)
