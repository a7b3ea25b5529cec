"""``tessera predict`` on a small file and on bad input (clear errors, never a traceback)."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from tessera.predict.cli import predict_app
from tests.unit.test_ml_engine import AS_OF, small_log

runner = CliRunner()


def test_propensity_on_a_small_csv(tmp_path):
    src = tmp_path / "orders.csv"
    small_log(500).to_csv(src, index=False)
    out = tmp_path / "scores.parquet"
    res = runner.invoke(predict_app, ["propensity", "--orders", str(src), "--as-of", AS_OF,
                                      "--horizon-days", "90", "--output", str(out), "--cutoffs", "2"])
    assert res.exit_code == 0, res.output
    assert "after the as-of date dropped" in res.output and "bgnbd" in res.output
    scores = pd.read_parquet(out)
    assert list(scores.columns) == ["customer_id", "score"] and scores["score"].between(0, 1).all()


def test_bad_input_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("order_id,customer_id,when\n1,a,2024-01-01\n")
    for args, expect in (
        (["--orders", str(bad)], "missing required column(s) ordered_at, amount"),
        (["--orders", str(tmp_path / "nope.csv")], "no such file"),
        (["--orders", str(bad), "--as-of", "31/12/2024"], "not an ISO 8601 date"),
    ):
        argv = ["propensity", "--as-of", AS_OF, "--output", str(tmp_path / "o.csv"), *args]
        res = runner.invoke(predict_app, argv)
        assert res.exit_code == 2, res.output
        assert expect in res.output and "Traceback" not in res.output
    short = tmp_path / "short.csv"
    short.write_text("order_id,customer_id,ordered_at,amount\n1,a,2024-12-01,5\n2,b,garbage,5\n")
    res = runner.invoke(predict_app, ["propensity", "--orders", str(short), "--as-of", AS_OF, "--output",
                                      str(tmp_path / "o.csv")])
    assert res.exit_code == 2 and "1 unparseable ordered_at" in res.output and "error:" in res.output


def test_recommendations_cli(tmp_path):
    rows = []
    for c in range(80):
        g = "A" if c % 2 else "B"
        for j, d in enumerate(("2024-01-05", "2024-04-05", "2024-08-05", "2024-11-05")):
            rows.append((f"O{c}-{j}", f"c{c}", d, 2.0, 1, f"{g}{(c + j) % 5}"))
    src = tmp_path / "lines.csv"
    pd.DataFrame(rows, columns=["order_id", "customer_id", "ordered_at", "amount", "quantity", "product_id"]).to_csv(src, index=False)
    out = tmp_path / "recs.csv"
    res = runner.invoke(predict_app, ["recommendations", "--orders", str(src), "--as-of", AS_OF, "--k", "3", "--output", str(out)])
    assert res.exit_code == 0, res.output
    assert "hit rate@3" in res.output
    recs = pd.read_csv(out)
    assert list(recs.columns) == ["customer_id", "product_id", "rank", "score"]
    assert recs.groupby("customer_id").size().max() == 3
    res = runner.invoke(predict_app, ["recommendations", "--orders", str(src.with_name("x.csv")), "--as-of", AS_OF,
                                      "--output", str(out)])
    assert res.exit_code == 2 and "no such file" in res.output
