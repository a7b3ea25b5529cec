"""Cluster quality against a known truth: pairwise and B-cubed precision, recall and F1.

- Pairwise: every pair of records in one predicted profile is a predicted match; precision is the
  share of predicted pairs that are true pairs, recall the share of true pairs that were predicted.
- B-cubed (Bagga and Baldwin, 1998): per record, precision is the share of its predicted cluster
  that belongs to its true person and recall the share of its true person found in its predicted
  cluster; both are averaged over records.

Only records present in both tables are scored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd


@dataclass(frozen=True)
class Scores:
    records: int
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f1: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float
    true_pairs: int
    predicted_pairs: int
    true_positive_pairs: int

    def as_dict(self) -> dict:
        return asdict(self)


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _pairs(sizes: pd.Series) -> int:
    s = sizes.astype("int64")
    return int((s * (s - 1) // 2).sum())


def evaluate_clusters(truth: pd.DataFrame, clusters: pd.DataFrame) -> Scores:
    """truth: record_id, person_id; clusters: record_id, profile_id (first two columns are used)."""
    t = truth.iloc[:, :2].copy()
    t.columns = ["record_id", "person_id"]
    c = clusters.iloc[:, :2].copy()
    c.columns = ["record_id", "profile_id"]
    t["record_id"] = t["record_id"].astype(str)
    c["record_id"] = c["record_id"].astype(str)
    m = t.merge(c, on="record_id", how="inner")
    if m.empty:
        raise ValueError("no record_id is in both the truth and the clusters")
    cell = m.groupby(["person_id", "profile_id"], sort=False).size()
    true_sizes = m.groupby("person_id", sort=False).size()
    pred_sizes = m.groupby("profile_id", sort=False).size()
    tp, true_pairs, pred_pairs = _pairs(cell), _pairs(true_sizes), _pairs(pred_sizes)
    pp = tp / pred_pairs if pred_pairs else 1.0
    pr = tp / true_pairs if true_pairs else 1.0
    cell_df = cell.rename("n").reset_index()
    cell_df["t"] = cell_df["person_id"].map(true_sizes)
    cell_df["p"] = cell_df["profile_id"].map(pred_sizes)
    n = len(m)
    bp = float((cell_df["n"] ** 2 / cell_df["p"]).sum() / n)
    br = float((cell_df["n"] ** 2 / cell_df["t"]).sum() / n)
    return Scores(n, pp, pr, _f1(pp, pr), bp, br, _f1(bp, br), true_pairs, pred_pairs, tp)


def format_scores(s: Scores) -> str:
    return "\n".join([
        f"records scored      {s.records}",
        f"true pairs          {s.true_pairs}",
        f"predicted pairs     {s.predicted_pairs}",
        "                    precision  recall     F1",
        f"pairwise            {s.pairwise_precision:.4f}     {s.pairwise_recall:.4f}     {s.pairwise_f1:.4f}",
        f"B-cubed             {s.bcubed_precision:.4f}     {s.bcubed_recall:.4f}     {s.bcubed_f1:.4f}",
    ])
