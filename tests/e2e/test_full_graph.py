"""End to end: generate a small demo company, run the whole Dagster graph twice, check outcomes.

The run uses the session's throw-away data folder (tests/conftest.py): its own DuckDB warehouse,
MLflow store and outboxes, and the demo's real local CRM API and webhook receiver on 127.0.0.1.
"""

import json
import os
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tessera import paths

pytestmark = pytest.mark.e2e

CUSTOMERS = 1500
SEED = 11
AS_OF = date(2026, 11, 20)


@pytest.fixture(scope="module")
def graph_runs(prepared_project):
    from tessera.demo.generator import generate
    from tessera.demo.services import demo_services
    from tessera.runner import run_graph

    generate(customers=CUSTOMERS, seed=SEED, out=paths.demo_dir(), as_of=AS_OF)
    os.environ["TESSERA_AS_OF"] = f"{AS_OF.isoformat()}T00:00:00+00:00"
    try:
        with demo_services():
            first = run_graph(prepare=False, ephemeral=True)
            assert first.success, first.errors
            con = duckdb.connect(str(paths.warehouse_path()), read_only=True)
            first_counts = _counts(con)
            con.close()
            second = run_graph(prepare=False, ephemeral=True)
            assert second.success, second.errors
    finally:
        os.environ.pop("TESSERA_AS_OF", None)
    con = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    yield {"first": first, "second": second, "first_counts": first_counts, "con": con}
    con.close()


def _counts(con):
    tables = [
        "raw.events", "raw.shop_orders", "raw.crm_contacts", "raw.loyalty_members", "raw.support_tickets",
        "raw.consent_events", "raw.channel_feedback", "raw.quarantine",
        "intermediate.int_identity__records", "identity.record_profiles", "profiles.dim_customer_profiles",
        "segments.segment_memberships", "ml.propensity_scores", "decisions.fct_decisions",
        "activation.sync_email__decisions", "measurement.mart_offer_channel_response_rates",
    ]
    return {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in tables}


def _planted():
    return json.loads((paths.demo_dir() / "truth" / "planted.json").read_text())


def test_every_stage_produced_rows(graph_runs):
    counts = graph_runs["first_counts"]
    for table, n in counts.items():
        assert n > 0, f"{table} is empty"
    # identity merged records: fewer profiles than records, but more than the true persons' lower bound
    assert counts["identity.record_profiles"] == counts["intermediate.int_identity__records"]
    assert counts["profiles.dim_customer_profiles"] < counts["intermediate.int_identity__records"]
    assert counts["ml.propensity_scores"] > CUSTOMERS * 0.3


def test_row_accounting_and_every_quarantined_row_has_a_reason(graph_runs):
    con = graph_runs["con"]
    bad = con.execute(
        "select count(*) from raw.ingest_log where rows_read <> rows_loaded + rows_quarantined"
    ).fetchone()[0]
    assert bad == 0
    total, no_reason = con.execute(
        "select count(*), count(*) filter (where reason is null or trim(reason) = '') from raw.quarantine"
    ).fetchone()
    assert total > 0 and no_reason == 0
    sources = {r[0] for r in con.execute("select distinct source from raw.quarantine").fetchall()}
    assert len(sources) >= 3, sources


def test_planted_duplicate_people_are_merged(graph_runs):
    con = graph_runs["con"]
    profile_of = dict(con.execute("select record_id, profile_id from identity.record_profiles").fetchall())
    duplicates = _planted()["duplicates"]
    assert len(duplicates) >= 5
    for person in duplicates:
        records = person["record_ids"]
        profiles = {profile_of.get(r) for r in records}
        assert None not in profiles, f"records of {person['person_id']} missing: {records}"
        assert len(profiles) == 1, f"{person['person_id']} split over {profiles}"


def test_planted_customers_are_in_the_right_segments(graph_runs):
    con = graph_runs["con"]
    profile_of = dict(con.execute("select record_id, profile_id from identity.record_profiles").fetchall())
    members = {}
    for profile_id, segment in con.execute("select profile_id, segment from segments.segment_memberships").fetchall():
        members.setdefault(segment, set()).add(profile_id)
    planted = _planted()["segments"]
    assert set(planted) == {"cart_abandoners_7d", "high_value_at_risk", "new_subscribers", "lapsed_loyalty"}
    for segment, cases in planted.items():
        for case in cases["members"]:
            assert profile_of[case["record_id"]] in members.get(segment, set()), (segment, case)
        for case in cases["non_members"]:
            assert profile_of[case["record_id"]] not in members.get(segment, set()), (segment, case)


def test_mlflow_run_and_registered_champion_exist(graph_runs):
    from mlflow.tracking import MlflowClient

    con = graph_runs["con"]
    run_id, version, name = con.execute(
        "select any_value(mlflow_run_id), any_value(model_version), any_value(model_name) from ml.propensity_scores"
    ).fetchone()
    client = MlflowClient(tracking_uri=paths.mlflow_tracking_uri())
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert any("auc" in k for k in run.data.metrics)
    champion = client.get_model_version_by_alias(name, "champion")
    # scoring always loads @champion: every score row carries its version and run
    assert str(champion.version) == str(version)
    assert champion.run_id == run_id
    assert con.execute("select count(distinct model_version) from ml.propensity_scores").fetchall()[0][0] == 1


def test_no_decision_goes_to_a_customer_without_consent(graph_runs):
    con = graph_runs["con"]
    violations = con.execute(
        """
        select count(*)
        from decisions.fct_decisions d
        join config.channels c on c.channel = d.channel
        left join intermediate.int_consent_latest k
          on k.profile_id = d.profile_id and k.channel = d.channel and k.purpose = c.consent_purpose
        where k.status is distinct from 'opt_in'
        """
    ).fetchone()[0]
    assert violations == 0
    assert con.execute("select count(distinct channel) from decisions.fct_decisions").fetchone()[0] == 4
    # and nothing in the email outbox went to an address whose profile lacks email consent
    outbox = Path(paths.outbox_dir()) / "email"
    sent = [json.loads(line) for f in outbox.rglob("*.jsonl") for line in f.read_text().splitlines() if line]
    assert sent, "the email outbox received messages"
    keys = {row["key"] for row in sent}
    consented = {
        r[0] for r in con.execute(
            "select d.profile_id || ':email:' || d.cycle from decisions.fct_decisions d where d.channel = 'email'"
        ).fetchall()
    }
    assert keys <= consented


def test_holdout_receives_nothing_and_same_offer_wins_across_channels(graph_runs):
    con = graph_runs["con"]
    leaked = con.execute(
        """
        select count(*) from activation.sync_email__decisions s
        join decisions.fct_decisions d on d.profile_id = s.profile_id and d.channel = 'email'
        where d.arm = 'holdout'
        """
    ).fetchone()[0]
    assert leaked == 0
    # omnichannel: when channel x shows offer A and channel y shows offer B, A and B cannot both
    # run on both channels (the better-ranked of the two would have won on both)
    inconsistent = con.execute(
        """
        with top as (
            select d.profile_id, d.offer_id, d.channel from decisions.fct_decisions d
            where d.reason_code = 'top_expected_value'
        )
        select count(*) from top a join top b on a.profile_id = b.profile_id and a.offer_id <> b.offer_id
        join config.offer_channels a_on_b on a_on_b.offer_id = a.offer_id and a_on_b.channel = b.channel
        join config.offer_channels b_on_a on b_on_a.offer_id = b.offer_id and b_on_a.channel = a.channel
        """
    ).fetchone()[0]
    assert inconsistent == 0


def test_second_run_with_no_new_data_syncs_zero_rows(graph_runs):
    con = graph_runs["con"]
    rows = con.execute(
        """
        with ranked as (
            select *, row_number() over (partition by sync_name order by started_at desc) as rn
            from tessera_sync.sync_runs
        )
        select sync_name, rn, rows_sent, rows_acked from ranked where rn <= 2
        """
    ).fetchall()
    first = {s: (sent, acked) for s, rn, sent, acked in rows if rn == 2}
    second = {s: (sent, acked) for s, rn, sent, acked in rows if rn == 1}
    assert set(first) == set(second) and len(first) >= 5
    assert sum(acked for _, acked in first.values()) > 0
    assert all(sent == 0 for sent, _ in second.values()), second
    # and ingestion loaded nothing new the second time
    assert graph_runs["first_counts"]["raw.events"] == con.execute("select count(*) from raw.events").fetchone()[0]


def test_run_summary_reports_every_stage(graph_runs):
    from tessera.summary import collect_summary

    summary = collect_summary()
    assert {r["source"] for r in summary["ingest"]} == {
        "events", "shop", "crm", "loyalty", "support", "consent", "feedback"}
    assert all(r["read"] == r["loaded"] + r["quarantined"] for r in summary["ingest"])
    assert summary["identity"]["profiles"] < summary["identity"]["records"]
    assert set(summary["segments"]) == {"cart_abandoners_7d", "high_value_at_risk", "new_subscribers",
                                        "lapsed_loyalty"}
    assert 0.5 < summary["ml"]["metrics"]["val_roc_auc"] <= 1.0
    assert summary["ml"]["mlflow_run_id"]
    assert {d["channel"] for d in summary["decisions"]} == {"email", "sms", "push", "web"}
    assert len(summary["syncs"]) >= 5 and all(s["status"] == "success" for s in summary["syncs"])


def test_feedback_for_sent_decisions_makes_response_rates_and_lift_measurable(graph_runs):
    con = graph_runs["con"]
    delivered, converted = con.execute(
        "select sum(delivered), sum(converted) from measurement.mart_decision_response_rates").fetchone()
    assert delivered > 0 and converted > 0
    lift = {arm: (rate, abs_lift) for arm, rate, abs_lift in con.execute(
        "select arm, conversion_rate, abs_lift_vs_holdout from measurement.mart_incremental_lift").fetchall()}
    assert {"holdout", "control", "treatment"} <= set(lift)
    assert all(rate > 0 for rate, _ in lift.values()), lift
    assert lift["treatment"][1] is not None and lift["treatment"][1] > 0, lift
    # the feedback joins to the decisions that caused it; no message reaches the holdout
    assert con.execute("select count(*) from measurement.fct_decision_outcomes "
                       "where delivered = 1 and exposed").fetchone()[0] > 0
    assert con.execute("select coalesce(sum(delivered), 0) from measurement.fct_decision_outcomes "
                       "where arm = 'holdout'").fetchone()[0] == 0


def test_attribution_credits_sum_to_the_conversions_in_the_warehouse(graph_runs):
    con = graph_runs["con"]
    n = con.execute("select count(*) from measurement.fct_attribution_conversions").fetchone()[0]
    rows = con.execute("select model, level, sum(credit), max(conversions) from measurement.attribution_credits "
                       "group by all").fetchall()
    assert n > 0 and len(rows) == 12  # 6 models x (channel, channel x offer)
    for model, level, total, conversions in rows:
        assert conversions == n and abs(total - n) < 1e-6, (model, level, total, n)
    sources = {r[0] for r in con.execute(
        "select distinct touch_source from measurement.fct_attribution_touches").fetchall()}
    assert sources == {"exposure", "feedback"}


def test_experiment_arms_are_assigned_in_the_warehouse(graph_runs):
    from tessera.decide.assignment import load_experiments

    con = graph_runs["con"]
    config = load_experiments()
    rows = con.execute("select profile_id, experiment, arm from decisions.fct_experiment_assignments").fetchall()
    profiles = con.execute("select count(*) from profiles.dim_customer_profiles").fetchone()[0]
    assert config.experiments and len(rows) == profiles * len(config.experiments)
    assert all(arm == config.assign(experiment, pid) for pid, experiment, arm in rows)


def test_recommendations_reach_email_and_web_content(graph_runs):
    con = graph_runs["con"]
    # every profile gets recommendations (the popular products when it has no purchases)
    missing = con.execute("""
        select count(*) from profiles.dim_customer_profiles p
        where not exists (select 1 from ml.product_recommendations r where r.profile_id = p.profile_id)
    """).fetchone()[0]
    assert missing == 0
    # never a product the profile already bought (a cancelled or refunded order is not a purchase)
    bought = con.execute("""
        select count(*), count(*) filter (where r.profile_id is not null)
        from intermediate.int_order_lines_resolved l
        left join ml.product_recommendations r on r.profile_id = l.profile_id and r.product_id = l.product_id
        where l.profile_id is not null and l.quantity > 0 and l.line_amount >= 0
          and lower(coalesce(l.status, '')) not in ('cancelled', 'canceled', 'refunded', 'returned', 'failed')
    """).fetchone()
    assert bought[0] > 0 and bought[1] == 0
    for sync, field in (("sync_email__decisions", "body"), ("sync_web__decisions", "message")):
        rows = con.execute(f"""
            select s.profile_id, s.recommended_product_ids, s.recommended_products, s.offer_id, s.{field}
            from activation.{sync} s
        """).fetchall()
        assert rows, sync
        for profile_id, ids, names, offer_id, text in rows:
            expected = [r[0] for r in con.execute(
                "select product_id from ml.product_recommendations where profile_id = ? and rank <= 3 order by rank",
                [profile_id]).fetchall()]
            assert ids.split(",") == expected
            assert len(names.split(", ")) == len(expected)
            assert "{" not in text  # every placeholder filled
        # the templates that ask for them show the profile's own recommended products
        personal = [r for r in rows if r[3] in ("new_arrivals", "loyalty_double_points")]
        assert personal, f"{sync}: no decision with recommended products in its content"
        assert all(r[2] in r[4] for r in personal)
    # the same recommendations on every channel of a profile
    assert con.execute("""
        select count(*) from activation.sync_email__decisions e
        join activation.sync_web__decisions w using (profile_id)
        where e.recommended_product_ids is distinct from w.recommended_product_ids
    """).fetchone()[0] == 0
