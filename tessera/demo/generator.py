"""The demo company: a deterministic generator of messy, realistic customer data.

``generate(customers, seed, out, as_of)`` writes every file of Contract 1 (see
``docs/architecture.md``) under ``out`` and returns the manifest. ``customers`` is the number of
true persons (``P0000001`` ...); about 70 % of them hold a shop account.

Design notes
------------
* Everything is drawn from seeded numpy / ``random.Random`` streams, one stream per component,
  so the same ``(customers, seed, as_of)`` gives byte-identical files.
* Behaviour follows a BG/NBD-like process: while "alive" a person buys at a personal Poisson rate
  and drops out with a personal probability after each purchase. Browsing intensity follows the
  purchase rate and stops some weeks after dropout, so recency and frequency carry signal.
* Mess (name variants, formatting, households, malformed rows) is planted on purpose and counted
  in the manifest; planted test cases (``truth/planted.json``) are protected from it.
"""

from __future__ import annotations

import csv
import gc
import random
import sqlite3
import zlib
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from tessera.demo import names as nm

DAY = 86_400
GENERATOR_VERSION = 1
MIN_CUSTOMERS = 100

BAD_DATES = ("2024-13-45", "yesterday", "31/02/2024", "0000-00-00", "not a date", "2023-02-30T25:61:00Z")
BAD_AMOUNTS = ("12,99 EUR", "n/a", "USD 45.00", "1.2k", "unknown")
BAD_EVENT_TIMESTAMPS = ("yesterday", "2024-13-45T25:61:00Z", "2024-13-45", "not a date")
_BAD_VALUES = frozenset(BAD_DATES + BAD_AMOUNTS)


def _clean(rows: list[Any]) -> np.ndarray:
    """True for rows that carry none of the planted bad values (so a junk copy has one fault only)."""
    def ok(row: Any) -> bool:
        values = row.values() if isinstance(row, dict) else row
        return not any(isinstance(v, str) and v in _BAD_VALUES for v in values)
    return np.array([ok(row) for row in rows], dtype=bool)

CATEGORY_NAMES = tuple(nm.CATEGORIES)
CATEGORY_WEIGHTS = np.array([0.16, 0.1, 0.08, 0.12, 0.1, 0.11, 0.09, 0.07, 0.08, 0.09])
PRODUCTS_PER_CATEGORY = 20
REGULAR_SHARE = 0.25  # customers who buy on a rhythm (replenishers)
REGULAR_SHAPE = 11.0  # gamma shape of their gaps: coefficient of variation 1 / sqrt(11) = 0.3
OFFERS = (
    "cart_reminder_10", "vip_winback_20", "welcome_free_shipping", "loyalty_double_points",
    "new_arrivals", "default_newsletter",
)
SHOP_HOST = "https://shop.tessera.example"
LIB_WEB = {"name": "analytics.js", "version": "4.1.0"}
LIB_IOS = {"name": "analytics-ios", "version": "4.1.8"}
LIB_ANDROID = {"name": "analytics-android", "version": "4.11.3"}
CAMPAIGNS = (
    {"source": "newsletter", "medium": "email", "name": "default_newsletter"},
    {"source": "newsletter", "medium": "email", "name": "new_arrivals"},
    {"source": "google", "medium": "cpc", "name": "brand_search"},
    {"source": "facebook", "medium": "paid_social", "name": "spring_sale"},
    {"source": "sms", "medium": "sms", "name": "cart_reminder_10"},
)
REFERRERS = ("", "https://www.google.com/", "https://www.facebook.com/", "https://www.instagram.com/",
             "https://duckduckgo.com/")

# (offer, channel) -> (open rate or None when the channel has no opens, click rate (of opened, or
# of delivered when no opens), conversion rate of clicks, unsubscribe rate of delivered)
FEEDBACK_RATES: dict[tuple[str, str], tuple[float | None, float, float, float]] = {
    ("default_newsletter", "email"): (0.22, 0.10, 0.05, 0.004),
    ("new_arrivals", "email"): (0.28, 0.16, 0.08, 0.003),
    ("new_arrivals", "push"): (0.12, 0.30, 0.06, 0.0),
    ("new_arrivals", "web"): (None, 0.04, 0.10, 0.0),
    ("cart_reminder_10", "email"): (0.45, 0.30, 0.22, 0.002),
    ("cart_reminder_10", "sms"): (None, 0.18, 0.20, 0.006),
    ("cart_reminder_10", "push"): (0.20, 0.35, 0.18, 0.0),
    ("cart_reminder_10", "web"): (None, 0.09, 0.15, 0.0),
    ("vip_winback_20", "email"): (0.30, 0.18, 0.12, 0.006),
    ("vip_winback_20", "sms"): (None, 0.14, 0.10, 0.01),
    ("welcome_free_shipping", "email"): (0.55, 0.25, 0.15, 0.003),
    ("welcome_free_shipping", "web"): (None, 0.07, 0.12, 0.0),
    ("loyalty_double_points", "email"): (0.35, 0.20, 0.10, 0.002),
    ("loyalty_double_points", "push"): (0.18, 0.28, 0.09, 0.0),
}
DELIVERY_RATES = {"email": 0.97, "sms": 0.98, "push": 0.92, "web": 1.0}


# --------------------------------------------------------------------------------------------
# small helpers


def _iso_many(ts: Any) -> list[str]:
    arr = np.asarray(ts, dtype=np.int64).astype("datetime64[s]")
    return [s + "Z" for s in np.datetime_as_string(arr, unit="s").tolist()]


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _date_many(days: Any) -> list[str]:
    arr = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    return np.datetime_as_string(arr).tolist()


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _uuid(hexstr: str) -> str:
    h = hexstr
    return f"{h[0:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def format_phone(digits: str, style: int) -> str:
    """Render a 10-digit US number in one of the formats seen in the sources."""
    a, b, c = digits[:3], digits[3:6], digits[6:]
    if style == 0:
        return f"+1{digits}"
    if style == 1:
        return f"({a}) {b}-{c}"
    if style == 2:
        return f"{a}.{b}.{c}"
    if style == 3:
        return f"+1 {a} {b} {c}"
    if style == 4:
        return digits
    if style == 5:
        return f"{a}-{b}-{c}"
    return f"1-{a}-{b}-{c}"


N_PHONE_STYLES = 7


def email_variant(email: str, kind: str) -> str:
    """Case / whitespace variants that normalise back to the same address."""
    if kind == "upper":
        return email.upper()
    if kind == "title":
        local, _, domain = email.partition("@")
        return local[:1].upper() + local[1:] + "@" + domain.capitalize()
    if kind == "space":
        return f" {email} "
    if kind == "tab":
        return f"{email}\t"
    return email


def typo(name: str, pr: random.Random) -> str:
    """A one-character edit (substitute, delete, insert or transpose) that changes the name."""
    if len(name) < 3:
        return name + name[-1]
    for _ in range(10):
        i = pr.randrange(1, len(name) - 1)
        op = pr.randrange(4)
        letter = pr.choice("aeioulnrst")
        if op == 0:
            out = name[:i] + letter + name[i + 1:]
        elif op == 1:
            out = name[:i] + name[i + 1:]
        elif op == 2:
            out = name[:i] + letter + name[i:]
        else:
            out = name[:i] + name[i + 1] + name[i] + name[i + 2:]
        if out != name:
            return out
    return name + "e"


# --------------------------------------------------------------------------------------------


class _Generator:
    def __init__(self, customers: int, seed: int, out: Path, as_of: date) -> None:
        if customers < MIN_CUSTOMERS:
            raise ValueError(f"customers must be at least {MIN_CUSTOMERS}")
        self.n = int(customers)
        self.seed = int(seed)
        self.out = Path(out)
        self.as_of = as_of
        self.T = int(datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC).timestamp())
        self.W0 = self.T - 365 * DAY
        self.mess: dict[str, int] = defaultdict(int)
        self.files: dict[str, Any] = {}
        self.truth: list[tuple[str, int]] = []

    # ---- random streams ---------------------------------------------------------------------
    def rng(self, name: str) -> np.random.Generator:
        return np.random.default_rng([self.seed & 0x7FFFFFFFFFFFFFFF, zlib.crc32(name.encode())])

    def prng(self, name: str) -> random.Random:
        return random.Random(f"{self.seed}:{name}")

    def pid(self, i: int) -> str:
        return f"P{i + 1:07d}"

    @staticmethod
    def pick(r: np.random.Generator, rate: float, eligible: np.ndarray) -> list[int]:
        """Indices drawn at ``rate`` among ``eligible`` rows; at least one when any is eligible."""
        sel = np.flatnonzero((r.random(len(eligible)) < rate) & eligible).tolist()
        if not sel and eligible.any():
            candidates = np.flatnonzero(eligible)
            sel = [int(candidates[len(candidates) // 2])]
        return sel

    def force(self, u: list[list[float]], persons: list[int], col: int, value: float, nth: int) -> None:
        """Make the ``nth`` unprotected row take a mess branch, so small data sets carry every kind."""
        seen = 0
        for k, p in enumerate(persons):
            if not self.protected[p]:
                if seen == nth:
                    u[k][col] = value
                    return
                seen += 1

    # ---- 1. persons -------------------------------------------------------------------------
    def make_persons(self) -> None:
        n = self.n
        r = self.rng("persons")
        self.first = r.integers(0, len(nm.FIRST_NAMES), n)
        lw = 1.0 / (np.arange(len(nm.LAST_NAMES)) + 8.0)
        self.last = r.choice(len(nm.LAST_NAMES), n, p=lw / lw.sum())
        age_days = ((18 + np.minimum(r.gamma(3.0, 6.5, n), 67)) * 365.25).astype(np.int64)
        self.dob = (self.T // DAY) - age_days - r.integers(0, 365, n)
        cw = 1.0 / (np.arange(len(nm.CITIES)) + 4.0)
        self.city = r.choice(len(nm.CITIES), n, p=cw / cw.sum())
        self.street_no = r.integers(1, 9900, n)
        self.street = r.integers(0, len(nm.STREET_NAMES), n)
        self.zip_suffix = r.integers(0, 100, n)
        u = r.random((n, 4))
        self.has_shop = u[:, 0] < 0.70
        self.has_crm = u[:, 1] < np.where(self.has_shop, 0.45, 0.283)
        self.has_loyalty = u[:, 2] < np.where(self.has_shop, 0.32, 0.085)
        self.has_support = u[:, 3] < np.where(self.has_shop, 0.19, 0.057)
        self.lam = r.gamma(0.9, 3.2 / 0.9, n)  # purchases per year while alive
        self.pdrop = r.beta(1.3, 4.5, n)  # dropout probability after each purchase
        self.engage = r.gamma(2.0, 0.5, n)  # browsing intensity
        self.fav = r.choice(10, n, p=CATEGORY_WEIGHTS / CATEGORY_WEIGHTS.sum())
        self.regular = self.rng("rhythm").random(n) < REGULAR_SHARE  # replenishers (make_orders)
        self.protected = np.zeros(n, dtype=bool)
        self.seg_planted = np.zeros(n, dtype=bool)

    def select_planted(self) -> None:
        r = self.rng("planted")
        perm = r.permutation(self.n)
        self.dup_people = [int(x) for x in perm[:8]]
        seg = [int(x) for x in perm[8:40]]
        self.plant = {
            "cart_abandoners_7d": (seg[0:4], seg[4:8]),
            "high_value_at_risk": (seg[8:12], seg[12:16]),
            "new_subscribers": (seg[16:20], seg[20:24]),
            "lapsed_loyalty": (seg[24:28], seg[28:32]),
        }
        self.protected[perm[:40]] = True
        self.seg_planted[seg] = True
        forced_first = ("Maria", "Robert", "William", "Elizabeth", "Katherine", "Michael", "James",
                        "Margaret")
        for k, p in enumerate(self.dup_people):
            self.first[p] = nm.FIRST_NAMES.index(forced_first[k])
            self.has_shop[p] = self.has_crm[p] = self.has_loyalty[p] = self.has_support[p] = True
        self.has_shop[seg] = True
        self.has_crm[seg] = False
        self.has_support[seg] = False
        self.has_loyalty[seg] = False
        lap_m, lap_n = self.plant["lapsed_loyalty"]
        self.has_loyalty[lap_m] = True
        self.has_loyalty[lap_n[:2]] = True

    def make_contacts(self) -> None:
        """Emails, phones and households."""
        n = self.n
        r = self.rng("contact")
        first_slugs = [_slug(x) for x in nm.FIRST_NAMES]
        last_slugs = [_slug(x) for x in nm.LAST_NAMES]
        dw = np.array(nm.EMAIL_DOMAIN_WEIGHTS)
        dom = r.choice(len(nm.EMAIL_DOMAINS), n, p=dw / dw.sum()).tolist()
        pat = r.integers(0, 6, n).tolist()
        num = r.integers(1, 100, n).tolist()
        year = r.integers(1950, 2008, n).tolist()
        first = self.first.tolist()
        last = self.last.tolist()
        seen: set[str] = set()
        emails: list[str] = []
        for i in range(n):
            f = first_slugs[first[i]]
            la = last_slugs[last[i]]
            p = pat[i]
            if p == 0:
                local = f"{f}.{la}"
            elif p == 1:
                local = f"{f}{la}"
            elif p == 2:
                local = f"{f[0]}{la}"
            elif p == 3:
                local = f"{f}.{la}{num[i]}"
            elif p == 4:
                local = f"{f}{la}{year[i]}"
            else:
                local = f"{la}.{f}"
            d = nm.EMAIL_DOMAINS[dom[i]]
            e = f"{local}@{d}"
            k = 1
            while e in seen:
                k += 1
                e = f"{local}{k}@{d}"
            seen.add(e)
            emails.append(e)
        all_codes = [c for city in nm.CITIES for c in city[3]]
        city = self.city.tolist()
        uc = r.random(n).tolist()
        ci = r.integers(0, 1000, n).tolist()
        exch = r.integers(200, 1000, n).tolist()
        line = r.integers(0, 10000, n).tolist()
        phones: list[str] = []
        seen_p: set[str] = set()
        for i in range(n):
            codes = nm.CITIES[city[i]][3] if uc[i] < 0.75 else all_codes
            ac = codes[ci[i] % len(codes)]
            ex = exch[i] + 1 if exch[i] % 100 == 11 else exch[i]
            ln = line[i]
            ph = f"{ac}{ex:03d}{ln:04d}"
            while ph in seen_p:
                ln = (ln + 1) % 10000
                ph = f"{ac}{ex:03d}{ln:04d}"
            seen_p.add(ph)
            phones.append(ph)
        # households: pairs of true persons sharing a home phone or a family email
        cand = np.flatnonzero(~self.protected)
        pairs = max(2, round(0.015 * n))
        perm = r.permutation(cand)
        a_side, b_side = perm[:pairs].tolist(), perm[pairs:2 * pairs].tolist()
        kinds = r.random(pairs).tolist()
        same_last = r.random(pairs).tolist()
        self.households: list[dict[str, Any]] = []
        for k, (a, b) in enumerate(zip(a_side, b_side, strict=True)):
            if same_last[k] < 0.8:
                self.last[b] = self.last[a]
            self.city[b] = self.city[a]
            self.street[b] = self.street[a]
            self.street_no[b] = self.street_no[a]
            self.zip_suffix[b] = self.zip_suffix[a]
            if (kinds[k] < 0.5) if k > 1 else k == 0:
                phones[b] = phones[a]
                self.households.append({"person_ids": [self.pid(a), self.pid(b)], "shared": "phone",
                                        "value": "+1" + phones[a]})
                self.mess["households_shared_phone"] += 1
            else:
                base = f"the{last_slugs[self.last[a]]}s"
                fam = f"{base}@{nm.EMAIL_DOMAINS[dom[a]]}"
                j = 1
                while fam in seen:
                    j += 1
                    fam = f"{base}{j}@{nm.EMAIL_DOMAINS[dom[a]]}"
                seen.add(fam)
                emails[a] = emails[b] = fam
                self.households.append({"person_ids": [self.pid(a), self.pid(b)], "shared": "email",
                                        "value": fam})
                self.mess["households_shared_email"] += 1
        self.email = emails
        self.phone = phones
        self.first_name = [nm.FIRST_NAMES[i] for i in self.first.tolist()]
        self.last_name = [nm.LAST_NAMES[i] for i in self.last.tolist()]
        self.dob_str = _date_many(self.dob)

    # ---- 2. shop customers ------------------------------------------------------------------
    def make_customers(self) -> None:
        r = self.rng("customers")
        idx = np.flatnonzero(self.has_shop)
        signup = r.uniform(-760.0, -1.0, len(idx))
        seg = self.seg_planted[idx]
        signup[seg] = -700.0 + r.uniform(0, 0.5, int(seg.sum()))
        order = np.lexsort((idx, signup))
        self.cust_person = idx[order]
        self.cust_signup_day = signup[order]
        self.cust_signup = self.T + (self.cust_signup_day * DAY).astype(np.int64)
        self.cid_of = np.full(self.n, -1, dtype=np.int64)
        self.cid_of[self.cust_person] = np.arange(len(idx))
        self.cid = [f"C{k + 1:07d}" for k in range(len(idx))]

    def cid_for(self, p: int) -> str | None:
        c = int(self.cid_of[p])
        return self.cid[c] if c >= 0 else None

    # ---- 3. products and orders -------------------------------------------------------------
    def make_products(self) -> None:
        r = self.rng("products")
        rows = []
        prices = []
        k = 0
        for ci, (cat, (adjs, nouns, median)) in enumerate(nm.CATEGORIES.items()):
            mult = np.exp(r.normal(0.0, 0.35, PRODUCTS_PER_CATEGORY))
            j = 0
            for adj in adjs:
                for noun in nouns:
                    price = max(4.99, round(median * mult[j]) - 0.01)
                    pid = f"SKU-{ci + 1:02d}{j + 1:03d}"
                    rows.append((pid, f"{adj} {noun}", cat, price))
                    prices.append(price)
                    j += 1
                    k += 1
        self.products = rows
        self.price = np.array(prices)
        pw = 1.0 / (np.arange(PRODUCTS_PER_CATEGORY) + 2.0)
        self.prod_pop = pw / pw.sum()
        sw = 1.0 / (np.arange(PRODUCTS_PER_CATEGORY // len(next(iter(nm.CATEGORIES.values()))[1])) + 2.0)
        self.style_pop = sw / sw.sum()
        self.product_view_props = [
            {"product_id": p[0], "name": p[1], "category": p[2], "price": p[3]} for p in rows
        ]

    def apply_tastes(self, prod: np.ndarray, line_person: np.ndarray) -> np.ndarray:
        """Customers have a style within their favourite category: besides the category, each one
        prefers a product type (the hoodie, the skillet), and 70% of their lines in that category
        are that type in one of its styles. Drawn from their own streams, so the rest of the company
        (who buys when, how many lines) stays as it was."""
        types = len(next(iter(nm.CATEGORIES.values()))[1])  # product types (nouns) per category
        fav_type = self.rng("tastes").integers(0, types, self.n)
        r = self.rng("taste-lines")
        in_fav = (prod // PRODUCTS_PER_CATEGORY) == self.fav[line_person]
        pick = np.flatnonzero(in_fav & (r.random(len(prod)) < 0.7))
        styles = PRODUCTS_PER_CATEGORY // types
        style = r.choice(styles, len(pick), p=self.style_pop)
        prod = prod.copy()
        prod[pick] = self.fav[line_person[pick]] * PRODUCTS_PER_CATEGORY + style * types + fav_type[line_person[pick]]
        return prod

    def make_orders(self) -> None:
        r = self.rng("orders")
        natural = ~self.seg_planted[self.cust_person]
        pidx = self.cust_person[natural]
        start = self.cust_signup_day[natural]
        rate = self.lam[pidx] / 365.0
        m = len(pidx)
        t = start + np.where(r.random(m) < 0.4, r.uniform(0.0, 0.5, m), r.exponential(1.0 / rate))
        alive = np.ones(m, dtype=bool)
        death = np.full(self.n, np.inf)
        rec_p, rec_t = [], []
        # Replenishers (a quarter of the customers) buy on a rhythm: the same mean gap as the
        # others, but regular (gamma-distributed gaps, CV 0.3) instead of memoryless. Their gaps come
        # from their own stream, so everyone else's purchases stay as they were.
        regular = self.regular[pidx]
        rhythm = self.rng("rhythm-gaps")
        for _ in range(80):
            active = alive & (t < 0)
            if not active.any():
                break
            rec_p.append(pidx[active])
            rec_t.append(t[active])
            dies = active & (r.random(m) < self.pdrop[pidx])
            death[pidx[dies]] = t[dies]
            alive &= ~dies
            gap = r.exponential(1.0 / rate)
            t = t + np.where(regular, rhythm.gamma(REGULAR_SHAPE, 1.0 / (REGULAR_SHAPE * rate)), gap)
        self.death_day = death  # days relative to as_of; inf = still alive
        o_person = np.concatenate(rec_p) if rec_p else np.zeros(0, dtype=np.int64)
        o_day = np.concatenate(rec_t) if rec_t else np.zeros(0)
        no = len(o_person)
        o_ts = self.T + np.floor(o_day * DAY).astype(np.int64)
        o_status = r.choice(3, no, p=[0.9, 0.05, 0.05])
        n_lines = r.choice([1, 2, 3, 4], no, p=[0.5, 0.3, 0.13, 0.07])
        line_order = np.repeat(np.arange(no), n_lines)
        nl = len(line_order)
        cat = np.where(r.random(nl) < 0.65, self.fav[o_person[line_order]],
                       r.choice(10, nl, p=CATEGORY_WEIGHTS / CATEGORY_WEIGHTS.sum()))
        prod = cat * PRODUCTS_PER_CATEGORY + r.choice(PRODUCTS_PER_CATEGORY, nl, p=self.prod_pop)
        qty = r.choice([1, 2, 3], nl, p=[0.82, 0.14, 0.04])
        prod = self.apply_tastes(prod, o_person[line_order])
        unit = self.price[prod]
        o_forced_channel = np.full(no, -1)
        # planted orders: (person, days before as_of, status, amount, channel)
        planted = self.planted_orders()
        if planted:
            pp = np.array([x[0] for x in planted])
            pt = np.array([self.T - x[1] * DAY + 14 * 3600 + 60 * i for i, x in enumerate(planted)])
            ps = np.array([x[2] for x in planted])
            pamount = np.array([x[3] for x in planted], dtype=float)
            pch = np.array([x[4] for x in planted])
            pprod = self.fav[pp] * PRODUCTS_PER_CATEGORY
            o_person = np.concatenate([o_person, pp])
            o_ts = np.concatenate([o_ts, pt])
            o_status = np.concatenate([o_status, ps])
            o_forced_channel = np.concatenate([o_forced_channel, pch])
            line_order = np.concatenate([line_order, no + np.arange(len(planted))])
            prod = np.concatenate([prod, pprod])
            qty = np.concatenate([qty, np.ones(len(planted), dtype=np.int64)])
            unit = np.concatenate([unit, pamount])
            no += len(planted)
        # order by time
        order = np.lexsort((np.arange(no), o_ts))
        rank = np.empty(no, dtype=np.int64)
        rank[order] = np.arange(no)
        self.o_person = o_person[order]
        self.o_ts = o_ts[order]
        self.o_status = o_status[order]
        self.o_forced_channel = o_forced_channel[order]
        line_order = rank[line_order]
        lorder = np.lexsort((np.arange(len(line_order)), line_order))
        self.l_order = line_order[lorder]
        self.l_prod = prod[lorder]
        self.l_qty = qty[lorder]
        self.l_unit = unit[lorder]
        self.o_amount = np.round(np.bincount(self.l_order, self.l_qty * self.l_unit, minlength=no), 2)
        self.o_id = [f"O{k + 1:08d}" for k in range(no)]
        # first line index per order
        self.l_start = np.searchsorted(self.l_order, np.arange(no + 1))
        completed = self.o_status == 0
        self.ltv = np.bincount(self.o_person[completed], self.o_amount[completed], minlength=self.n)
        self.last_order_ts = np.full(self.n, -1, dtype=np.int64)
        np.maximum.at(self.last_order_ts, self.o_person, self.o_ts)

    def planted_orders(self) -> list[tuple[int, int, int, float, int]]:
        """(person, days before as_of, status 0/1/2, amount, channel 0 web/1 app/2 store)."""
        out: list[tuple[int, int, int, float, int]] = []
        _cm, cn = self.plant["cart_abandoners_7d"]
        out.append((cn[0], 1, 0, 84.5, 0))  # added 2 days ago, bought 1 day ago
        out.append((cn[3], 3, 0, 61.0, 0))  # added and bought 3 days ago
        hm, hn = self.plant["high_value_at_risk"]
        for d in (400, 250, 130):
            out.append((hm[0], d, 0, 320.0, 2))
        out.append((hm[1], 200, 0, 850.0, 2))
        out.append((hm[2], 300, 0, 450.0, 2))
        out.append((hm[2], 121, 0, 420.0, 2))
        for d in (600, 450, 330, 240, 150):
            out.append((hm[3], d, 0, 180.0, 2))
        for d in (200, 90, 20):
            out.append((hn[0], d, 0, 300.0, 2))  # high value but ordered recently
        out.append((hn[1], 160, 0, 200.0, 2))  # completed 200 ...
        out.append((hn[1], 150, 2, 900.0, 2))  # ... plus a refunded 900: LTV counts completed only
        out.append((hn[2], 200, 0, 300.0, 2))  # old but low value
        out.append((hn[3], 60, 0, 1000.0, 2))  # high value, ordered 60 days ago
        lm, ln = self.plant["lapsed_loyalty"]
        out.append((lm[0], 300, 0, 75.0, 2))
        out.append((lm[1], 500, 0, 64.0, 2))
        out.append((lm[1], 300, 0, 52.0, 2))
        # lm[2]: no orders at all
        out.append((lm[3], 250, 0, 99.0, 2))
        out.append((ln[0], 30, 0, 88.0, 2))
        out.append((ln[1], 100, 0, 45.0, 2))
        out.append((ln[2], 300, 0, 70.0, 2))  # lapsed but not a loyalty member
        # ln[3]: no orders and not a loyalty member
        return out

    # ---- 4. devices, sessions and events ----------------------------------------------------
    def make_devices(self) -> None:
        r = self.rng("devices")
        cust = self.cust_person
        nat = ~self.seg_planted[cust]
        ndev = np.where(nat, r.choice(4, len(cust), p=[0.12, 0.5, 0.28, 0.1]), 0)
        _cm, _ = self.plant["cart_abandoners_7d"]
        cart_people = set(self.plant["cart_abandoners_7d"][0] + self.plant["cart_abandoners_7d"][1])
        for p in cart_people:
            ndev[self.cid_of[p]] = 1
        d_person = np.repeat(cust, ndev)
        first_flag = np.zeros(len(d_person), dtype=bool)
        starts = np.cumsum(ndev) - ndev
        first_flag[starts[ndev > 0]] = True
        nd = len(d_person)
        d_type = np.where(first_flag, r.choice(3, nd, p=[0.7, 0.15, 0.15]), r.choice(3, nd, p=[0.5, 0.25, 0.25]))
        d_ident = first_flag | (r.random(nd) < 0.75)
        planted_dev = np.isin(d_person, list(cart_people))
        d_type[planted_dev] = 0
        d_ident[planted_dev] = True
        # anonymous-only visitors: persons without a shop account who browse
        others = np.flatnonzero(~self.has_shop)
        anon_people = others[r.random(len(others)) < 0.8]
        self.d_person = np.concatenate([d_person, anon_people])
        self.d_type = np.concatenate([d_type, np.zeros(len(anon_people), dtype=np.int64)])
        self.d_ident = np.concatenate([d_ident, np.zeros(len(anon_people), dtype=bool)])
        self.d_anon_only = np.concatenate([np.zeros(nd, dtype=bool), np.ones(len(anon_people), dtype=bool)])
        total = len(self.d_person)
        h = r.bytes(32 * total).hex()
        self.d_anon = [_uuid(h[64 * i: 64 * i + 32]) for i in range(total)]
        self.d_hw = [_uuid(h[64 * i + 32: 64 * i + 64]) for i in range(total)]
        tok = r.bytes(32 * total).hex()
        has_tok = (r.random(total) < 0.7).tolist()
        ip = r.integers(1, 255, (total, 4)).tolist()
        ua = r.integers(0, len(nm.USER_AGENTS_WEB), total).tolist()
        dtype = self.d_type.tolist()
        self.d_ctx_static: list[dict[str, Any]] = []
        self.d_token: list[str | None] = []
        for i in range(total):
            addr = f"{ip[i][0]}.{ip[i][1]}.{ip[i][2]}.{ip[i][3]}"
            if dtype[i] == 0:
                self.d_token.append(None)
                self.d_ctx_static.append({"ip": addr, "userAgent": nm.USER_AGENTS_WEB[ua[i]], "library": LIB_WEB})
            else:
                token = tok[64 * i: 64 * i + 64] if has_tok[i] else None
                self.d_token.append(token)
                kind = "ios" if dtype[i] == 1 else "android"
                self.d_ctx_static.append({
                    "ip": addr,
                    "userAgent": nm.USER_AGENT_IOS if kind == "ios" else nm.USER_AGENT_ANDROID,
                    "library": LIB_IOS if kind == "ios" else LIB_ANDROID,
                    "device": {"id": self.d_hw[i], "type": kind, "token": token},
                })
        # devices by person
        self.person_devs: dict[int, list[int]] = defaultdict(list)
        for i, p in enumerate(self.d_person.tolist()):
            self.person_devs[p].append(i)

    def assign_channels(self) -> None:
        """Pick each order's channel from the devices its customer identified on."""
        r = self.rng("channels")
        no = len(self.o_person)
        self.o_channel = np.full(no, 2, dtype=np.int64)  # 0 web, 1 app, 2 store
        self.o_device = np.full(no, -1, dtype=np.int64)
        u = r.random(no).tolist()
        pick = r.integers(0, 1000, no).tolist()
        dtype = self.d_type.tolist()
        ident = self.d_ident.tolist()
        forced = self.o_forced_channel.tolist()
        persons = self.o_person.tolist()
        for k in range(no):
            p = persons[k]
            devs = [d for d in self.person_devs.get(p, ()) if ident[d]]
            if forced[k] >= 0:
                self.o_channel[k] = forced[k]
                if forced[k] < 2 and devs:
                    self.o_device[k] = devs[0]
                continue
            if not devs:
                self.o_channel[k] = 0 if u[k] < 0.7 else 2  # web order with tracking blocked, or store
                continue
            if u[k] < 0.15:
                continue
            d = devs[pick[k] % len(devs)]
            self.o_device[k] = d
            self.o_channel[k] = 0 if dtype[d] == 0 else 1

    def make_sessions(self) -> None:
        r = self.rng("sessions")
        T, W0 = self.T, self.W0
        dp = self.d_person
        nd = len(dp)
        ndev_person = np.bincount(dp, minlength=self.n)
        cid = self.cid_of[dp]
        signup = np.where(cid >= 0, self.cust_signup[np.maximum(cid, 0)], W0)
        death = self.death_day[dp]
        end_alive = np.where(np.isfinite(death), T + np.nan_to_num(death, posinf=0.0) * DAY + 45 * DAY, T)
        start = np.maximum(signup, W0).astype(np.float64)
        end = np.minimum(end_alive, T - 600).astype(np.float64)
        anon = self.d_anon_only
        a_first = r.uniform(W0, T - DAY, nd)
        a_end = np.minimum(a_first + r.uniform(1, 240, nd) * DAY, T - 600)
        start = np.where(anon, a_first, start)
        end = np.where(anon, a_end, end)
        rate = np.where(anon, (0.8 + 0.3 * self.lam[dp]), (0.6 + 0.5 * self.lam[dp]) / np.maximum(ndev_person[dp], 1))
        rate = rate * self.engage[dp]
        span = np.maximum(end - start, 0) / (365.0 * DAY)
        nb = r.poisson(rate * span)
        nb = np.where(anon, np.maximum(nb, 1), nb)
        nb[self.seg_planted[dp]] = 0
        s_dev = np.repeat(np.arange(nd), nb)
        ns = len(s_dev)
        s_ts = (start[s_dev] + r.random(ns) * np.maximum(end - start, 1)[s_dev]).astype(np.int64)
        s_kind = np.where(r.random(ns) < 0.22, 1, 0)
        s_order = np.full(ns, -1)
        # purchase sessions (web and app orders inside the event window)
        online = (self.o_device >= 0) & (self.o_ts >= W0 + 3600)
        oi = np.flatnonzero(online)
        s_dev = np.concatenate([s_dev, self.o_device[oi]])
        s_ts = np.concatenate([s_ts, self.o_ts[oi] - 900])
        s_kind = np.concatenate([s_kind, np.full(len(oi), 2)])
        s_order = np.concatenate([s_order, oi])
        # planted cart sessions
        planted_sessions = self.planted_sessions()
        if planted_sessions:
            s_dev = np.concatenate([s_dev, [x[0] for x in planted_sessions]])
            s_ts = np.concatenate([s_ts, [x[1] for x in planted_sessions]])
            s_kind = np.concatenate([s_kind, [x[2] for x in planted_sessions]])
            s_order = np.concatenate([s_order, [x[3] for x in planted_sessions]])
        order = np.lexsort((np.arange(len(s_dev)), s_ts, s_dev))
        self.s_dev = s_dev[order]
        self.s_ts = s_ts[order].astype(np.int64)
        self.s_kind = s_kind[order]
        self.s_order = s_order[order]
        # identification: the session at which each identifying device logs in
        ns = len(self.s_dev)
        self.s_identify = np.zeros(ns, dtype=bool)
        self.s_userid = np.zeros(ns, dtype=bool)
        bounds = np.searchsorted(self.s_dev, np.arange(nd + 1))
        later = r.random(nd) < 0.4
        k_later = r.integers(1, 4, nd)
        ident = self.d_ident
        planted_dev = self.seg_planted[dp]
        kinds = self.s_kind
        for d in np.flatnonzero(ident & (bounds[1:] > bounds[:-1])).tolist():
            a, b = bounds[d], bounds[d + 1]
            k = int(k_later[d]) if later[d] and not planted_dev[d] else 0
            k = min(k, b - a - 1)
            purchases = np.flatnonzero(kinds[a:b] == 2)
            if len(purchases):
                k = min(k, int(purchases[0]))
            self.s_identify[a + k] = True
            self.s_userid[a + k: b] = True
        self.mess["devices_identified_after_anonymous_sessions"] = int(
            sum(1 for d in np.flatnonzero(self.s_identify).tolist() if d > 0 and self.s_dev[d - 1] == self.s_dev[d])
        )

    def planted_sessions(self) -> list[tuple[int, int, int, int]]:
        """(device, ts, kind, order) for the planted cart-abandoner cases."""
        cm, cn = self.plant["cart_abandoners_7d"]
        T = self.T
        out = []
        order_index = {}
        for k, p in enumerate(self.o_person.tolist()):
            if p in (cn[0], cn[3]):
                order_index[p] = k
        for p in cm + cn:
            d = self.person_devs[p][0]
            out.append((d, T - 60 * DAY + 10 * 3600, 0, -1))  # login + browse 60 days ago
        added = {cm[0]: 2, cm[1]: 2, cm[2]: 4, cm[3]: 5, cn[0]: 2, cn[1]: 10, cn[3]: 3}
        for p, days in added.items():
            d = self.person_devs[p][0]
            out.append((d, T - days * DAY + 10 * 3600, 1, -1))
        out.append((self.person_devs[cn[2]][0], T - 1 * DAY + 10 * 3600, 0, -1))  # viewed only
        # planted orders become purchase sessions through the normal path (o_device set)
        return out

    def _traits(self, p: int, pr: random.Random) -> dict[str, Any]:
        c = int(self.cid_of[p])
        first = self.first_name[p]
        nick = nm.NICKNAMES.get(first)
        if nick and not self.protected[p] and pr.random() < 0.1:
            first = pr.choice(nick)
            self.mess["events.identify_nickname"] += 1
        email = self.shop_email[c]
        phone = self.shop_phone[c]
        return {"email": email.strip() if email else email, "phone": phone, "firstName": first,
                "lastName": self.last_name[p]}

    def make_events(self) -> None:
        r = self.rng("events")
        pr = self.prng("events")
        s_dev = self.s_dev.tolist()
        s_ts = self.s_ts.tolist()
        s_kind = self.s_kind.tolist()
        s_order = self.s_order.tolist()
        s_identify = self.s_identify.tolist()
        s_uid = self.s_userid.tolist()
        d_type = self.d_type.tolist()
        d_person = self.d_person.tolist()
        fav = self.fav.tolist()
        ns = len(s_dev)
        # session-level randomness
        n_view = r.integers(1, 3, ns).tolist()
        camp = r.integers(0, len(CAMPAIGNS) * 7, ns).tolist()  # ~1 in 7 sessions carry a campaign
        ref = r.integers(0, len(REFERRERS), ns).tolist()
        cat_u = r.random((ns, 2)).tolist()
        prod_pick = r.choice(PRODUCTS_PER_CATEGORY, (ns, 2), p=self.prod_pop).tolist()
        gaps = r.integers(5, 90, (ns, 12)).tolist()
        cat_any = r.choice(10, (ns, 2), p=CATEGORY_WEIGHTS / CATEGORY_WEIGHTS.sum()).tolist()
        add_qty = r.choice([1, 2], ns, p=[0.85, 0.15]).tolist()
        traits_cache: dict[int, dict[str, Any]] = {}
        ev_ts: list[int] = []
        ev: list[tuple] = []  # (dev, type, label, page, props, uid, campaign)
        push_ts = ev_ts.append
        push = ev.append
        vp = self.product_view_props
        products = self.products
        o_amount = self.o_amount.tolist()
        l_start = self.l_start.tolist()
        l_prod = self.l_prod.tolist()
        l_qty = self.l_qty.tolist()
        l_unit = self.l_unit.tolist()
        for j in range(ns):
            d = s_dev[j]
            t = s_ts[j]
            web = d_type[d] == 0
            uid = s_uid[j]
            page_type = "page" if web else "screen"
            c = camp[j]
            campaign = CAMPAIGNS[c] if c < len(CAMPAIGNS) else None
            referrer = REFERRERS[ref[j]]
            g = gaps[j]
            gi = 0
            if s_identify[j]:
                p = d_person[d]
                tr = traits_cache.get(p)
                if tr is None:
                    tr = traits_cache[p] = self._traits(p, pr)
                push_ts(t)
                push((d, "identify", None, None, tr, True, None))
                t += 2
            push_ts(t)
            push((d, page_type, "Home", ("/", "Tessera Shop", referrer), None, uid, campaign))
            kind = s_kind[j]
            if kind == 2:
                o = s_order[j]
                lines = range(l_start[o], l_start[o + 1])
                items = []
                for li in lines:
                    pi = l_prod[li]
                    t += g[gi % 12]
                    gi += 1
                    push_ts(t)
                    push((d, page_type, "Product", (f"/products/{products[pi][0]}", products[pi][1], referrer),
                          None, uid, None))
                    push_ts(t + 1)
                    push((d, "track", "Product Viewed", None, vp[pi], uid, None))
                    t += g[gi % 12]
                    gi += 1
                    push_ts(t)
                    push((d, "track", "Product Added", None,
                          {"product_id": products[pi][0], "name": products[pi][1], "category": products[pi][2],
                           "price": l_unit[li], "quantity": l_qty[li]}, uid, None))
                    items.append({"product_id": products[pi][0], "category": products[pi][2],
                                  "price": l_unit[li], "quantity": l_qty[li]})
                props = {"order_id": self.o_id[o], "revenue": o_amount[o], "currency": "USD", "products": items}
                t = max(t + 30, int(self.o_ts[o]) - 60)
                push_ts(t)
                push((d, "track", "Checkout Started", None, props, uid, None))
                push_ts(int(self.o_ts[o]))
                push((d, "track", "Order Completed", None, props, uid, None))
                continue
            p = d_person[d]
            nv = n_view[j]
            last_pi = 0
            for v in range(nv):
                cat = fav[p] if cat_u[j][v] < 0.6 else cat_any[j][v]
                pi = cat * PRODUCTS_PER_CATEGORY + prod_pick[j][v]
                last_pi = pi
                t += g[gi % 12]
                gi += 1
                push_ts(t)
                push((d, page_type, "Product", (f"/products/{products[pi][0]}", products[pi][1], referrer),
                      None, uid, None))
                push_ts(t + 1)
                push((d, "track", "Product Viewed", None, vp[pi], uid, None))
            if kind == 1:
                t += g[gi % 12]
                push_ts(t)
                pi = last_pi
                push((d, "track", "Product Added", None,
                      {"product_id": products[pi][0], "name": products[pi][1], "category": products[pi][2],
                       "price": products[pi][3], "quantity": add_qty[j]}, uid, None))
        self.ev = ev
        self.ev_ts = np.array(ev_ts, dtype=np.int64)
        self.write_events(r, pr)

    def write_events(self, r: np.random.Generator, pr: random.Random) -> None:
        T = self.T
        ev = self.ev
        ne = len(ev)
        ts = np.minimum(self.ev_ts, T - 1)
        sent = ts + r.integers(0, 2, ne)
        received = sent + r.integers(0, 3, ne)
        late = (r.random(ne) < 0.02) & (received + 11 * DAY < T)
        received = np.where(late, received + r.integers(1, 11, ne) * DAY + r.integers(0, DAY, ne), received)
        self.mess["events_late"] = int(late.sum())
        protected_dev = self.protected[self.d_person]
        ev_dev = np.fromiter((e[0] for e in ev), dtype=np.int64, count=ne)
        clean_ok = ~protected_dev[ev_dev]
        # extra output lines: duplicates (same messageId), truncated JSON, missing messageId
        dup_idx = np.flatnonzero(r.random(ne) < 0.01)
        dup_far = r.random(len(dup_idx)) < 0.25
        dup_recv = received[dup_idx] + np.where(dup_far, r.integers(28, 40, len(dup_idx)) * DAY,
                                                r.integers(60, 3 * DAY, len(dup_idx)))
        dup_recv = np.where(dup_recv < T, dup_recv, received[dup_idx] + 60)
        bad_ts = set(self.pick(r, 0.003, clean_ok))
        # junk copies are made of well-formed messages only, so each junk line has exactly one fault
        good = np.ones(ne, dtype=bool)
        good[list(bad_ts)] = False
        keep = good[dup_idx]
        dup_idx, dup_recv = dup_idx[keep], dup_recv[keep]
        trunc_idx = np.array(self.pick(r, 0.003, good), dtype=np.int64)
        nokey_idx = np.array(self.pick(r, 0.002, good), dtype=np.int64)
        self.mess["events_duplicate_messages"] = len(dup_idx)
        self.mess["events_truncated_lines"] = len(trunc_idx)
        self.mess["events_missing_message_id"] = len(nokey_idx)
        self.mess["events_bad_timestamp"] = len(bad_ts)
        # output entries
        kinds = np.concatenate([np.zeros(ne, dtype=np.int64), np.ones(len(dup_idx), dtype=np.int64),
                                np.full(len(trunc_idx), 2), np.full(len(nokey_idx), 3)])
        src = np.concatenate([np.arange(ne), dup_idx, trunc_idx, nokey_idx])
        recv = np.concatenate([received, dup_recv, received[trunc_idx] + 1, received[nokey_idx] + 1])
        order = np.lexsort((np.arange(len(src)), recv))
        kinds, src, recv = kinds[order], src[order], recv[order]
        months = recv.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64)
        ts_s = _iso_many(ts)
        sent_s = _iso_many(sent)
        recv_s = _iso_many(recv)
        hexs = r.bytes(16 * ne).hex()
        d_anon = self.d_anon
        d_ctx = self.d_ctx_static
        d_type = self.d_type.tolist()
        d_person = self.d_person.tolist()
        cid_of = self.cid_of
        bad_choices = BAD_EVENT_TIMESTAMPS
        user_cache: dict[int, str | None] = {}

        def build(i: int) -> dict[str, Any]:
            d, typ, label, page, props, uid, campaign = ev[i]
            static = d_ctx[d]
            if d_type[d] == 0:
                ctx = dict(static)
                if page is not None:
                    ctx["page"] = {"url": SHOP_HOST + page[0], "path": page[0], "referrer": page[2],
                                   "title": page[1]}
            else:
                ctx = static if campaign is None else dict(static)
            if campaign is not None:
                ctx["campaign"] = campaign
            user = None
            if uid:
                user = user_cache.get(d)
                if user is None:
                    user = user_cache[d] = self.cid[int(cid_of[d_person[d]])]
            o = 32 * i
            msg: dict[str, Any] = {
                "messageId": _uuid(hexs[o:o + 32]),
                "type": typ,
                "anonymousId": d_anon[d],
                "userId": user,
                "timestamp": ts_s[i] if i not in bad_ts else bad_choices[i % len(bad_choices)],
                "sentAt": sent_s[i],
                "context": ctx,
            }
            if typ == "track":
                msg["event"] = label
                msg["properties"] = props
            elif typ == "identify":
                msg["traits"] = props
            else:
                msg["name"] = label
            return msg

        out_dir = self.out / "events"
        out_dir.mkdir(parents=True, exist_ok=True)
        dumps = orjson.dumps
        kinds_l = kinds.tolist()
        src_l = src.tolist()
        month_l = months.tolist()
        month_ids = sorted(set(month_l))
        file_of = {m: k + 1 for k, m in enumerate(month_ids)}
        counts: dict[int, int] = defaultdict(int)
        fh = None
        current = None
        try:
            for pos in range(len(src_l)):
                k_file = file_of[month_l[pos]]
                if k_file != current:
                    if fh is not None:
                        fh.close()
                    current = k_file
                    fh = (out_dir / f"events-{k_file:04d}.jsonl").open("wb", buffering=1 << 20)
                i = src_l[pos]
                msg = build(i)
                kind = kinds_l[pos]
                if kind <= 1:
                    msg["receivedAt"] = recv_s[pos]
                    line = dumps(msg)
                elif kind == 2:
                    msg["receivedAt"] = recv_s[pos]
                    full = dumps(msg)
                    line = full[: max(10, int(len(full) * (0.3 + 0.6 * ((i * 7919) % 97) / 97)))]
                else:
                    del msg["messageId"]
                    msg["receivedAt"] = recv_s[pos]
                    line = dumps(msg)
                fh.write(line)
                fh.write(b"\n")
                counts[k_file] += 1
        finally:
            if fh is not None:
                fh.close()
        for k_file, c in sorted(counts.items()):
            self.files[f"events/events-{k_file:04d}.jsonl"] = c
        # truth for devices that appear in events
        seen_dev = sorted(set(ev_dev.tolist()))
        for d in seen_dev:
            self.truth.append((f"web:{d_anon[d]}", d_person[d]))
        self.n_event_devices = len(seen_dev)
        self.n_anonymous_only_ids = int(sum(1 for d in seen_dev if not self.d_ident[d]))
        del self.ev

    # ---- 5. shop database -------------------------------------------------------------------
    def make_shop_records(self) -> None:
        """Shop customer field values (also used for identify traits)."""
        r = self.rng("shop_fields")
        pr = self.prng("shop_fields")
        nc = len(self.cust_person)
        u = r.random((nc, 6)).tolist()
        styles = r.integers(0, N_PHONE_STYLES, nc).tolist()
        self.shop_email: list[str | None] = []
        self.shop_phone: list[str | None] = []
        for c, p in enumerate(self.cust_person.tolist()):
            e = self.email[p]
            prot = self.protected[p]
            if not prot and u[c][0] < 0.05:
                e = email_variant(e, pr.choice(("upper", "title")))
                self.mess["shop.email_case_variant"] += 1
            elif not prot and u[c][0] < 0.07:
                e = email_variant(e, "space")
                self.mess["shop.email_whitespace"] += 1
            self.shop_email.append(e)
            if not prot and u[c][1] < 0.18:
                self.shop_phone.append(None)
            else:
                self.shop_phone.append(format_phone(self.phone[p], 0 if prot else styles[c]))

    def write_shop(self) -> None:
        r = self.rng("shop")
        pr = self.prng("shop")
        path = self.out / "shop" / "shop.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.unlink()
        con = sqlite3.connect(path)
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.executescript(
            """
            CREATE TABLE customers (customer_id TEXT PRIMARY KEY, email TEXT, phone TEXT, first_name TEXT,
              last_name TEXT, date_of_birth TEXT, street TEXT, city TEXT, postcode TEXT, state TEXT,
              country TEXT, created_at TEXT, updated_at TEXT);
            CREATE TABLE products (product_id TEXT PRIMARY KEY, name TEXT, category TEXT, price REAL,
              updated_at TEXT);
            CREATE TABLE orders (order_id TEXT PRIMARY KEY, customer_id TEXT, ordered_at TEXT, status TEXT,
              currency TEXT, total_amount REAL, channel TEXT, updated_at TEXT);
            CREATE TABLE order_lines (order_line_id TEXT PRIMARY KEY, order_id TEXT, product_id TEXT,
              quantity INTEGER, unit_price REAL, updated_at TEXT);
            """
        )
        T = self.T
        nc = len(self.cust_person)
        u = r.random((nc, 6)).tolist()
        signup_s = _iso_many(self.cust_signup)
        last_touch = np.maximum(self.cust_signup, self.last_order_ts[self.cust_person])
        upd = last_touch + (r.random(nc) * (T - 1 - last_touch) * 0.3).astype(np.int64)
        upd_s = _iso_many(upd)
        rows = []
        cust_l = self.cust_person.tolist()
        self.force(u, cust_l, 2, 0.001, 0)  # a bad date_of_birth
        self.force(u, cust_l, 2, 0.006, 1)  # a bad created_at
        for c, p in enumerate(cust_l):
            prot = self.protected[p]
            first, last = self.first_name[p], self.last_name[p]
            if not prot and u[c][0] < 0.02:
                first, last = first.lower(), last.lower()
                self.mess["shop.name_lowercase"] += 1
            dob = self.dob_str[p] if (prot or u[c][1] < 0.55) else None
            created = signup_s[c]
            if not prot and u[c][2] < 0.005:
                dob = pr.choice(BAD_DATES)
                self.mess["shop.customers_bad_date_of_birth"] += 1
            elif not prot and u[c][2] < 0.008:
                created = pr.choice(BAD_DATES)
                self.mess["shop.customers_bad_created_at"] += 1
            city = nm.CITIES[self.city[p]]
            street = f"{self.street_no[p]} {nm.STREET_NAMES[self.street[p]]}" if (prot or u[c][3] > 0.08) else None
            rows.append((self.cid[c], self.shop_email[c], self.shop_phone[c], first, last, dob, street,
                         city[0], f"{city[2]}{self.zip_suffix[p]:02d}", city[1], "US", created, upd_s[c]))
        extra = [rows[k] for k in self.pick(r, 0.003, ~self.protected[self.cust_person] & _clean(rows))]
        for row in extra:
            rows.append((None,) + row[1:])
        self.mess["shop.customers_missing_customer_id"] = len(extra)
        con.executemany("INSERT INTO customers VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        self.files["shop/shop.sqlite:customers"] = len(rows)
        for c in range(nc):
            self.truth.append((f"shop:{self.cid[c]}", int(self.cust_person[c])))
        prod_upd = _iso(T - 400 * DAY)
        con.executemany("INSERT INTO products VALUES (?,?,?,?,?)",
                        [(p[0], p[1], p[2], p[3], prod_upd) for p in self.products])
        self.files["shop/shop.sqlite:products"] = len(self.products)
        no = len(self.o_id)
        ou = r.random((no, 2)).tolist()
        o_ts_s = _iso_many(self.o_ts)
        o_upd = np.minimum(self.o_ts + np.where(self.o_status == 0, 0, r.integers(DAY, 20 * DAY, no)), T - 1)
        o_upd_s = _iso_many(o_upd)
        status_names = ("completed", "cancelled", "refunded")
        channel_names = ("web", "app", "store")
        status = self.o_status.tolist()
        channel = self.o_channel.tolist()
        amount = self.o_amount.tolist()
        persons = self.o_person.tolist()
        orows = []
        self.force(ou, persons, 0, 0.001, 0)  # a non-numeric total_amount
        self.force(ou, persons, 0, 0.001, 1)
        self.force(ou, persons, 0, 0.008, 2)  # a bad ordered_at
        for k in range(no):
            p = persons[k]
            prot = self.protected[p]
            total: Any = amount[k]
            when = o_ts_s[k]
            if not prot and ou[k][0] < 0.007:
                total = pr.choice(BAD_AMOUNTS)
                self.mess["shop.orders_bad_total_amount"] += 1
            elif not prot and ou[k][0] < 0.01:
                when = pr.choice(BAD_DATES)
                self.mess["shop.orders_bad_ordered_at"] += 1
            orows.append((self.o_id[k], self.cid[int(self.cid_of[p])], when, status_names[status[k]], "USD",
                          total, channel_names[channel[k]], o_upd_s[k]))
        extra = [orows[k] for k in self.pick(r, 0.002, ~self.protected[self.o_person] & _clean(orows))]
        for row in extra:
            orows.append((None,) + row[1:])
        self.mess["shop.orders_missing_order_id"] = len(extra)
        con.executemany("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?)", orows)
        self.files["shop/shop.sqlite:orders"] = len(orows)
        l_order = self.l_order.tolist()
        l_prod = self.l_prod.tolist()
        l_qty = self.l_qty.tolist()
        l_unit = self.l_unit.tolist()
        l_start = self.l_start.tolist()
        lrows = []
        for li in range(len(l_order)):
            o = l_order[li]
            lrows.append((f"{self.o_id[o]}-{li - l_start[o] + 1}", self.o_id[o], self.products[l_prod[li]][0],
                          l_qty[li], l_unit[li], o_upd_s[o]))
        con.executemany("INSERT INTO order_lines VALUES (?,?,?,?,?,?)", lrows)
        self.files["shop/shop.sqlite:order_lines"] = len(lrows)
        con.commit()
        con.close()

    # ---- 6. CRM -----------------------------------------------------------------------------
    def name_variant(self, p: int, kind: str, pr: random.Random) -> tuple[str | None, str | None, str]:
        """(first_name, last_name, full_name) for a name-variant kind."""
        first, last = self.first_name[p], self.last_name[p]
        if kind == "nickname" and first in nm.NICKNAMES:
            first = pr.choice(nm.NICKNAMES[first])
        elif kind == "initial":
            return f"{first[0]}.", last, f"{first[0]}. {last}"
        elif kind == "typo_first":
            first = typo(first, pr)
        elif kind == "typo_last":
            last = typo(last, pr)
        elif kind == "swapped":
            first, last = last, first
        elif kind == "upper":
            first, last = first.upper(), last.upper()
        return first, last, f"{first} {last}"

    def write_crm(self) -> None:
        r = self.rng("crm")
        pr = self.prng("crm")
        T = self.T
        people = np.flatnonzero(self.has_crm)
        m = len(people)
        cid = self.cid_of[people]
        base = np.where(cid >= 0, self.cust_signup[np.maximum(cid, 0)], T - 900 * DAY)
        created = np.where(cid >= 0, base + r.integers(-60, 60, m) * DAY, base + r.integers(0, 895, m) * DAY)
        created = np.minimum(created + r.integers(0, DAY, m), T - DAY)
        updated = created + (r.random(m) * (T - 1 - created)).astype(np.int64)
        order = np.lexsort((people, created))
        people, created, updated = people[order], created[order], updated[order]
        created_s = _iso_many(created)
        updated_s = _iso_many(updated)
        u = r.random((m, 8)).tolist()
        styles = r.integers(0, N_PHONE_STYLES, m).tolist()
        dup_kinds = {p: ("nickname", "initial", "typo_last", "swapped")[k % 4] for k, p in enumerate(self.dup_people)}
        self.crm_ids: dict[int, str] = {}
        rows = []
        self.force(u, people.tolist(), 5, 0.001, 0)  # a bad created_at
        for k, p in enumerate(people.tolist()):
            cid_s = self.cid_for(p)
            prot = self.protected[p]
            x = u[k]
            if p in dup_kinds:
                kind = dup_kinds[p]
            elif prot:
                kind = "none"
            elif x[0] < 0.10:
                kind = "nickname"
            elif x[0] < 0.16:
                kind = "initial"
            elif x[0] < 0.20:
                kind = "typo_first"
            elif x[0] < 0.23:
                kind = "typo_last"
            elif x[0] < 0.26:
                kind = "swapped"
            elif x[0] < 0.30:
                kind = "upper"
            else:
                kind = "none"
            first, last, full = self.name_variant(p, kind, pr)
            if kind != "none":
                self.mess[f"crm.name_{kind}"] += 1
            email: str | None = self.email[p]
            if p in dup_kinds:
                email = email_variant(email, "upper" if k % 2 else "title")
            elif not prot:
                if x[1] < 0.10:
                    email = None
                    self.mess["crm.email_missing"] += 1
                elif x[1] < 0.22:
                    email = email_variant(email, pr.choice(("upper", "title")))
                    self.mess["crm.email_case_variant"] += 1
                elif x[1] < 0.28:
                    email = email_variant(email, pr.choice(("space", "tab")))
                    self.mess["crm.email_whitespace"] += 1
            phone = format_phone(self.phone[p], styles[k]) if (prot or x[2] < 0.55) else None
            link = cid_s if (cid_s is not None and (p in dup_kinds or x[3] < 0.63)) else None
            stage = ("customer" if x[4] < 0.85 else "evangelist") if cid_s else \
                ("subscriber", "lead", "marketingqualifiedlead", "opportunity")[int(x[4] * 4)]
            crm_id = f"CRM-{k + 1:07d}"
            created_k = created_s[k]
            if not prot and x[5] < 0.006:
                created_k = pr.choice(BAD_DATES)
                self.mess["crm.bad_created_at"] += 1
            rows.append({
                "id": crm_id, "full_name": full, "first_name": first, "last_name": last, "email": email,
                "phone": phone,
                "company": nm.COMPANIES[int(x[6] * len(nm.COMPANIES))] if x[7] < 0.7 else None,
                "job_title": nm.JOB_TITLES[int(x[7] * len(nm.JOB_TITLES)) % len(nm.JOB_TITLES)] if x[7] < 0.7 else None,
                "customer_id": link, "lifecycle_stage": stage, "created_at": created_k,
                "updated_at": updated_s[k],
            })
            self.crm_ids[p] = crm_id
            self.truth.append((f"crm:{crm_id}", p))
        extra = [dict(rows[k], id=None) for k in self.pick(r, 0.003, ~self.protected[people] & _clean(rows))]
        self.mess["crm.missing_id"] = len(extra)
        # keep junk rows near their source row's position in the export
        rows.extend(extra)
        path = self.out / "crm" / "contacts.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(rows, option=orjson.OPT_INDENT_2) + b"\n")
        self.files["crm/contacts.json"] = len(rows)

    # ---- 7. loyalty -------------------------------------------------------------------------
    def write_loyalty(self) -> None:
        r = self.rng("loyalty")
        pr = self.prng("loyalty")
        T = self.T
        people = np.flatnonzero(self.has_loyalty)
        m = len(people)
        cid = self.cid_of[people]
        enrolled = np.where(cid >= 0, self.cust_signup[np.maximum(cid, 0)] + r.integers(0, 120, m) * DAY,
                            T - r.integers(2, 900, m) * DAY)
        enrolled = np.minimum(enrolled + r.integers(0, DAY, m), T - DAY)
        lap_m, lap_n = self.plant["lapsed_loyalty"]
        for p in lap_m + lap_n[:2]:
            enrolled[people == p] = T - 650 * DAY
        last_act = np.maximum(enrolled, self.last_order_ts[people])
        updated = last_act + (r.random(m) * (T - 1 - last_act) * 0.2).astype(np.int64)
        order = np.lexsort((people, enrolled))
        people, enrolled, last_act, updated = people[order], enrolled[order], last_act[order], updated[order]
        enrolled_s, last_s, upd_s = _iso_many(enrolled), _iso_many(last_act), _iso_many(updated)
        u = r.random((m, 8)).tolist()
        styles = r.integers(0, N_PHONE_STYLES, m).tolist()
        bonus = r.integers(0, 500, m).tolist()
        self.loyalty_ids: dict[int, str] = {}
        self.loyalty_linked = np.zeros(self.n, dtype=bool)
        dups = {p: k for k, p in enumerate(self.dup_people)}
        rows = []
        self.force(u, people.tolist(), 5, 0.001, 0)  # a non-numeric points_balance
        self.force(u, people.tolist(), 5, 0.008, 1)  # a bad date_of_birth
        self.force(u, people.tolist(), 5, 0.011, 2)  # a bad enrolled_at
        for k, p in enumerate(people.tolist()):
            prot = self.protected[p]
            x = u[k]
            cid_s = self.cid_for(p)
            link = cid_s if (cid_s is not None and (prot or x[0] < 0.85)) else None
            if link:
                self.loyalty_linked[p] = True
            if p in dups:
                first, last, _ = self.name_variant(p, ("typo_first", "none", "nickname", "upper")[dups[p] % 4], pr)
                email = email_variant(self.email[p], ("space", "upper", "tab", "title")[dups[p] % 4])
            elif prot:
                first, last, email = self.first_name[p], self.last_name[p], self.email[p]
            else:
                kind = "typo_last" if x[1] < 0.04 else "typo_first" if x[1] < 0.07 else \
                    "nickname" if x[1] < 0.12 else "none"
                first, last, _ = self.name_variant(p, kind, pr)
                if kind != "none":
                    self.mess[f"loyalty.name_{kind}"] += 1
                email = self.email[p]
                if x[2] < 0.08:
                    email = None
                    self.mess["loyalty.email_missing"] += 1
                elif x[2] < 0.18:
                    email = email_variant(email, pr.choice(("upper", "title", "space")))
                    self.mess["loyalty.email_variant"] += 1
            phone = format_phone(self.phone[p], styles[k]) if (prot or x[3] < 0.6) else None
            y, mo, d = self.dob_str[p].split("-")
            dob: str | None = self.dob_str[p] if (prot or x[4] < 0.7) else f"{mo}/{d}/{y}" if x[4] < 0.9 else None
            if not prot and 0.7 <= x[4] < 0.9:
                self.mess["loyalty.dob_us_format"] += 1
            ltv = float(self.ltv[p])
            points: Any = int(ltv) + bonus[k]
            tier = "platinum" if ltv >= 2000 else "gold" if ltv >= 800 else "silver" if ltv >= 250 else "bronze"
            enrolled_k = enrolled_s[k]
            if not prot and x[5] < 0.006:
                points = pr.choice(BAD_AMOUNTS)
                self.mess["loyalty.bad_points_balance"] += 1
            elif not prot and x[5] < 0.01:
                dob = pr.choice(BAD_DATES)
                self.mess["loyalty.bad_date_of_birth"] += 1
            elif not prot and x[5] < 0.012:
                enrolled_k = pr.choice(BAD_DATES)
                self.mess["loyalty.bad_enrolled_at"] += 1
            member_id = f"L{k + 1:07d}"
            rows.append([member_id, link, email, phone, first, last, dob, tier, points, enrolled_k,
                         last_s[k], upd_s[k]])
            self.loyalty_ids[p] = member_id
            self.truth.append((f"loyalty:{member_id}", p))
        extra = [[None] + rows[k][1:] for k in self.pick(r, 0.003, ~self.protected[people] & _clean(rows))]
        self.mess["loyalty.missing_member_id"] = len(extra)
        rows.extend(extra)
        header = ["member_id", "customer_id", "email", "phone", "first_name", "last_name", "date_of_birth",
                  "tier", "points_balance", "enrolled_at", "last_activity_at", "updated_at"]
        self.files["loyalty/members.csv"] = self._write_csv("loyalty/members.csv", header, rows)

    def _write_csv(self, rel: str, header: list[str], rows: list[list[Any]]) -> int:
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(header)
            w.writerows(rows)
        return len(rows)

    def _write_jsonl(self, rel: str, rows: list[dict[str, Any]], truncate: list[int]) -> int:
        """Write rows; rows whose index is in ``truncate`` are followed by a truncated copy."""
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        cut = set(truncate)
        n = 0
        with path.open("wb", buffering=1 << 20) as fh:
            for i, row in enumerate(rows):
                b = orjson.dumps(row)
                fh.write(b)
                fh.write(b"\n")
                n += 1
                if i in cut:
                    fh.write(b[: max(8, len(b) // 2 + (i % 17))])
                    fh.write(b"\n")
                    n += 1
        return n

    # ---- 8. support -------------------------------------------------------------------------
    def write_support(self) -> None:
        r = self.rng("support")
        pr = self.prng("support")
        T = self.T
        people = np.flatnonzero(self.has_support)
        nt = 1 + r.geometric(0.6, len(people)) - 1
        tp = np.repeat(people, nt)
        m = len(tp)
        cid = self.cid_of[tp]
        lo = np.where(cid >= 0, np.maximum(self.cust_signup[np.maximum(cid, 0)], T - 700 * DAY), T - 700 * DAY)
        created = (lo + r.random(m) * (T - DAY - lo)).astype(np.int64)
        order = np.lexsort((np.arange(m), created))
        tp, created = tp[order], created[order]
        age = (T - created) / DAY
        u = r.random((m, 8)).tolist()
        updated = np.minimum(created + (r.random(m) * np.minimum(age, 20) * DAY).astype(np.int64), T - 1)
        created_s, updated_s = _iso_many(created), _iso_many(updated)
        styles = r.integers(0, N_PHONE_STYLES, m).tolist()
        cats = tuple(nm.TICKET_SUBJECTS)
        dup_done: set[int] = set()
        self.ticket_ids: dict[int, list[str]] = defaultdict(list)
        rows = []
        self.force(u, tp.tolist(), 7, 0.001, 0)  # a bad created_at
        for k, p in enumerate(tp.tolist()):
            x = u[k]
            prot = self.protected[p]
            first, last = self.first_name[p], self.last_name[p]
            is_dup = p in self.dup_people and p not in dup_done
            if is_dup:
                dup_done.add(p)
                j = self.dup_people.index(p)
                name = (f"{first[0]}. {last}", f"{first.lower()} {last.lower()}", f"{last}, {first}",
                        f"{nm.NICKNAMES[first][0]} {last}")[j % 4]
                email: str | None = email_variant(self.email[p], ("space", "upper", "title", "tab")[j % 4])
            elif prot:
                name, email = f"{first} {last}", self.email[p]
            else:
                y = x[0]
                if y < 0.55:
                    name = f"{first} {last}"
                elif y < 0.65:
                    name = f"{first.lower()} {last.lower()}"
                    self.mess["support.name_lowercase"] += 1
                elif y < 0.75:
                    name = f"{last}, {first}"
                    self.mess["support.name_last_first"] += 1
                elif y < 0.85:
                    name = f"{first[0]}. {last}"
                    self.mess["support.name_initial"] += 1
                elif y < 0.93 and first in nm.NICKNAMES:
                    name = f"{pr.choice(nm.NICKNAMES[first])} {last}"
                    self.mess["support.name_nickname"] += 1
                else:
                    name = first
                    self.mess["support.name_first_only"] += 1
                z = x[1]
                email = self.email[p]
                if z < 0.07:
                    email = None
                    self.mess["support.email_missing"] += 1
                elif z < 0.15:
                    email = f"{_slug(first)}.{_slug(last)}@{_slug(nm.COMPANIES[int(x[7] * 20)])}.com"
                    self.mess["support.email_work_address"] += 1
                elif z < 0.27:
                    email = email_variant(email, pr.choice(("upper", "title", "space", "tab")))
                    self.mess["support.email_variant"] += 1
            phone = format_phone(self.phone[p], styles[k]) if x[2] < 0.3 else None
            cat = cats[int(x[3] * len(cats))]
            subjects = nm.TICKET_SUBJECTS[cat]
            a = age[k]
            status = "open" if a < 3 and x[4] < 0.6 else "pending" if a < 10 and x[4] < 0.3 else \
                ("solved" if x[4] < 0.5 else "closed")
            csat = (1 + int(x[5] * 5)) if status in ("solved", "closed") and x[6] < 0.6 else None
            created_k = created_s[k]
            if not prot and x[7] < 0.008:
                created_k = pr.choice(BAD_DATES)
                self.mess["support.bad_created_at"] += 1
            tid = f"T{k + 1:07d}"
            rows.append({"ticket_id": tid, "requester_email": email, "requester_name": name,
                         "requester_phone": phone, "subject": subjects[int(x[6] * 3) % 3], "category": cat,
                         "status": status,
                         "priority": ("low", "normal", "normal", "high", "urgent")[int(x[5] * 5)],
                         "csat": csat, "created_at": created_k, "updated_at": updated_s[k]})
            self.ticket_ids[p].append(tid)
            self.truth.append((f"support:{tid}", p))
        extra_idx = self.pick(r, 0.003, ~self.protected[tp] & _clean(rows))
        for k in extra_idx:
            row = {key: v for key, v in rows[k].items() if key != "ticket_id"}
            rows.append(row)
        self.mess["support.missing_ticket_id"] = len(extra_idx)
        trunc = self.pick(r, 0.003, np.ones(len(rows), dtype=bool))
        self.mess["support.truncated_lines"] = len(trunc)
        self.files["support/tickets.jsonl"] = self._write_jsonl("support/tickets.jsonl", rows, trunc)

    # ---- 9. consent -------------------------------------------------------------------------
    def make_consent(self) -> None:
        r = self.rng("consent")
        T, W0 = self.T, self.W0
        rows: list[tuple] = []  # (ts, person, cid, email, phone, channel, purpose, status, source)
        inf = np.iinfo(np.int64).max
        self.em_in = np.full(self.n, inf, dtype=np.int64)
        self.em_out = np.full(self.n, inf, dtype=np.int64)
        self.sms_in = np.full(self.n, inf, dtype=np.int64)
        self.sms_out = np.full(self.n, inf, dtype=np.int64)
        self.push_in = np.full(self.n, inf, dtype=np.int64)
        self.push_out = np.full(self.n, inf, dtype=np.int64)
        self.web_in = np.full(self.n, inf, dtype=np.int64)
        self.web_out = np.full(self.n, inf, dtype=np.int64)
        cust = self.cust_person.tolist()
        nc = len(cust)
        u = r.random((nc, 12)).tolist()
        sig = self.cust_signup.tolist()
        sources_out = ("unsubscribe_link", "preference_center")

        def ident(c: int, p: int, y: float) -> tuple[str | None, str | None]:
            if y < 0.7:
                return self.cid[c], self.email[p]
            if y < 0.85:
                return self.cid[c], None
            return None, self.email[p]

        for c, p in enumerate(cust):
            if self.seg_planted[p]:
                continue
            x = u[c]
            s = sig[c]
            span = T - 1 - s
            if x[0] < 0.8:
                t_in = s + 30
                cid_s, em = ident(c, p, x[1])
                rows.append((t_in, p, cid_s, em, None, "email", "marketing", "opt_in", "account_signup"))
                self.em_in[p] = t_in
                if x[2] < 0.16:
                    t_out = int(s + 60 + x[3] * span)
                    if t_out < T:
                        cid_s, em = ident(c, p, x[4])
                        rows.append((t_out, p, cid_s, em, None, "email", "marketing", "opt_out",
                                     sources_out[int(x[4] * 2) % 2]))
                        self.em_out[p] = t_out
                        if x[5] < 0.15:
                            t_back = int(t_out + (T - 1 - t_out) * x[6])
                            rows.append((t_back, p, self.cid[c], self.email[p], None, "email", "marketing",
                                         "opt_in", "preference_center"))
            if self.shop_phone[c] and x[7] < 0.28:
                t_in = int(s + x[8] * span * 0.5)
                phone = self.shop_phone[c]
                rows.append((t_in, p, self.cid[c] if x[9] < 0.7 else None, None, phone, "sms", "marketing",
                             "opt_in", "checkout_sms"))
                self.sms_in[p] = t_in
                if x[10] < 0.18:
                    t_out = int(t_in + (T - 1 - t_in) * x[11])
                    rows.append((t_out, p, self.cid[c] if x[9] < 0.5 else None, None,
                                 format_phone(self.phone[p], 4), "sms", "marketing", "opt_out", "sms_stop"))
                    self.sms_out[p] = t_out
        # web personalization and push, per identified device
        d_u = r.random((len(self.d_person), 4)).tolist()
        for d, p in enumerate(self.d_person.tolist()):
            if not self.d_ident[d] or self.seg_planted[p]:
                continue
            c = int(self.cid_of[p])
            x = d_u[d]
            s = max(sig[c], W0 - 200 * DAY)
            if self.d_type[d] == 0:
                if x[0] < 0.85 and self.web_in[p] == np.iinfo(np.int64).max:
                    t_in = s + 5
                    rows.append((t_in, p, self.cid[c], None, None, "web", "personalization", "opt_in",
                                 "cookie_banner"))
                    self.web_in[p] = t_in
                    if x[1] < 0.06:
                        t_out = int(t_in + (T - 1 - t_in) * x[2])
                        rows.append((t_out, p, self.cid[c], None, None, "web", "personalization", "opt_out",
                                     "cookie_banner"))
                        self.web_out[p] = t_out
            elif self.d_token[d] is not None and x[0] < 0.65:
                t_in = int(s + 60 + x[3] * (T - 1 - s) * 0.3)
                rows.append((t_in, p, self.cid[c], None, None, "push", "marketing", "opt_in", "app_prompt"))
                self.push_in[p] = min(self.push_in[p], t_in)
                if x[1] < 0.1:
                    t_out = int(t_in + (T - 1 - t_in) * x[2])
                    rows.append((t_out, p, self.cid[c], None, None, "push", "marketing", "opt_out",
                                 "app_settings"))
                    self.push_out[p] = t_out
        # persons without a shop account who gave an email to the CRM or the loyalty programme
        others = np.flatnonzero(~self.has_shop & (self.has_crm | self.has_loyalty))
        ou = r.random((len(others), 4)).tolist()
        for k, p in enumerate(others.tolist()):
            x = ou[k]
            if x[0] < 0.45:
                t_in = int(T - (2 + x[1] * 700) * DAY)
                rows.append((t_in, p, None, self.email[p], None, "email", "marketing", "opt_in", "newsletter_form"))
                self.em_in[p] = t_in
                if x[2] < 0.1:
                    t_out = int(t_in + (T - 1 - t_in) * x[3])
                    rows.append((t_out, p, None, self.email[p], None, "email", "marketing", "opt_out",
                                 "unsubscribe_link"))
                    self.em_out[p] = t_out
        rows.extend(self.planted_consent())
        self.consent_rows = rows

    def planted_consent(self) -> list[tuple]:
        T = self.T
        mem, non = self.plant["new_subscribers"]
        out = []

        def row(p: int, days: float, channel: str, purpose: str, status: str, source: str) -> tuple:
            c = int(self.cid_of[p])
            phone = format_phone(self.phone[p], 0) if channel == "sms" else None
            email = self.email[p] if channel == "email" else None
            return (int(T - days * DAY + 9 * 3600), p, self.cid[c], email, phone, channel, purpose, status, source)

        out.append(row(mem[0], 3, "email", "marketing", "opt_in", "newsletter_form"))
        out.append(row(mem[1], 400, "email", "marketing", "opt_in", "account_signup"))
        out.append(row(mem[1], 100, "email", "marketing", "opt_out", "unsubscribe_link"))
        out.append(row(mem[1], 3, "email", "marketing", "opt_in", "preference_center"))
        out.append(row(mem[2], 10, "email", "marketing", "opt_in", "newsletter_form"))
        out.append(row(mem[3], 3, "email", "marketing", "opt_in", "account_signup"))
        out.append(row(mem[3], 3, "sms", "marketing", "opt_in", "checkout_sms"))
        out.append(row(non[0], 3, "email", "marketing", "opt_in", "newsletter_form"))
        out.append(row(non[0], 1, "email", "marketing", "opt_out", "unsubscribe_link"))
        out.append(row(non[1], 30, "email", "marketing", "opt_in", "newsletter_form"))
        out.append(row(non[2], 3, "sms", "marketing", "opt_in", "checkout_sms"))
        out.append(row(non[3], 200, "email", "marketing", "opt_in", "account_signup"))
        out.append(row(non[3], 2, "web", "personalization", "opt_in", "cookie_banner"))
        return out

    def write_consent(self) -> None:
        r = self.rng("consent_write")
        pr = self.prng("consent_write")
        rows = self.consent_rows
        ts = np.array([x[0] for x in rows], dtype=np.int64)
        order = np.lexsort((np.arange(len(rows)), ts))
        ts_s = _iso_many(ts[order])
        u = r.random((len(rows), 2)).tolist()
        out = []
        order_persons = [rows[i][1] for i in order.tolist()]
        self.force(u, order_persons, 1, 0.001, 0)  # a bad occurred_at
        for k, i in enumerate(order.tolist()):
            _t, p, cid_s, em, phone, channel, purpose, status, source = rows[i]
            prot = self.protected[p]
            when = ts_s[k]
            if em and not prot and u[k][0] < 0.08:
                em = email_variant(em, pr.choice(("upper", "title", "space")))
                self.mess["consent.email_variant"] += 1
            if not prot and u[k][1] < 0.004:
                when = pr.choice(BAD_DATES)
                self.mess["consent.bad_occurred_at"] += 1
            out.append([f"CNS{k + 1:08d}", cid_s, em, phone, channel, purpose, status, when, source])
        extra = [[None] + out[k][1:]
                 for k in self.pick(r, 0.003, ~self.protected[np.array(order_persons)] & _clean(out))]
        self.mess["consent.missing_consent_id"] = len(extra)
        out.extend(extra)
        header = ["consent_id", "customer_id", "email", "phone", "channel", "purpose", "status",
                  "occurred_at", "source"]
        self.files["consent/consent_events.csv"] = self._write_csv("consent/consent_events.csv", header, out)

    # ---- 10. channel feedback ---------------------------------------------------------------
    def write_feedback(self) -> None:
        r = self.rng("feedback")
        pr = self.prng("feedback")
        T, W0 = self.T, self.W0
        n = self.n
        has_c = self.cid_of >= 0
        has_web = np.zeros(n, dtype=bool)
        has_app = np.zeros(n, dtype=bool)
        idd = self.d_ident
        has_web[self.d_person[idd & (self.d_type == 0)]] = True
        has_app[self.d_person[idd & (self.d_type > 0)]] = True
        ok = ~self.seg_planted
        signup = np.where(has_c, self.cust_signup[np.maximum(self.cid_of, 0)], np.iinfo(np.int64).max)
        campaigns: list[tuple[str, str, int, float]] = []
        for k in range(12):
            send = W0 + (10 + 30 * k) * DAY + 15 * 3600
            campaigns.append(("default_newsletter", "email", send, 0.05))
            campaigns.append(("cart_reminder_10", ("email", "sms", "push", "web")[k % 4], send + 7 * DAY, 0.03))
            campaigns.append(("welcome_free_shipping", "email", send + 3 * DAY, 0.6))
            campaigns.append(("welcome_free_shipping", "web", send + 4 * DAY, 0.6))
            if k % 2 == 0:
                campaigns.append(("new_arrivals", ("email", "push", "web")[(k // 2) % 3], send + 12 * DAY, 0.08))
                campaigns.append(("loyalty_double_points", ("email", "push")[(k // 2) % 2], send + 20 * DAY, 0.15))
            if k % 3 == 0:
                campaigns.append(("vip_winback_20", ("email", "sms")[(k // 3) % 2], send + 15 * DAY, 0.5))
        campaigns = [c for c in campaigns if c[2] < T - DAY]
        campaign_ids = [f"CMP-{datetime.fromtimestamp(c[2], UTC).strftime('%Y%m%d')}-{c[0]}-{c[1]}"
                        for c in campaigns]
        raw: list[tuple] = []  # (ts, person, campaign idx, k, event_type, revenue)
        for ci, (offer, channel, send, frac) in enumerate(campaigns):
            if channel == "email":
                elig = (self.em_in <= send) & (self.em_out > send)
            elif channel == "sms":
                elig = (self.sms_in <= send) & (self.sms_out > send)
            elif channel == "push":
                elig = (self.push_in <= send) & (self.push_out > send) & has_app
            else:
                elig = has_web & (self.web_in <= send) & (self.web_out > send)
            elig &= ok
            if offer == "welcome_free_shipping":
                elig &= (signup <= send) & (signup > send - 30 * DAY)
            elif offer == "vip_winback_20":
                elig &= has_c & (self.ltv >= 400) & (self.last_order_ts < send - 90 * DAY)
            elif offer == "loyalty_double_points":
                elig &= self.loyalty_linked
            elif offer == "cart_reminder_10":
                elig &= has_c & (has_web | has_app)
            elif channel != "email":
                elig &= has_c
            cand = np.flatnonzero(elig)
            who = cand[r.random(len(cand)) < frac]
            m = len(who)
            if m == 0:
                continue
            open_r, click_r, conv_r, unsub_r = FEEDBACK_RATES[(offer, channel)]
            alive = ~(self.death_day[who] * DAY + T < send)
            mult = np.clip(np.sqrt(self.lam[who] / 3.0), 0.4, 2.5) * np.where(alive, 1.0, 0.3)
            delivered = r.random(m) < DELIVERY_RATES[channel]
            if open_r is None:
                opened = np.zeros(m, dtype=bool)
                clicked = delivered & (r.random(m) < click_r * np.sqrt(mult))
            else:
                opened = delivered & (r.random(m) < open_r * np.sqrt(mult))
                clicked = opened & (r.random(m) < click_r)
            converted = clicked & (r.random(m) < np.minimum(conv_r * mult, 0.9))
            unsub = delivered & ~converted & (r.random(m) < unsub_r)
            t_del = send + r.integers(0, 1800, m)
            t_open = t_del + r.integers(60, 2 * DAY, m)
            t_click = np.where(opened, t_open, t_del) + r.integers(10, 3600, m)
            t_conv = t_click + r.integers(120, DAY, m)
            t_unsub = np.where(opened, t_open, t_del) + r.integers(10, 600, m)
            rev = np.round(np.exp(r.normal(4.3, 0.5, m)), 2)
            wl = who.tolist()
            for k in range(m):
                p = wl[k]
                if not delivered[k]:
                    continue
                raw.append((int(t_del[k]), p, ci, k, "delivered", None))
                if opened[k]:
                    raw.append((int(t_open[k]), p, ci, k, "opened", None))
                if clicked[k]:
                    raw.append((int(t_click[k]), p, ci, k, "clicked", None))
                if converted[k] and t_conv[k] < T:
                    raw.append((int(t_conv[k]), p, ci, k, "converted", float(rev[k])))
                if unsub[k] and t_unsub[k] < T:
                    raw.append((int(t_unsub[k]), p, ci, k, "unsubscribed", None))
                    if channel in ("email", "sms"):
                        c = int(self.cid_of[p])
                        self.consent_rows.append((int(t_unsub[k]) + 5, p, self.cid[c] if c >= 0 else None,
                                                  self.email[p] if channel == "email" else None,
                                                  format_phone(self.phone[p], 0) if channel == "sms" else None,
                                                  channel, "marketing", "opt_out",
                                                  "unsubscribe_link" if channel == "email" else "sms_stop"))
        ts = np.array([x[0] for x in raw], dtype=np.int64)
        order = np.lexsort((np.arange(len(raw)), ts))
        ts_s = _iso_many(ts[order])
        u = r.random((len(raw), 3)).tolist()
        self.force(u, [raw[i][1] for i in order.tolist()], 1, 0.001, 0)  # a bad occurred_at
        rows = []
        for j, i in enumerate(order.tolist()):
            _t, p, ci, k, etype, rev_k = raw[i]
            offer, channel = campaigns[ci][0], campaigns[ci][1]
            c = int(self.cid_of[p])
            x = u[j]
            # identification is per message: use the person index and campaign for stability
            y = ((p * 2654435761 + ci * 40503) % 1000) / 1000.0
            cid_s = self.cid[c] if c >= 0 else None
            email: str | None = self.email[p]
            if channel == "email":
                if cid_s is not None and y < 0.25:
                    email = None
                elif cid_s is not None and y < 0.40:
                    cid_s = None
            else:
                if cid_s is not None:
                    email = None if y < 0.7 else email
            if email is not None and x[0] < 0.05 and not self.protected[p]:
                email = email_variant(email, pr.choice(("upper", "title", "space")))
                self.mess["feedback.email_variant"] += 1
            when = ts_s[j]
            if not self.protected[p] and x[1] < 0.003:
                when = pr.choice(BAD_DATES)
                self.mess["feedback.bad_occurred_at"] += 1
            rows.append({"feedback_id": f"FB{j + 1:09d}", "message_id": f"MSG-{ci + 1:03d}-{k + 1:07d}",
                         "campaign_id": campaign_ids[ci], "offer_id": offer,
                         "channel": channel, "customer_id": cid_s, "email": email, "event_type": etype,
                         "occurred_at": when, "revenue": rev_k})
        extra_idx = self.pick(r, 0.002, _clean(rows))
        for k in extra_idx:
            rows.append({key: v for key, v in rows[k].items() if key != "feedback_id"})
        self.mess["feedback.missing_feedback_id"] = len(extra_idx)
        trunc = self.pick(r, 0.002, np.ones(len(rows), dtype=bool))
        self.mess["feedback.truncated_lines"] = len(trunc)
        self.files["feedback/channel_feedback.jsonl"] = self._write_jsonl("feedback/channel_feedback.jsonl",
                                                                          rows, trunc)
        self.n_campaigns = len(campaigns)

    # ---- 11. truth, planted cases, manifest -------------------------------------------------
    def write_truth(self) -> None:
        path = self.out / "truth" / "truth.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        order = {"shop": 0, "crm": 1, "loyalty": 2, "support": 3, "web": 4}
        rows = sorted(self.truth, key=lambda x: (order[x[0].split(":", 1)[0]], x[0]))
        with path.open("w", newline="", encoding="utf-8") as fh:
            fh.write("record_id,person_id\n")
            fh.writelines(f"{rid},{self.pid(p)}\n" for rid, p in rows)
        self.files["truth/truth.csv"] = len(rows)

    def write_planted(self) -> dict[str, Any]:
        dups = []
        for p in self.dup_people:
            recs = [f"shop:{self.cid_for(p)}", f"crm:{self.crm_ids[p]}", f"loyalty:{self.loyalty_ids[p]}"]
            recs += [f"support:{t}" for t in self.ticket_ids[p][:1]]
            dups.append({"person_id": self.pid(p), "record_ids": recs,
                         "shared": {"email": self.email[p], "customer_id": self.cid_for(p)},
                         "name": f"{self.first_name[p]} {self.last_name[p]}"})
        T = self.T
        cases = {
            "cart_abandoners_7d": (
                ["Product Added 2 days before as_of, no order", "Product Added 2 days before as_of, no order",
                 "Product Added 4 days before as_of, no order", "Product Added 5 days before as_of, no order"],
                ["Product Added 2 days before as_of, Order Completed 1 day before as_of",
                 "Product Added 10 days before as_of only", "Product Viewed 1 day before as_of, nothing added",
                 "Product Added and Order Completed 3 days before as_of"]),
            "high_value_at_risk": (
                ["3 completed orders of 320, last 130 days before as_of", "1 completed order of 850, 200 days ago",
                 "completed 450 + 420, last 121 days ago", "5 completed orders of 180, last 150 days ago"],
                ["completed 900 in total but last order 20 days ago",
                 "completed 200 + refunded 900 (lifetime value counts completed orders only)",
                 "completed 300 only, 200 days ago", "completed 1000, 60 days ago"]),
            "new_subscribers": (
                ["email marketing opt_in 3 days ago", "opt_in, opt_out 100 days ago, opt_in again 3 days ago",
                 "email marketing opt_in 10 days ago", "email and sms opt_in 3 days ago"],
                ["opt_in 3 days ago then opt_out 1 day ago", "email opt_in 30 days ago",
                 "sms opt_in 3 days ago (wrong channel)", "email opt_in 200 days ago, web opt_in 2 days ago"]),
            "lapsed_loyalty": (
                ["loyalty member, last order 300 days ago", "loyalty member, orders 500 and 300 days ago",
                 "loyalty member without any order", "loyalty member, last order 250 days ago"],
                ["loyalty member, order 30 days ago", "loyalty member, order 100 days ago",
                 "not a loyalty member, order 300 days ago", "not a loyalty member, no orders"]),
        }
        segments: dict[str, Any] = {}
        for seg, (mem, non) in self.plant.items():
            mdesc, ndesc = cases[seg]

            def entry(p: int, desc: str) -> dict[str, Any]:
                e = {"person_id": self.pid(p), "record_id": f"shop:{self.cid_for(p)}",
                     "customer_id": self.cid_for(p), "case": desc}
                if p in self.loyalty_ids:
                    e["loyalty_record_id"] = f"loyalty:{self.loyalty_ids[p]}"
                return e

            segments[seg] = {"members": [entry(p, d) for p, d in zip(mem, mdesc, strict=True)],
                             "non_members": [entry(p, d) for p, d in zip(non, ndesc, strict=True)]}
        planted = {
            "as_of": self.as_of.isoformat(),
            "history_ends_at": _iso(T),
            "duplicates": dups,
            "segments": segments,
            "households": self.households,
            "notes": {
                "lifetime_value": "sum of total_amount over completed orders only",
                "segment_times": "planted facts are placed at whole days before as_of midnight UTC",
            },
        }
        path = self.out / "truth" / "planted.json"
        path.write_bytes(orjson.dumps(planted, option=orjson.OPT_INDENT_2) + b"\n")
        return planted

    def run(self) -> dict[str, Any]:
        self.out.mkdir(parents=True, exist_ok=True)
        self.make_persons()
        self.select_planted()
        self.make_contacts()
        self.make_customers()
        self.make_products()
        self.make_orders()
        self.make_devices()
        self.assign_channels()
        self.make_shop_records()
        self.make_sessions()
        self.make_events()
        self.write_shop()
        self.write_crm()
        self.write_loyalty()
        self.write_support()
        self.make_consent()
        self.write_feedback()
        self.write_consent()
        self.write_truth()
        planted = self.write_planted()
        shop_tables = {k.split(":")[1]: v for k, v in self.files.items() if k.startswith("shop/shop.sqlite:")}
        files = {k: v for k, v in self.files.items() if not k.startswith("shop/shop.sqlite:")}
        files["shop/shop.sqlite"] = shop_tables
        completed = self.o_status == 0
        manifest = {
            "generator": "tessera.demo.generator",
            "generator_version": GENERATOR_VERSION,
            "parameters": {"customers": self.n, "seed": self.seed, "as_of": self.as_of.isoformat()},
            "as_of": self.as_of.isoformat(),
            "history_ends_at": _iso(self.T),
            "currency": "USD",
            "population": {
                "persons": self.n,
                "shop_customers": len(self.cust_person),
                "crm_contacts": int(self.has_crm.sum()),
                "loyalty_members": int(self.has_loyalty.sum()),
                "support_requesters": int(self.has_support.sum()),
                "anonymous_ids": self.n_event_devices,
                "anonymous_ids_never_identified": self.n_anonymous_only_ids,
                "orders": len(self.o_id),
                "completed_orders": int(completed.sum()),
                "campaigns": self.n_campaigns,
            },
            "files": dict(sorted(files.items())),
            "mess": dict(sorted(self.mess.items())),
            "planted": {
                "duplicates": len(planted["duplicates"]),
                "segments": {k: {"members": len(v["members"]), "non_members": len(v["non_members"])}
                             for k, v in planted["segments"].items()},
                "households": len(self.households),
            },
        }
        (self.out / "manifest.json").write_bytes(
            orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
        return manifest


def generate(customers: int, seed: int, out: Path | str, as_of: date | datetime | str | None = None) -> dict:
    """Write the demo company's source files under ``out`` and return the manifest.

    ``customers`` is the number of true persons; ``as_of`` (default: today, UTC) is the day all
    history ends before. The same ``(customers, seed, as_of)`` gives byte-identical files.
    """
    if as_of is None:
        as_of = datetime.now(UTC).date()
    elif isinstance(as_of, str):
        as_of = date.fromisoformat(as_of[:10])
    elif isinstance(as_of, datetime):
        as_of = as_of.astimezone(UTC).date() if as_of.tzinfo else as_of.date()
    # The generator allocates millions of small containers and no reference cycles; the cyclic
    # garbage collector would only re-scan them over and over.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _Generator(customers, seed, Path(out), as_of).run()
    finally:
        if was_enabled:
            gc.enable()
