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
        return np.fromiter((self.find(i) for i in range(len(self.parent))), dtype=np.int64, count=len(self.parent))


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
    """Create table ``recs`` (idx, record_id, source, normalized roles, fn_group) and return present roles."""
    present = [r for r in ROLES if _present(df, r)]
    src = df[[c for c in df.columns if c in ROLES]].copy()
    for r in ROLES:
        if r not in src.columns:
            src[r] = None
    for r in ROLES:
        if r not in ("updated_at",) and src[r].dtype != object and not pd.api.types.is_string_dtype(src[r]):
            src[r] = src[r].astype("string")
    con.register("src_df", src)
    full = "src_df.full_name::varchar"
    full_first = (f"case when contains({full}, ',') then string_split(trim({fold_sql(f'split_part({full}, chr(44), 2)')}), ' ')[1] "
                  f"else string_split({fold_sql(full)}, ' ')[1] end")
    full_last = (f"case when contains({full}, ',') then {name_sql(f'split_part({full}, chr(44), 1)')} "
                 f"when len(string_split({fold_sql(full)}, ' ')) > 1 then string_split({fold_sql(full)}, ' ')[-1] end")
    exprs = {
        "fn": f"coalesce({name_sql('src_df.first_name')}, {full_first})",
        "ln": f"coalesce({name_sql('src_df.last_name')}, {full_last})",
        "dob": date_sql("src_df.date_of_birth", config.date_order),
        "street": street_sql("src_df.street"),
        "addr2": street_sql("src_df.address_line_2"),
        "city": fold_sql("src_df.city"),
        "state": fold_sql("src_df.state"),
        "country": fold_sql("src_df.country"),
    }
    for r in CODE_ROLES:
        exprs[r] = code_sql(f"src_df.{r}")
    select = ", ".join(f"{e} as {k}" for k, e in exprs.items())
    con.execute(
        "create or replace temp table recs0 as select (row_number() over () - 1)::bigint as idx, "
        "src_df.record_id::varchar as record_id, coalesce(src_df.source::varchar, 'input') as source, "
        f"try_cast(src_df.updated_at as timestamp) as updated_at, src_df.email::varchar as email_raw, "
        f"src_df.phone::varchar as phone_raw, {select} from src_df"
    )
    con.unregister("src_df")
    # emails and phones through their libraries, once per distinct value
    for role, fn in (("email", lambda v: normalize_email(v, config.email_provider_rules)),
                     ("phone", lambda v: normalize_phone(v, config.default_region))):
        vals = [v for (v,) in con.execute(f"select distinct {role}_raw from recs0 where {role}_raw is not null").fetchall()]
        m = pd.DataFrame({"raw": vals, "norm": [fn(v) for v in vals]}, columns=["raw", "norm"]).astype(object)
        con.register(f"{role}_map", m)
    groups = name_groups()
    fn_vals = [v for (v,) in con.execute("select distinct fn from recs0 where fn is not null").fetchall()]
    if not fn_vals:
        fn_vals = ["\x00"]  # keeps the column types when no record has a first name
    fn_map = pd.DataFrame({"fn": fn_vals, "fn_group": [sorted(groups.get(v, {v})) for v in fn_vals]})
    con.register("fn_map", fn_map)
    con.execute(
        "create or replace temp table recs as select r.* exclude (email_raw, phone_raw), e.norm as email, "
        "p.norm as phone, coalesce(f.fn_group, case when r.fn is not null then [r.fn] end) as fn_group "
        "from recs0 r left join email_map e on e.raw = r.email_raw left join phone_map p on p.raw = r.phone_raw "
        "left join fn_map f on f.fn = r.fn order by r.idx"
    )
    for t in ("email_map", "phone_map", "fn_map"):
        con.unregister(t)
    con.execute("drop table recs0")
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
        rows = con.execute(
            f"select v, list(idx) from (select {expr} as v, idx from recs) where v is not null group by v "
            "having count(*) > 1"
        ).fetchall()
        for value, idxs in rows:
            if len(rule) == 1 and config.is_blocked(rule[0], value):
                quarantined.append(dict(id_type=name, id_value=value, record_count=len(idxs), reason="blocked value"))
                continue
            if len(idxs) > config.max_records_per_value:
                quarantined.append(dict(id_type=name, id_value=value, record_count=len(idxs),
                                        reason=f"shared by more than {config.max_records_per_value} records"))
                continue
            guard = len(rule) == 1 and rule[0] in config.name_guard
            first = idxs[0]
            for other in idxs[1:]:
                if uf.union(first, other, name_guard=guard):
                    links += 1
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
        "bk_ln_fn_swap": ["lnfn"],
        "bk_nid": ["national_id"],
        "bk_email": ["email"],
        "bk_phone": ["phone"],
        "bk_fn_ln": ["fn", "ln"],
    }
    have = {"fn", "ln", "lnfn"} & {"fn", "ln", "lnfn"}
    avail = set(present) | have
    return {k: v for k, v in rules.items() if all(c in avail for c in v)}


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


# candidate EM blocks, most informative first; each must leave some comparison free to train
EM_BLOCKS = (("fn", "ln"), ("dob", "postcode"), ("dob", "city"), ("street", "postcode"), ("email",), ("phone",),
             ("national_id",), ("dob",))


def _comparison_columns(comp) -> set[str]:
    """The input columns a comparison reads (from its levels' SQL: ``fn_l``, ``dob_r`` ...)."""
    sql = " ".join(lvl.sql_condition for lvl in comp.get_comparison("duckdb").comparison_levels)
    return set(re.findall(r"\b([a-z_]+)_[lr]\b", sql))


def _em_blocks(pres: set[str], comps) -> list[tuple[str, ...]]:
    """EM blocking rules (column tuples) that together train every comparison at least once."""
    cols = {c.create_output_column_name(): _comparison_columns(c) for c in comps}
    untrained = set(cols)
    chosen = []
    for block in EM_BLOCKS:
        if not untrained or len(chosen) == 3:
            break
        if not set(block) <= pres:
            continue
        trains = {name for name in untrained if not cols[name] & set(block)}
        if trains:
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


def _probabilistic(con, uf: _UnionFind, config: ResolverConfig, present: list[str], timings: dict) -> dict:
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.WARNING)
    t0 = time.perf_counter()
    labels = uf.labels()
    con.register("det_df", pd.DataFrame({"idx": np.arange(len(labels), dtype=np.int64), "det": labels}))
    pres = {ROLE_COL.get(r, r) for r in present}
    if "full_name" in present:
        pres |= {"fn", "ln"}
    keys = _blocking_keys(pres)
    if not {"fn", "ln"} <= pres:
        keys.pop("bk_ln_fn_swap", None)
    cap = config.max_block_size
    key_exprs = []
    for name, cols in keys.items():
        if cols == ["lnfn"]:
            e = "case when fn is not null and ln is not null then hash(least(fn, ln), greatest(fn, ln)) end"
        else:
            e = ("case when " + " and ".join(f"{c} is not null" for c in cols) + " then hash("
                 + ", ".join(cols) + ") end")
        key_exprs.append((name, e))
    inner = ", ".join(f"{e} as {n}" for n, e in key_exprs)
    con.execute(f"create or replace temp table prob_keys as select r.*, d.det, {inner} from recs r join det_df d using (idx)")
    # a blocking key shared by more than max_block_size records generates no pairs (stays tractable)
    outer = []
    for n, _ in key_exprs:
        con.execute(f"create or replace temp table big_{n} as select {n} as k from prob_keys where {n} is not null "
                    f"group by {n} having count(*) > {cap}")
        if con.execute(f"select count(*) from big_{n}").fetchone()[0]:
            outer.append(f"case when {n} in (select k from big_{n}) then null else {n} end as {n}")
        else:
            outer.append(n)
    con.execute(
        f"create or replace temp table prob_recs as select * exclude ({', '.join(n for n, _ in key_exprs)}), "
        f"{', '.join(outer)} from prob_keys"
    )
    con.execute("drop table prob_keys")
    con.unregister("det_df")
    timings["blocking_keys"] = time.perf_counter() - t0
    comps = _comparisons(pres)
    if len(comps) < 2:
        return {"probabilistic_links": 0, "threshold": None, "candidate_pairs": 0}
    blocking = [f"l.{n} = r.{n} and l.det <> r.det" for n, _ in key_exprs if n != "bk_fn_ln"]
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
    prior_rules = [r for r in ("l.fn = r.fn and l.ln = r.ln and l.dob = r.dob",
                               "l.fn = r.fn and l.ln = r.ln and l.postcode = r.postcode",
                               "l.national_id = r.national_id", "l.email = r.email")
                   if all(c in pres for c in ("fn", "ln", "dob") if f"l.{c} " in r + " ")]
    try:
        linker.training.estimate_probability_two_random_records_match(prior_rules[:2] or [blocking[0]], recall=0.8)
    except Exception:  # noqa: BLE001 - too few matches to estimate: keep Splink's default prior
        log.info("prior not estimated; Splink's default is used")
    timings["train_prior"] = time.perf_counter() - t0 - timings["blocking_keys"]
    linker.training.estimate_u_using_random_sampling(max_pairs=3e5, seed=1, min_count_per_level=None, num_chunks=1)
    timings["train_u"] = time.perf_counter() - t0 - timings["blocking_keys"] - timings["train_prior"]
    # m by EM. Each session blocks on real columns, so Splink knows which comparisons the block
    # fixes and trains only the others; sessions are added until every comparison was trained once.
    for cols in _em_blocks(pres, comps):
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
    li, ri = pairs["idx_l"][keep].tolist(), pairs["idx_r"][keep].tolist()
    links = 0
    for a, b in zip(li, ri):
        if uf.find(a) != uf.find(b) and uf.union(a, b):
            links += 1
    linker.misc if hasattr(linker, "misc") else None
    return {
        "probabilistic_links": links,
        "threshold": threshold,
        "candidate_pairs": int(len(p)),
        "pairs_above_threshold": int(keep.sum()),
        "blocking_keys": list(keys),
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
        index = {r: i for i, r in enumerate(record_ids)}
        uf = _UnionFind(n, dict(config.limits))
        for role, lim in config.limits.items():
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
