"""Nicknames and diminutives of given names.

Source: the ``nicknames`` package (PyPI ``nicknames``, https://github.com/carltonnorthern/nicknames,
"Hand-curated dataset of English names and nicknames", Apache-2.0 licence), read from the package
at run time; nothing is downloaded. A few common diminutives it lacks (Masha for Maria, Sasha for
Alexander/Alexandra, ...) are added below (Tessera's own list, Apache-2.0).

``name_groups()`` maps a normalized name to the set of names it may stand for: itself, its formal
names (for a nickname) and, for a formal name, itself only. Two first names are a nickname match
when their sets intersect (Bob and Robert: {bob, robert, ...} and {robert}).
"""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources

EXTRA = {
    "masha": ["maria", "mary"], "sasha": ["alexander", "alexandra"], "misha": ["michael", "mikhail"],
    "pasha": ["paul", "pavel"], "dasha": ["daria"], "katya": ["katherine", "catherine", "ekaterina"],
    "nadia": ["nadezhda"], "kolya": ["nicholas", "nikolai"], "paco": ["francisco"], "pepe": ["jose"],
    "lupe": ["guadalupe"], "nacho": ["ignacio"], "chuy": ["jesus"], "manolo": ["manuel"],
}


@lru_cache(maxsize=1)
def name_groups() -> dict[str, frozenset[str]]:
    groups: dict[str, set[str]] = {}
    text = resources.files("nicknames").joinpath("names.csv").read_text(encoding="utf-8")
    for row in csv.DictReader(text.splitlines()):
        formal, rel, nick = row["name1"].strip().lower(), row["relationship"], row["name2"].strip().lower()
        if rel != "has_nickname" or not formal or not nick:
            continue
        groups.setdefault(nick, {nick}).add(formal)
        groups.setdefault(formal, {formal})
    for nick, formals in EXTRA.items():
        groups.setdefault(nick, {nick}).update(formals)
        for f in formals:
            groups.setdefault(f, {f})
    return {k: frozenset(v) for k, v in groups.items()}


def is_nickname_match(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    g = name_groups()
    return bool(g.get(a, frozenset({a})) & g.get(b, frozenset({b})))
