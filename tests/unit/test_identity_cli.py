import subprocess
import sys

import pandas as pd
from typer.testing import CliRunner

from tessera.identity.cli import identity_app

runner = CliRunner()
RECORDS = pd.DataFrame({
    "rec_id": ["1", "2", "3", "4"],
    "given_name": ["Maria", "masha", "Bob", "Robert"],
    "surname": ["Kelley", "KELLEY", "Stone", "Stone"],
    "mail": ["maria.kelley@gmail.com", " Maria.Kelley@Gmail.com", "bob@x.com", "rstone@y.com"],
    "ignored": ["x", "y", "z", "w"],
})


def test_resolve_csv_and_evaluate(tmp_path):
    RECORDS.to_csv(tmp_path / "records.csv", index=False)
    (tmp_path / "identity.yml").write_text(
        "columns:\n  rec_id: record_id\n  given_name: first_name\n  surname: last_name\n  mail: email\n"
        "probabilistic: false\n")
    res = runner.invoke(identity_app, ["resolve", "--config", str(tmp_path / "identity.yml"), "--input",
                                       str(tmp_path / "records.csv"), "--output", str(tmp_path / "clusters.csv")])
    assert res.exit_code == 0, res.output
    out = pd.read_csv(tmp_path / "clusters.csv", dtype=str)
    assert list(out.columns) == ["record_id", "profile_id"] and len(out) == 4
    p = dict(zip(out.record_id, out.profile_id))
    assert p["1"] == p["2"] and p["3"] != p["4"]
    pd.DataFrame({"record_id": ["1", "2", "3", "4"], "person_id": ["a", "a", "b", "b"]}).to_csv(
        tmp_path / "truth.csv", index=False)
    res = runner.invoke(identity_app, ["evaluate", "--truth", str(tmp_path / "truth.csv"), "--clusters",
                                       str(tmp_path / "clusters.csv")])
    assert res.exit_code == 0, res.output
    assert "pairwise            1.0000     0.5000     0.6667" in res.output
    assert "B-cubed" in res.output


def test_parquet_in_and_out(tmp_path):
    RECORDS.to_parquet(tmp_path / "records.parquet", index=False)
    (tmp_path / "identity.yml").write_text("columns:\n  rec_id: record_id\n  mail: email\nprobabilistic: false\n")
    res = runner.invoke(identity_app, ["resolve", "--config", str(tmp_path / "identity.yml"), "--input",
                                       str(tmp_path / "records.parquet"), "--output", str(tmp_path / "c.parquet")])
    assert res.exit_code == 0, res.output
    assert len(pd.read_parquet(tmp_path / "c.parquet")) == 4


def test_wrong_configuration_names_the_field(tmp_path):
    RECORDS.to_csv(tmp_path / "records.csv", index=False)
    (tmp_path / "identity.yml").write_text("columns:\n  rec_id: record_id\n  surname: last_nme\n")
    res = runner.invoke(identity_app, ["resolve", "--config", str(tmp_path / "identity.yml"), "--input",
                                       str(tmp_path / "records.csv"), "--output", str(tmp_path / "c.csv")])
    assert res.exit_code == 2
    assert "columns.surname" in res.output and "last_nme" in res.output
    (tmp_path / "identity.yml").write_text("columns:\n  recid: record_id\n")
    res = runner.invoke(identity_app, ["resolve", "--config", str(tmp_path / "identity.yml"), "--input",
                                       str(tmp_path / "records.csv"), "--output", str(tmp_path / "c.csv")])
    assert res.exit_code == 2 and "columns.recid" in res.output


def test_module_entry_point(tmp_path):
    p = subprocess.run([sys.executable, "-m", "tessera.identity.cli", "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "resolve" in p.stdout and "evaluate" in p.stdout
