"""Send cycles: decisions are made per cycle (the UTC date of the run's as-of), so the email sync
sends a profile a new message on a later day, within the fatigue budget counted from the exposure
log, and rerunning a cycle sends nothing (synthetic decision sandbox, 400 customers, 5 days)."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone

import duckdb
import pytest

from tessera.activate import SyncConfig, run_sync
from tessera.decide.exposures import log_exposures
from tessera.decide.synthetic import DECISION_MODELS, build_decision_sandbox, dbt

pytestmark = pytest.mark.timeout(900)

DAYS = 5
START = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)  # outside the sandbox's email quiet hours


@pytest.fixture(scope="module")
def cycles(tmp_path_factory):
    root = tmp_path_factory.mktemp("cycles")
    box = build_decision_sandbox(root / "box", customers=400, offers=6)
    (box.config_dir / "destinations.yml").write_text("destinations:\n  box: {type: file_outbox, path: box}\n")
    sync = SyncConfig.model_validate({
        "name": "email_decisions", "model": "activation.sync_email__decisions", "primary_key": "decision_key",
        "destination": "box", "mode": "insert", "batch_size": 500,
        "consent": {"channel": "email", "purpose": "marketing"},
    })
    mp = pytest.MonkeyPatch()
    mp.setenv("TESSERA_DATA_DIR", str(root / "data"))
    dbt(box, "seed", "--select", "path:seeds")
    per_day = []
    try:
        for day in range(DAYS):
            as_of = (START + timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%SZ")
            mp.setenv("TESSERA_AS_OF", as_of)
            day_box = dataclasses.replace(box, as_of=as_of)
            dbt(day_box, "run", "--select", *DECISION_MODELS[1:], "sync_email__decisions")
            first = run_sync(sync, box.warehouse, config_dir=box.config_dir)
            with duckdb.connect(str(box.warehouse)) as con:
                log_exposures(con, ["email_decisions"])
            # the same cycle again: decisions rebuilt with the same as-of, the sync rerun
            dbt(day_box, "run", "--select", *DECISION_MODELS[1:], "sync_email__decisions")
            again = run_sync(sync, box.warehouse, config_dir=box.config_dir)
            with duckdb.connect(str(box.warehouse)) as con:
                log_exposures(con, ["email_decisions"])
                keys = [r[0] for r in con.execute("select decision_key from activation.sync_email__decisions").fetchall()]
            per_day.append({"as_of": as_of, "first": first, "again": again, "keys": keys})
    finally:
        mp.undo()
    sent = [json.loads(line) for f in (root / "data" / "outbox" / "box").rglob("*.jsonl")
            for line in f.read_text().splitlines() if line]
    return {"box": box, "days": per_day, "sent": sent}


def test_keys_carry_the_cycle(cycles):
    assert cycles["days"][0]["keys"]
    for day in cycles["days"]:
        cycle = day["as_of"][:10]
        assert all(k.endswith(f":email:{cycle}") for k in day["keys"])


def test_rerunning_a_cycle_sends_nothing(cycles):
    for day in cycles["days"]:
        assert day["first"].status == "success", day["first"]
        assert day["again"].rows_sent == 0, day["as_of"]
    keys = [m["key"] for m in cycles["sent"]]
    assert len(keys) == len(set(keys)), "a decision was sent twice"


def test_later_cycles_send_again_within_the_fatigue_budget(cycles):
    # the budget (3 touches in 7 days in the sandbox) lets a profile be messaged on several days
    assert sum(d["first"].rows_acked > 0 for d in cycles["days"]) >= 3
    with duckdb.connect(str(cycles["box"].warehouse), read_only=True) as con:
        # many profiles were messaged on more than one day (offer caps and the budget limit it; with
        # one key per profile and channel, as before cycles, nobody would be)
        repeat, messaged = con.execute("""
            with per as (select profile_id, count(distinct cast(decided_at as date)) as days
                         from experiments.exposures group by profile_id)
            select count(*) filter (where days > 1), count(*) from per""").fetchone()
        assert messaged > 0 and repeat > messaged / 4, (repeat, messaged)
        max_touches, window = con.execute(
            "select fatigue_max_touches, 7 from decisions.fct_decisions limit 1").fetchone()
        # no profile over the budget in any window of window_days ending on a send day
        over = con.execute(f"""
            select count(*) from (
                select e.profile_id, cast(e.decided_at as date) as d,
                       (select count(*) from experiments.exposures x
                        where x.profile_id = e.profile_id
                          and x.decided_at > e.decided_at - interval {window} day
                          and x.decided_at <= e.decided_at) as in_window
                from experiments.exposures e
            ) where in_window > {max_touches}""").fetchone()[0]
        assert over == 0
        # one exposure per message: the ledger matches what the outbox received
        assert con.execute("select count(*) from experiments.exposures").fetchone()[0] == len(cycles["sent"])
