"""FEBRL-like synthetic person records with a known truth, for the identity benchmark.

Modelled on the FEBRL data generator (Christen, "Probabilistic data generation for deduplication
and data linkage", 2005): original records are drawn from name and address frequency tables, then
duplicates are made from a subset of them with up to three modifications each (typos, OCR and
keyboard errors, missing values, swapped names, nicknames and initials, date errors and other date
formats, address abbreviations, postcode and street-number typos, national-id typos).

- about 55 % of the records are distinct people (``originals``); the rest are duplicates of a
  subset of them, 1 to 5 duplicates per duplicated person (geometric);
- columns: ``rec_id, given_name, surname, street_number, address_1, address_2, suburb, postcode,
  state, date_of_birth, soc_sec_id`` (``soc_sec_id`` is the national id; ``--no-id`` drops it);
- record ids are shuffled integers, so they leak nothing about the truth; the truth file is
  ``rec_id,person_id``.

Names come from Faker's en_US/en_GB/en_NZ/en_IE frequency tables (MIT licence), nicknames for
the nickname modification from the ``nicknames`` package (Apache-2.0).

Usage: python -m benchmarks.identity.generate --records 100000 --out /tmp/febrl100k [--seed 1]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

STREET_TYPES = ["Street", "Road", "Avenue", "Drive", "Court", "Place", "Lane", "Crescent", "Close",
                "Parade", "Terrace", "Boulevard", "Highway", "Circuit", "Way"]
ABBREV = {"Street": "St", "Road": "Rd", "Avenue": "Ave", "Drive": "Dr", "Court": "Ct", "Place": "Pl",
          "Lane": "Ln", "Crescent": "Cres", "Close": "Cl", "Parade": "Pde", "Terrace": "Tce",
          "Boulevard": "Blvd", "Highway": "Hwy", "Circuit": "Cct", "Way": "Wy"}
STATES = ["nsw", "vic", "qld", "wa", "sa", "tas", "act", "nt"]
KEYBOARD = {c: n for c, n in zip(
    "qwertyuiopasdfghjklzxcvbnm",
    ["wa", "qes", "wrd", "etf", "ryg", "tuh", "yij", "uok", "ipl", "o", "qsz", "awdx", "sefc", "drgv", "fthb",
     "gyjn", "hukm", "jil", "kop", "xas", "zcsd", "xvdf", "cbfg", "vnhg", "bmjh", "nj"])}
OCR = {"o": "0", "l": "1", "i": "1", "s": "5", "b": "8", "g": "9", "z": "2", "0": "o", "1": "l", "5": "s",
       "8": "b", "m": "rn", "rn": "m"}


def _name_tables():
    from faker.providers.person import en_GB, en_IE, en_NZ, en_US

    def weighted(tables):
        w: dict[str, float] = {}
        for t in tables:
            items = t.items() if isinstance(t, dict) else [(n, 1.0) for n in t]
            total = sum(float(v) for _, v in items) or 1.0
            for n, v in items:
                w[n.lower()] = w.get(n.lower(), 0.0) + float(v) / total
        names = np.array(sorted(w))
        p = np.array([w[n] for n in names])
        return names, p / p.sum()

    first = weighted([en_US.Provider.first_names_female, en_US.Provider.first_names_male,
                      en_GB.Provider.first_names_female, en_GB.Provider.first_names_male,
                      en_NZ.Provider.first_names_female, en_NZ.Provider.first_names_male])
    last = weighted([en_US.Provider.last_names, en_GB.Provider.last_names, en_NZ.Provider.last_names,
                     en_IE.Provider.last_names])
    return first, last


def _nickname_map() -> dict[str, list[str]]:
    from nicknames import NickNamer

    nn = NickNamer()
    out = {}
    from faker.providers.person import en_US

    for n in list(en_US.Provider.first_names_female) + list(en_US.Provider.first_names_male):
        nicks = sorted(x for x in nn.nicknames_of(n.lower()) if len(x) > 2)
        if nicks:
            out[n.lower()] = nicks
    return out


def _typo(s: str, rng: np.random.Generator) -> str:
    if not s:
        return s
    kind = rng.integers(0, 6)
    i = int(rng.integers(0, len(s)))
    c = s[i]
    if kind == 0 and len(s) > 2:  # delete
        return s[:i] + s[i + 1:]
    if kind == 1:  # insert
        return s[:i] + chr(97 + int(rng.integers(0, 26))) + s[i:]
    if kind == 2 and c in KEYBOARD:  # keyboard substitution
        k = KEYBOARD[c]
        return s[:i] + k[int(rng.integers(0, len(k)))] + s[i + 1:]
    if kind == 3 and i < len(s) - 1:  # transposition
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    if kind == 4:  # OCR error
        for a, b in OCR.items():
            if a in s and not a.isdigit():
                return s.replace(a, b, 1)
    return s[:i] + chr(97 + int(rng.integers(0, 26))) + s[i + 1:]


def _digit_typo(s: str, rng: np.random.Generator) -> str:
    if not s:
        return s
    i = int(rng.integers(0, len(s)))
    if rng.random() < 0.3 and i < len(s) - 1:
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    return s[:i] + str(int(rng.integers(0, 10))) + s[i + 1:]


def generate(n_records: int, seed: int = 1, unique_share: float = 0.55) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (records, truth) DataFrames."""
    rng = np.random.default_rng(seed)
    (first_names, first_p), (last_names, last_p) = _name_tables()
    nick = _nickname_map()
    n_orig = int(round(n_records * unique_share))
    n_dup = n_records - n_orig

    # suburbs with a postcode and a state
    n_sub = max(200, n_orig // 150)
    sub_names = np.array([f"{a}{b}" for a, b in zip(
        rng.choice(last_names, n_sub, p=last_p),
        rng.choice(["", "ville", "ton", " park", " heights", " hill", "field", " beach", " vale", "wood"], n_sub))])
    sub_pc = rng.integers(800, 9999, n_sub)
    sub_state = np.array(STATES)[np.minimum(sub_pc // 1250, 7)]
    street_pool = np.array([f"{a} {b}" for a, b in zip(
        rng.choice(np.concatenate([last_names, first_names]), max(500, n_orig // 20)),
        rng.choice(STREET_TYPES, max(500, n_orig // 20), p=np.r_[[0.3, 0.2, 0.12, 0.08], np.full(11, 0.3 / 11)]))])

    sub = rng.integers(0, n_sub, n_orig)
    orig = pd.DataFrame({
        "given_name": rng.choice(first_names, n_orig, p=first_p),
        "surname": rng.choice(last_names, n_orig, p=last_p),
        "street_number": np.minimum(rng.geometric(0.02, n_orig), 999).astype(str),
        "address_1": rng.choice(street_pool, n_orig),
        "address_2": np.where(rng.random(n_orig) < 0.2,
                              np.char.add(rng.choice(np.array(["unit ", "apartment ", "flat ", "level "]), n_orig),
                                          rng.integers(1, 40, n_orig).astype(str)), ""),
        "suburb": sub_names[sub],
        "postcode": sub_pc[sub].astype(str),
        "state": sub_state[sub],
        "date_of_birth": pd.to_datetime(rng.integers(-14600, 12800, n_orig), unit="D").strftime("%Y%m%d"),
        "soc_sec_id": rng.choice(np.arange(1_000_000, 9_999_999), n_orig, replace=False).astype(str),
    })
    orig["address_1"] = orig["address_1"].str.lower()
    # originals have a few missing values too
    for col, share in (("street_number", 0.02), ("address_1", 0.01), ("suburb", 0.01), ("postcode", 0.01),
                       ("date_of_birth", 0.02), ("given_name", 0.01), ("state", 0.02)):
        orig.loc[rng.random(n_orig) < share, col] = ""
    person = np.arange(n_orig)

    # duplicates: pick originals, 1..5 duplicates each
    counts = np.minimum(rng.geometric(0.55, n_orig), 5)
    order = rng.permutation(n_orig)
    cum = np.cumsum(counts[order])
    k = int(np.searchsorted(cum, n_dup)) + 1
    chosen = order[:k]
    reps = counts[chosen].copy()
    reps[-1] -= int(cum[k - 1] - n_dup)
    src = np.repeat(chosen, reps)[:n_dup]
    dup = orig.iloc[src].reset_index(drop=True).copy()
    cols = list(dup.columns)
    recs = dup.to_dict("records")
    for r in recs:
        n_mod = int(rng.integers(1, 4))
        for _ in range(n_mod):
            m = rng.random()
            if m < 0.22:  # typo in a name
                c = "given_name" if rng.random() < 0.5 else "surname"
                r[c] = _typo(r[c], rng)
            elif m < 0.30:  # nickname or initial
                g = r["given_name"]
                if rng.random() < 0.6 and g in nick:
                    r["given_name"] = nick[g][int(rng.integers(0, len(nick[g])))]
                elif g:
                    r["given_name"] = g[0]
            elif m < 0.36:  # swapped names
                r["given_name"], r["surname"] = r["surname"], r["given_name"]
            elif m < 0.50:  # missing value
                c = cols[int(rng.integers(0, len(cols)))]
                r[c] = ""
            elif m < 0.62:  # date error or other date format
                d = r["date_of_birth"]
                if len(d) == 8:
                    e = rng.random()
                    if e < 0.3:
                        r["date_of_birth"] = f"{d[6:8]}/{d[4:6]}/{d[0:4]}"
                    elif e < 0.45:
                        r["date_of_birth"] = f"{d[0:4]}-{d[4:6]}-{d[6:8]}"
                    elif e < 0.65 and int(d[6:8]) <= 12:  # day and month swapped
                        r["date_of_birth"] = d[0:4] + d[6:8] + d[4:6]
                    else:
                        r["date_of_birth"] = _digit_typo(d, rng)
            elif m < 0.72:  # address: abbreviation or typo
                a = r["address_1"]
                words = a.split(" ")
                if rng.random() < 0.6 and words and words[-1].title() in ABBREV:
                    words[-1] = ABBREV[words[-1].title()].lower()
                    r["address_1"] = " ".join(words)
                else:
                    r["address_1"] = _typo(a, rng)
            elif m < 0.78:
                r["street_number"] = _digit_typo(r["street_number"], rng)
            elif m < 0.84:
                r["postcode"] = _digit_typo(r["postcode"], rng)
            elif m < 0.90:
                r["suburb"] = _typo(r["suburb"], rng)
            elif m < 0.95:
                r["soc_sec_id"] = _digit_typo(r["soc_sec_id"], rng)
            else:
                r["address_2"] = "" if r["address_2"] else r["address_2"]
                r["state"] = ""
    dup = pd.DataFrame(recs, columns=cols)
    records = pd.concat([orig, dup], ignore_index=True)
    persons = np.concatenate([person, src])
    perm = rng.permutation(len(records))
    records = records.iloc[perm].reset_index(drop=True)
    persons = persons[perm]
    # mixed case and stray whitespace as in real exports
    up = rng.random(len(records)) < 0.1
    for c in ("given_name", "surname"):
        records.loc[up, c] = records.loc[up, c].str.upper()
        records.loc[~up, c] = records.loc[~up, c].str.title()
    records.insert(0, "rec_id", np.char.add("r", rng.permutation(len(records)).astype(str)))
    records = records.replace("", None)
    truth = pd.DataFrame({"rec_id": records["rec_id"], "person_id": np.char.add("p", persons.astype(str))})
    return records, truth


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--no-id", action="store_true", help="drop the soc_sec_id (national id) column")
    a = ap.parse_args(argv)
    records, truth = generate(a.records, a.seed)
    if a.no_id:
        records = records.drop(columns=["soc_sec_id"])
    a.out.mkdir(parents=True, exist_ok=True)
    records.to_parquet(a.out / "records.parquet", index=False)
    truth.to_csv(a.out / "truth.csv", index=False)
    print(f"{len(records)} records, {truth['person_id'].nunique()} persons -> {a.out}")


if __name__ == "__main__":
    main()
