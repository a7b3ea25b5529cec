"""Attribution of conversions to the touches before them.

Input: a table of touches ``profile_id, channel, touched_at`` and a table of conversions
``profile_id, converted_at`` (``conversion_id`` optional). A conversion's path is the profile's
touches in the ``lookback_days`` before it (and after the profile's previous conversion).
Conversions with no touch in their path are credited to ``(direct)``.

Rule-based models (each conversion hands out exactly 1 credit):

- ``first_touch`` / ``last_touch``: all to the first / last touch;
- ``linear``: equal shares;
- ``position_based``: 40% first, 40% last, 20% shared by the middle touches (one touch: 100%;
  two touches: 50/50);
- ``time_decay``: weight ``2 ** (-age / half_life_days)`` per touch, normalised.

Data-driven: ``markov`` builds a first-order Markov chain over channel states (start → channels →
conversion | null, from converting and non-converting paths), computes each channel's removal
effect ``1 - P(conversion without the channel) / P(conversion)`` and shares the observed
conversions in proportion to the removal effects. Every model's credits sum to the number of
conversions.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from tessera.warehouse import replace_table

DIRECT = "(direct)"
NONE = "(none)"  # a touch without an offer, in channel x offer keys
SEP = "\x1f"
MODELS = ("first_touch", "last_touch", "linear", "position_based", "time_decay", "markov")


def build_paths(
    touches: pd.DataFrame,
    conversions: pd.DataFrame,
    lookback_days: float = 30.0,
) -> tuple[list[list[tuple[str, float]]], list[list[str]]]:
    """Converting paths (channel, age in days at conversion) and non-converting paths (channels)."""
    t = touches[["profile_id", "channel", "touched_at"]].copy()
    t["touched_at"] = pd.to_datetime(t["touched_at"], utc=True)
    c = conversions.copy()
    c["converted_at"] = pd.to_datetime(c["converted_at"], utc=True)
    by_profile = {k: g.sort_values("touched_at") for k, g in t.groupby("profile_id", sort=False)}
    converting: list[list[tuple[str, float]]] = []
    converted_profiles = set()
    lookback = pd.Timedelta(days=lookback_days)
    for pid, conv in c.sort_values("converted_at").groupby("profile_id", sort=False):
        converted_profiles.add(pid)
        g = by_profile.get(pid)
        previous = None
        for at in conv["converted_at"]:
            if g is None:
                converting.append([])
            else:
                lo = at - lookback if previous is None else max(at - lookback, previous)
                inc = g[(g["touched_at"] <= at) & ((g["touched_at"] > lo) if previous is not None
                                                   else (g["touched_at"] >= lo))]
                converting.append([(ch, (at - ts).total_seconds() / 86400.0)
                                   for ch, ts in zip(inc["channel"], inc["touched_at"], strict=True)])
            previous = at
    non_converting = [list(g["channel"]) for pid, g in by_profile.items() if pid not in converted_profiles]
    return converting, non_converting


def _rule_weights(path: Sequence[tuple[str, float]], model: str, half_life_days: float) -> list[float]:
    n = len(path)
    if model == "first_touch":
        return [1.0] + [0.0] * (n - 1)
    if model == "last_touch":
        return [0.0] * (n - 1) + [1.0]
    if model == "linear":
        return [1.0 / n] * n
    if model == "position_based":
        if n == 1:
            return [1.0]
        if n == 2:
            return [0.5, 0.5]
        return [0.4] + [0.2 / (n - 2)] * (n - 2) + [0.4]
    if model == "time_decay":
        w = np.power(2.0, -np.array([age for _, age in path]) / half_life_days)
        return list(w / w.sum())
    raise ValueError(f"unknown model {model!r}; known: {MODELS}")


def rule_based(
    converting: Iterable[Sequence[tuple[str, float]]], model: str, half_life_days: float = 7.0
) -> dict[str, float]:
    credits: dict[str, float] = defaultdict(float)
    for path in converting:
        if not path:
            credits[DIRECT] += 1.0
            continue
        for (channel, _), w in zip(path, _rule_weights(path, model, half_life_days), strict=True):
            credits[channel] += w
    return dict(credits)


def _conversion_probability(paths: list[tuple[list[str], bool]], removed: str | None) -> float:
    """P(reaching conversion from start) in the first-order chain fitted on ``paths``; a removed
    channel sends every visit to the null state."""
    counts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for channels, converted in paths:
        states = ["(start)", *channels, "(conversion)" if converted else "(null)"]
        for a, b in itertools.pairwise(states):
            counts[a][b] += 1.0
    transient = sorted(s for s in counts if s not in ("(conversion)", "(null)"))
    index = {s: i for i, s in enumerate(transient)}
    n = len(transient)
    q = np.zeros((n, n))
    r = np.zeros(n)
    for s, row in counts.items():
        total = sum(row.values())
        if s == removed:
            continue  # a removed channel absorbs to null: its row stays 0
        for t, k in row.items():
            if t == "(conversion)":
                r[index[s]] += k / total
            elif t in index and t != removed:
                q[index[s], index[t]] += k / total
    # absorption probabilities: (I - Q) x = R
    x = np.linalg.solve(np.eye(n) - q, r)
    return float(x[index["(start)"]])


def markov(converting: Sequence[Sequence[tuple[str, float]]], non_converting: Sequence[Sequence[str]]) -> dict[str, float]:
    paths = [([ch for ch, _ in p], True) for p in converting if p]
    paths += [(list(p), False) for p in non_converting if p]
    direct = sum(1 for p in converting if not p)
    touched = len(converting) - direct
    credits: dict[str, float] = {}
    if touched:
        base = _conversion_probability(paths, None)
        channels = sorted({ch for p, _ in paths for ch in p})
        effects = {ch: max(0.0, 1.0 - _conversion_probability(paths, ch) / base) if base else 0.0 for ch in channels}
        total = sum(effects.values())
        if total > 0:
            credits = {ch: touched * e / total for ch, e in effects.items()}
        else:  # no channel matters: fall back to linear
            credits = rule_based([p for p in converting if p], "linear")
    if direct:
        credits[DIRECT] = credits.get(DIRECT, 0.0) + direct
    return credits


def attribute(
    touches: pd.DataFrame,
    conversions: pd.DataFrame,
    lookback_days: float = 30.0,
    half_life_days: float = 7.0,
    by: Sequence[str] = ("channel",),
) -> pd.DataFrame:
    """Credits per touch key and model: columns ``model, *by, credit``; each model sums to the
    number of conversions. ``by`` names the touch columns a credit goes to: ``("channel",)`` or,
    for instance, ``("channel", "offer_id")`` (then the Markov chain's states are channel x offer).
    A conversion without touches is credited to channel ``(direct)`` (other key columns null)."""
    by = tuple(by)
    t = touches.copy()
    if by != ("channel",):
        # one state per key: the columns joined by a separator that no key contains
        t["channel"] = t[list(by)].astype("string").fillna(NONE).agg(SEP.join, axis=1)
    converting, non_converting = build_paths(t, conversions, lookback_days)
    rows = []
    for model in MODELS:
        credits = markov(converting, non_converting) if model == "markov" else \
            rule_based(converting, model, half_life_days)
        for key, v in sorted(credits.items()):
            parts = [key] + [None] * (len(by) - 1) if key == DIRECT else key.split(SEP) if len(by) > 1 else [key]
            rows.append({"model": model, **{col: (None if part == NONE else part) for col, part in zip(by, parts,
                                                                                                       strict=True)},
                         "credit": v})
    return pd.DataFrame(rows, columns=["model", *by, "credit"])


TOUCHES_TABLE = "measurement.fct_attribution_touches"
CONVERSIONS_TABLE = "measurement.fct_attribution_conversions"
CREDITS_TABLE = "measurement.attribution_credits"


def attribute_warehouse(con, lookback_days: float = 30.0, half_life_days: float = 7.0) -> pd.DataFrame:
    """Run every model on the warehouse's touches and conversions (dbt models
    measurement.fct_attribution_touches / fct_attribution_conversions) and replace
    measurement.attribution_credits with the credits, at two levels: ``channel`` and
    ``channel_offer`` (channel x offer). Returns the credits written."""
    touches = con.execute(f"select profile_id, channel, offer_id, touched_at from {TOUCHES_TABLE}").df()
    conversions = con.execute(f"select conversion_id, profile_id, converted_at from {CONVERSIONS_TABLE}").df()
    frames = []
    if len(conversions):
        by_channel = attribute(touches, conversions, lookback_days, half_life_days)
        by_channel.insert(1, "level", "channel")
        by_channel.insert(3, "offer_id", None)
        by_offer = attribute(touches, conversions, lookback_days, half_life_days, by=("channel", "offer_id"))
        by_offer.insert(1, "level", "channel_offer")
        frames = [by_channel, by_offer]
    credits = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        {"model": pd.Series(dtype="string"), "level": pd.Series(dtype="string"),
         "channel": pd.Series(dtype="string"), "offer_id": pd.Series(dtype="string"),
         "credit": pd.Series(dtype="float64")})
    credits = credits.astype({"model": "string", "level": "string", "channel": "string", "offer_id": "string",
                              "credit": "float64"})
    credits["conversions"] = len(conversions)
    credits["lookback_days"] = float(lookback_days)
    replace_table(con, CREDITS_TABLE, credits, "model, level, channel, offer_id, credit, conversions, "
                  "lookback_days, current_timestamp as computed_at")
    return credits
