"""The demo company's ground truth through the resolver and `tessera identity evaluate`.

Records come straight from the generated source files (shop, CRM, loyalty, support), mapped to
roles as a user of the standalone CLI would; the truth is truth/truth.csv.
"""

import json
import sqlite3
from datetime import date

import pandas as pd
import pytest
from typer.testing import CliRunner

from tessera.demo.generator import generate
from tessera.identity.cli import identity_app


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    generate(customers=600, seed=7, out=out, as_of=date(2026, 11, 20))
    with sqlite3.connect(out / "shop" / "shop.sqlite") as con:
        shop = pd.read_sql("select * from customers where customer_id is not null", con)
    shop = pd.DataFrame({"record_id": "shop:" + shop.customer_id, "source": "shop", "first_name": shop.first_name,
                         "last_name": shop.last_name, "email": shop.email, "phone": shop.phone,
                         "customer_id": shop.customer_id, "date_of_birth": shop.date_of_birth,
                         "street": shop.street, "city": shop.city, "postcode": shop.postcode})
    crm = pd.DataFrame([c for c in json.loads((out / "crm" / "contacts.json").read_text()) if c.get("id")])
    crm = pd.DataFrame({"record_id": "crm:" + crm.id, "source": "crm", "first_name": crm.first_name,
                        "last_name": crm.last_name, "full_name": crm.full_name, "email": crm.email,
                        "phone": crm.phone, "customer_id": crm.customer_id})
    loy = pd.read_csv(out / "loyalty" / "members.csv", dtype=str).dropna(subset=["member_id"])
    loy = pd.DataFrame({"record_id": "loyalty:" + loy.member_id, "source": "loyalty", "first_name": loy.first_name,
                        "last_name": loy.last_name, "email": loy.email, "phone": loy.phone,
                        "customer_id": loy.customer_id, "loyalty_id": loy.member_id,
                        "date_of_birth": loy.date_of_birth})
    rows = []
    for line in (out / "support" / "tickets.jsonl").read_text().splitlines():
        try:
            t = json.loads(line)
        except json.JSONDecodeError:
            continue
        if t.get("ticket_id"):
            rows.append({"record_id": "support:" + t["ticket_id"], "source": "support",
                         "full_name": t.get("requester_name"), "email": t.get("requester_email"),
                         "phone": t.get("requester_phone")})
    records = pd.concat([shop, crm, loy, pd.DataFrame(rows)], ignore_index=True)
    records.to_csv(out / "records.csv", index=False)
    roles = [c for c in records.columns]
    (out / "identity.yml").write_text(
        "columns:\n" + "".join(f"  {c}: {c}\n" for c in roles)
        + "normalize:\n  date_order: mdy\n"
        + "deterministic:\n  rules: [customer_id, loyalty_id, email, phone]\n"
          "  limits: {customer_id: 1, loyalty_id: 1}\n")
    truth = pd.read_csv(out / "truth" / "truth.csv", dtype=str)
    truth[truth.record_id.isin(records.record_id)].to_csv(out / "truth_persons.csv", index=False)
    return out


def test_demo_ground_truth_precision_and_recall_floors(demo):
    runner = CliRunner()
    res = runner.invoke(identity_app, ["resolve", "--config", str(demo / "identity.yml"), "--input",
                                       str(demo / "records.csv"), "--output", str(demo / "clusters.csv")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(identity_app, ["evaluate", "--truth", str(demo / "truth_persons.csv"), "--clusters",
                                       str(demo / "clusters.csv"), "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    assert s["pairwise_precision"] >= 0.97, s
    assert s["pairwise_recall"] >= 0.9, s
    assert s["bcubed_f1"] >= 0.95, s
    # planted duplicates merge; planted households stay apart
    planted = json.loads((demo / "truth" / "planted.json").read_text())
    clusters = pd.read_csv(demo / "clusters.csv", dtype=str)
    profile_of = dict(zip(clusters.record_id, clusters.profile_id))
    for person in planted["duplicates"]:
        ids = [r for r in person["record_ids"] if r in profile_of]
        assert len({profile_of[r] for r in ids}) == 1, person


def test_demo_households_do_not_merge(demo):
    planted = json.loads((demo / "truth" / "planted.json").read_text())
    clusters = pd.read_csv(demo / "clusters.csv", dtype=str)
    truth = pd.read_csv(demo / "truth_persons.csv", dtype=str)
    m = truth.merge(clusters, on="record_id")
    profiles_of_person = m.groupby("person_id")["profile_id"].apply(set).to_dict()
    merged = 0
    for h in planted["households"]:
        a, b = (profiles_of_person.get(p, set()) for p in h["person_ids"])
        merged += bool(a & b)
    assert merged <= max(1, len(planted["households"]) // 10), merged
