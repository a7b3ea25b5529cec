"""Product recommendations: item-to-item co-purchase similarity with a popularity fallback.

- ``X``: customers × products, sparse (scipy CSR), the count of purchase lines before the cutoff,
  weighted by recency (half-life ``half_life_days``) so recent baskets count more.
- item similarity: cosine of the binary co-purchase columns, ``S = norm(Bᵀ B)`` (sparse, diagonal
  removed, each item's list pruned to its ``neighbours`` strongest).
- customer scores ``X · S`` plus a small popularity prior (recent popularity, last 90 days),
  which also ranks the fallback for customers with little or no history;
  with ``exclude_purchased`` the products a customer already bought are never recommended.
- top-k per customer, computed in blocks of customers (no Python loop over customers).

:func:`evaluate` measures it on a time split (history before ``end − test_days``, the purchases
in the last ``test_days`` as the truth) against the popularity baseline: hit rate@k (share of
customers with at least one of their next purchases in the top k) and recall@k.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ml.orders import DAY_NS


@dataclass(frozen=True)
class RecConfig:
    k: int = 10
    exclude_purchased: bool = True
    half_life_days: float = 365.0
    neighbours: int = 50
    self_weight: float = 0.0  # similarity of a product to itself (repeat purchases; moot when excluded)
    popularity_weight: float = 0.1  # share of the popularity prior in the final score
    popularity_days: int = 90
    block: int = 20_000
    #: asymmetric cosine (Aiolli 2013): sim(i, j) = C_ij / (n_i^alpha * n_j^(1 - alpha)); 0.5 is
    #: the plain cosine, higher values lean towards popular neighbours (P(j | i) at 1).
    alpha: float = 0.5
    #: share of the category-affinity component (the customer's recency-weighted share of each
    #: category x the product's popularity within its category); used when lines carry a category
    category_weight: float = 0.5


def _matrix(lines: pd.DataFrame, end_day: float, cfg: RecConfig, customers: pd.Index, items: pd.Index):
    ci = customers.get_indexer(lines["customer_id"])
    ii = items.get_indexer(lines["product_id"])
    age = end_day - lines["ts"].to_numpy("datetime64[ns]").astype(np.int64) / DAY_NS
    w = np.power(0.5, np.maximum(age, 0) / cfg.half_life_days)
    X = sp.csr_matrix((w, (ci, ii)), shape=(len(customers), len(items)))
    X.sum_duplicates()
    return X, age


def _similarity(X: sp.csr_matrix, neighbours: int, self_weight: float = 0.0, alpha: float = 0.5) -> sp.csr_matrix:
    B = X.copy()
    B.data[:] = 1.0
    C = (B.T @ B).tocsr().astype(np.float64)
    C.setdiag(0)
    C.eliminate_zeros()
    counts = np.asarray(B.sum(axis=0)).ravel()
    counts = np.maximum(counts, 1.0)
    # row i = the item already bought, column j = the candidate
    S = (sp.diags(counts ** -alpha) @ C @ sp.diags(counts ** (alpha - 1.0))).tocsr()
    if neighbours and S.shape[0] > neighbours:  # keep each item's strongest neighbours
        S = _top_per_row(S, neighbours)
    if self_weight:
        S = (S + sp.identity(S.shape[0], format="csr") * self_weight).tocsr()
    return S


def _top_per_row(S: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """Keep the ``n`` largest entries of each row (ties broken by column), all rows at once."""
    S.sort_indices()
    rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
    order = np.lexsort((-S.data, rows))  # by row, strongest first
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - S.indptr[rows[order]]
    keep = rank < n
    return sp.csr_matrix((S.data[keep], S.indices[keep], np.r_[0, np.cumsum(np.bincount(rows[keep], minlength=S.shape[0]))]),
                         shape=S.shape)


@dataclass
class Recommender:
    customers: pd.Index
    items: pd.Index
    X: sp.csr_matrix
    S: sp.csr_matrix
    popularity: np.ndarray  # normalised to [0, 1]
    cfg: RecConfig
    affinity: sp.csr_matrix | None = None  # customers x categories, rows sum to 1
    item_category: np.ndarray | None = None  # category index per item
    popularity_in_category: np.ndarray | None = None  # each item's popularity / its category's best

    def top_k(self, customer_ids=None) -> pd.DataFrame:
        """``customer_id, product_id, rank, score`` (rank 1 = best), k rows per customer."""
        k = min(self.cfg.k, len(self.items))
        if customer_ids is None:
            rows = np.arange(len(self.customers))
            ids = np.asarray(self.customers, dtype=object)
        else:
            ids = np.asarray(list(customer_ids), dtype=object)
            rows = self.customers.get_indexer(ids)
        out_c, out_i, out_s = [], [], []
        pop = self.popularity * self.cfg.popularity_weight
        for start in range(0, len(rows), self.cfg.block):
            r = rows[start : start + self.cfg.block]
            known = r >= 0
            scores = np.tile(pop, (len(r), 1))
            if known.any():
                Xb = self.X[r[known]]
                sim = np.asarray((Xb @ self.S).todense())
                mx = sim.max(axis=1, keepdims=True)
                sim = np.divide(sim, mx, out=np.zeros_like(sim), where=mx > 0)
                cw = self.cfg.category_weight if self.affinity is not None else 0.0
                if cw:
                    aff = np.asarray(self.affinity[r[known]].todense())[:, self.item_category]
                    sim = (1 - cw) * sim + cw * aff * self.popularity_in_category
                scores[known] += (1 - self.cfg.popularity_weight) * sim
                if self.cfg.exclude_purchased:
                    bought = Xb.tocoo()
                    scores[np.flatnonzero(known)[bought.row], bought.col] = -np.inf
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < scores.shape[1] else np.tile(
                np.arange(scores.shape[1]), (len(r), 1))
            ts = np.take_along_axis(scores, top, axis=1)
            order = np.argsort(-ts, axis=1, kind="stable")
            top = np.take_along_axis(top, order, axis=1)
            ts = np.take_along_axis(ts, order, axis=1)
            out_c.append(np.repeat(ids[start : start + self.cfg.block], k))
            out_i.append(top.ravel())
            out_s.append(ts.ravel())
        if not out_c:
            return pd.DataFrame(columns=["customer_id", "product_id", "rank", "score"])
        c = np.concatenate(out_c)
        s = np.concatenate(out_s)
        df = pd.DataFrame({
            "customer_id": c,
            "product_id": np.asarray(self.items, dtype=object)[np.concatenate(out_i)],
            "rank": np.tile(np.arange(1, k + 1), len(c) // k),
            "score": s,
        })
        return df[np.isfinite(df["score"])].reset_index(drop=True)


def fit(lines: pd.DataFrame, end: pd.Timestamp, cfg: RecConfig = RecConfig()) -> Recommender:
    """Fit on purchase lines (``customer_id, product_id, ts``) strictly before ``end``."""
    end_day = pd.Timestamp(end).value / DAY_NS
    lines = lines[lines["ts"] < pd.Timestamp(end)]
    customers = pd.Index(pd.unique(lines["customer_id"]))
    items = pd.Index(pd.unique(lines["product_id"]))
    X, age = _matrix(lines, end_day, cfg, customers, items)
    recent = age <= cfg.popularity_days
    if recent.sum() == 0:
        recent = np.ones(len(age), dtype=bool)
    pop = np.bincount(items.get_indexer(lines["product_id"][recent]), minlength=len(items)).astype(float)
    pop = pop / pop.max() if pop.max() > 0 else pop
    rec = Recommender(customers, items, X, _similarity(X, cfg.neighbours, cfg.self_weight, cfg.alpha), pop, cfg)
    if cfg.category_weight and "category" in lines.columns:
        cat_of = lines.groupby("product_id", sort=False)["category"].agg(lambda v: v.dropna().iloc[-1] if v.notna().any() else "")
        cats, item_cat = np.unique(cat_of.reindex(items).fillna("").astype(str).to_numpy(), return_inverse=True)
        w = np.power(0.5, np.maximum(age, 0) / cfg.half_life_days)
        A = sp.csr_matrix((w, (customers.get_indexer(lines["customer_id"]), item_cat[items.get_indexer(lines["product_id"])])),
                          shape=(len(customers), len(cats)))
        A.sum_duplicates()
        rs = np.asarray(A.sum(axis=1)).ravel()
        A = (sp.diags(np.divide(1.0, rs, out=np.zeros_like(rs), where=rs > 0)) @ A).tocsr()
        # within a category, popularity over the whole history (recency-weighted like X): a small
        # category may have sold nothing in the last popularity_days
        volume = np.asarray(X.sum(axis=0)).ravel()
        best = np.zeros(len(cats))
        np.maximum.at(best, item_cat, volume)
        rec.affinity, rec.item_category = A, item_cat
        rec.popularity_in_category = np.divide(volume, best[item_cat], out=np.zeros_like(volume),
                                               where=best[item_cat] > 0)
    return rec


def popularity_top_k(rec: Recommender, customer_ids) -> pd.DataFrame:
    """The baseline: the most popular products (same exclusion rule), the same for everyone."""
    base = Recommender(rec.customers, rec.items, rec.X, sp.csr_matrix(rec.S.shape), rec.popularity,
                       RecConfig(**{**rec.cfg.__dict__, "popularity_weight": 1.0}))
    return base.top_k(customer_ids)


def _hits(recs: pd.DataFrame, truth: pd.DataFrame) -> tuple[float, float]:
    truth_sets = truth.groupby("customer_id")["product_id"].nunique()
    m = recs.merge(truth.drop_duplicates(["customer_id", "product_id"]), on=["customer_id", "product_id"])
    n_hit = m.groupby("customer_id").size().reindex(truth_sets.index, fill_value=0)
    hit_rate = float((n_hit > 0).mean())
    recall = float((n_hit / truth_sets).mean())
    return hit_rate, recall


def evaluate(lines: pd.DataFrame, end: pd.Timestamp, cfg: RecConfig = RecConfig(), test_days: int = 90) -> dict:
    """Hit rate@k and recall@k of the next ``test_days`` of purchases, model vs popularity, for
    customers with history before the split who buy in the test window."""
    end = pd.Timestamp(end)
    split = end - pd.Timedelta(days=test_days)
    rec = fit(lines, split, cfg)
    test = lines[(lines["ts"] >= split) & (lines["ts"] < end)]
    test = test[test["customer_id"].isin(rec.customers)]
    if cfg.exclude_purchased:  # only new products can be hits
        bought = lines[lines["ts"] < split][["customer_id", "product_id"]].drop_duplicates()
        test = test.merge(bought, how="left", indicator=True).query("_merge == 'left_only'").drop(columns="_merge")
    who = pd.unique(test["customer_id"])
    hr, rc = _hits(rec.top_k(who), test)
    phr, prc = _hits(popularity_top_k(rec, who), test)
    return {
        f"hit_rate_at_{cfg.k}": hr, f"recall_at_{cfg.k}": rc,
        f"popularity_hit_rate_at_{cfg.k}": phr, f"popularity_recall_at_{cfg.k}": prc,
        "hit_rate_ratio_vs_popularity": hr / phr if phr > 0 else float("nan"),
        "test_customers": float(len(who)), "split": str(split.date()),
    }
