"""Recommender: category affinity and the popularity fallback for unknown customers."""

import pandas as pd

from ml import recommend as R
from ml.orders import load_orders


def _log():
    rows = []
    # 40 single-product customers make the toys popular; kitchen items are rarer
    for c in range(40):
        rows.append((f"T{c}", f"t{c}", "2024-05-01", 10.0, 1, f"TOY{c % 3}", "toys"))
    for c in range(6):
        rows.append((f"K{c}", f"k{c}", "2024-04-01", 10.0, 1, f"KIT{c % 3}", "kitchen"))
    # the customer under test bought one kitchen product that nobody else bought with anything
    rows.append(("X1", "cook", "2024-05-10", 25.0, 1, "KIT9", "kitchen"))
    return pd.DataFrame(rows, columns=["order_id", "customer_id", "ordered_at", "amount", "quantity", "product_id",
                                       "category"])


def test_category_affinity_ranks_the_customers_category_first():
    log = load_orders(_log(), "2024-06-30", keep_lines=True)
    with_cat = R.fit(log.lines, log.as_of_end, R.RecConfig(k=3, category_weight=0.5)).top_k(["cook"])
    assert list(with_cat["product_id"].str[:3]) == ["KIT", "KIT", "KIT"]
    assert "KIT9" not in set(with_cat["product_id"])  # already bought
    # without the category component only popularity is left for this customer: the toys win
    plain = R.fit(log.lines, log.as_of_end, R.RecConfig(k=3, category_weight=0.0)).top_k(["cook"])
    assert plain["product_id"].iloc[0].startswith("TOY")


def test_unknown_customers_get_the_most_popular_products():
    log = load_orders(_log(), "2024-06-30", keep_lines=True)
    rec = R.fit(log.lines, log.as_of_end, R.RecConfig(k=2))
    out = rec.top_k(["never-bought-anything"])
    assert list(out["rank"]) == [1, 2]
    assert set(out["product_id"]) <= {"TOY0", "TOY1", "TOY2"}


def test_similarity_keeps_each_items_strongest_neighbours():
    import numpy as np
    import scipy.sparse as sp

    rng = np.random.default_rng(3)
    S = sp.random(40, 40, density=0.5, random_state=4, format="csr")
    S.data = rng.permutation(len(S.data)).astype(float) + 1.0  # distinct values
    kept = R._top_per_row(S.copy(), 5)
    dense, full = kept.toarray(), S.toarray()
    for i in range(40):
        nz = np.sort(full[i][full[i] > 0])[::-1]
        assert sorted(dense[i][dense[i] > 0], reverse=True) == list(nz[:5])
