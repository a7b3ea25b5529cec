"""The demo's simulated channel feedback for sent decisions (tessera.demo.responses): feedback only
for exposed decisions, on their channel and offer, inside the response window; organic conversions
in every arm; the same rows on every run."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest

from tessera.demo.responses import FEEDBACK_COLUMNS, WINDOW, should_simulate, simulate

DECIDED = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture
def con(tmp_path):
    c = duckdb.connect(str(tmp_path / "wh.duckdb"))
    for schema in ("decisions", "experiments", "profiles"):
        c.execute(f"create schema {schema}")
    c.execute("""
        create table profiles.dim_customer_profiles as
        select 'P' || i as profile_id, case when i % 4 <> 0 then 'C' || i end as customer_id,
               'u' || i || '@example.com' as email
        from range(4000) t(i)""")
    c.execute("""
        create table decisions.fct_decisions as
        select md5(p.profile_id || ch.channel) as decision_id, p.profile_id, ch.channel,
               case when i % 20 = 0 then 'holdout' when i % 20 < 3 then 'control' else 'treatment' end as arm,
               case when i % 20 between 1 and 2 then 'default_newsletter' else 'offer_a' end as offer_id,
               i % 20 between 1 and 2 as is_default, (i % 10) / 10.0 as score,
               timestamptz '2026-11-20 00:00:00+00' as decided_at
        from (select profile_id, cast(substr(profile_id, 2) as integer) as i
              from profiles.dim_customer_profiles) p
        cross join (values ('email'), ('sms'), ('push'), ('web')) ch(channel)""")
    c.execute("""
        create table experiments.exposures as
        select decision_id, profile_id, channel, offer_id, arm, decided_at, now() as exposed_at
        from decisions.fct_decisions where arm <> 'holdout'""")
    yield c
    c.close()


def test_feedback_answers_sent_decisions_and_every_arm_converts(con):
    rows = simulate(con, seed=3)
    assert rows and set(FEEDBACK_COLUMNS) <= set(rows[0])
    decisions = {r[0]: r for r in con.execute(
        "select decision_id, channel, offer_id, arm from decisions.fct_decisions").fetchall()}
    exposed = {r[0] for r in con.execute("select decision_id from experiments.exposures").fetchall()}
    events = {}
    for row in rows:
        at = datetime.fromisoformat(row["occurred_at"])
        assert DECIDED <= at < DECIDED + WINDOW
        assert row["customer_id"] or row["email"]
        if row["decision_id"] is None:  # organic conversion
            assert row["event_type"] == "converted" and row["channel"] == "web" and row["offer_id"] is None
            continue
        assert row["decision_id"] in exposed
        _, channel, offer, arm = decisions[row["decision_id"]]
        assert (row["channel"], row["offer_id"], row["arm"]) == (channel, offer, arm)
        events.setdefault(row["decision_id"], set()).add(row["event_type"])
    # every stage happens, a click needs a delivery, no message reaches the holdout
    assert {e for s in events.values() for e in s} == {"delivered", "opened", "clicked", "converted", "unsubscribed"}
    assert all("delivered" in s for s in events.values())
    email_clicks = [s for d, s in events.items() if decisions[d][1] == "email" and "clicked" in s]
    assert email_clicks and all("opened" in s for s in email_clicks)
    assert not any(r["arm"] == "holdout" and r["decision_id"] for r in rows)
    converted = {arm: len({r["customer_id"] or r["email"] for r in rows
                           if r["event_type"] == "converted" and r["arm"] == arm})
                 for arm in ("holdout", "control", "treatment")}
    assert all(converted.values()), converted
    # lift: treated customers convert more often than the holdout's
    sizes = dict(con.execute("select arm, count(distinct profile_id) from decisions.fct_decisions group by 1").fetchall())
    assert converted["treatment"] / sizes["treatment"] > converted["holdout"] / sizes["holdout"]
    # ids are unique and the same on every run
    assert len({r["feedback_id"] for r in rows}) == len(rows)
    assert simulate(con, seed=3) == rows


def test_no_exposure_log_no_feedback(con):
    con.execute("drop table experiments.exposures")
    assert simulate(con) == []


def test_only_the_demo_simulates(tmp_path, monkeypatch):
    monkeypatch.setenv("TESSERA_DEMO_DIR", str(tmp_path / "nodemo"))
    monkeypatch.delenv("TESSERA_SIMULATE_RESPONSES", raising=False)
    assert not should_simulate()  # no demo data set
    monkeypatch.setenv("TESSERA_SIMULATE_RESPONSES", "1")
    assert should_simulate()
    monkeypatch.setenv("TESSERA_SIMULATE_RESPONSES", "0")
    assert not should_simulate()
