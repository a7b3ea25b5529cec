"""The demo's channel feedback for the decisions it sent.

A real email service, SMS gateway, push service or web tool reports what happened to every message
(delivered, opened, clicked, converted, unsubscribed) in the channel-feedback export that the
`feedback` source ingests. The demo company's history ends at the as-of time, so nothing reports on
the decisions of the current cycle and the measurement marts (response rates per decision, lift
against the holdout) would stay at zero. After the syncs have delivered a cycle, this module plays
the recipients:

- every decision in the exposure log (a destination acknowledged it) gets feedback on its own
  channel and offer, within the 7-day response window of ``fct_decision_outcomes``: delivered,
  opened (email, push), clicked, converted (with revenue) and unsubscribed (email, SMS), at rates
  per channel; a personalized offer converts better than the default experience;
- every decided customer, in every arm including the global holdout, may also convert without any
  message (an organic web conversion, no offer), at a rate that grows with the propensity score, so
  the holdout has an outcome and the program's lift is the difference.

The rows go into ``raw.channel_feedback`` through the feedback source's own ingest path (Contract 2
validation, quarantine, row accounting in ``raw.ingest_log``, merge on ``feedback_id``), from a file
of their own next to the demo's feedback export. Every draw is a hash of the seed, the decision and
the stage, so re-running a cycle produces the same rows with the same ids and the merge adds nothing.

Only the demo does this: see ``should_simulate``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tessera import paths

ENV_FLAG = "TESSERA_SIMULATE_RESPONSES"
TABLE = "experiments.demo_responses"
WINDOW = timedelta(days=7)  # fct_decision_outcomes' response window
DELIVERY = {"email": 0.97, "sms": 0.98, "push": 0.92, "web": 1.0}
OPEN = {"email": 0.40, "push": 0.25}  # channels without opens click straight from delivery
CLICK = {"email": 0.25, "push": 0.20, "sms": 0.10, "web": 0.08}
CONVERT = {"personalized": 0.30, "default": 0.12}  # per click
UNSUBSCRIBE = {"email": 0.01, "sms": 0.015}
ORGANIC_BASE, ORGANIC_PER_SCORE = 0.06, 0.10  # organic conversion in the window = base + per_score x score


def should_simulate() -> bool:
    """Only in the demo: ``TESSERA_SIMULATE_RESPONSES=1/0`` decides; otherwise yes when the demo
    data set is there (its manifest) and the feedback source reads the demo's folder."""
    flag = os.environ.get(ENV_FLAG, "").strip().lower()
    if flag in ("1", "true", "yes"):
        return True
    if flag in ("0", "false", "no"):
        return False
    demo = paths.demo_dir()
    if not (demo / "manifest.json").exists():
        return False
    try:
        from tessera.sources.config import resolve_path, source_config

        feedback = resolve_path(source_config("feedback").get("path"))
    except Exception:  # noqa: BLE001 - no feedback source configured: nothing to feed
        return False
    return feedback.resolve().is_relative_to(demo.resolve())


def _u(seed: int, *parts: Any) -> float:
    """A uniform draw in [0, 1) from a hash: the same inputs always give the same draw."""
    digest = hashlib.md5(":".join(str(p) for p in (seed, *parts)).encode()).hexdigest()
    return int(digest[:13], 16) / float(16**13)


def _lognormal(u: float, mu: float = 4.3, sigma: float = 0.5) -> float:
    from scipy.stats import norm

    return round(math.exp(mu + sigma * float(norm.ppf(min(max(u, 1e-9), 1 - 1e-9)))), 2)


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fid(*parts: Any) -> str:
    return "SIM-" + hashlib.md5("|".join(str(p) for p in parts).encode()).hexdigest()[:20]


def simulate(con, seed: int = 7) -> list[dict[str, Any]]:
    """Channel feedback rows (the feedback source's columns, plus ``decision_id`` and ``arm`` for the
    log) for every exposed decision and the organic conversions of every decided profile."""
    exposures = con.execute("select count(*) from information_schema.tables "
                            "where table_schema = 'experiments' and table_name = 'exposures'").fetchone()[0]
    if not exposures:
        return []
    sent = con.execute("""
        select d.decision_id, d.profile_id, d.channel, d.offer_id, d.is_default, d.arm,
               cast(d.decided_at as timestamptz) as decided_at, p.customer_id, p.email
        from decisions.fct_decisions as d
        join (select distinct decision_id from experiments.exposures) as x using (decision_id)
        join profiles.dim_customer_profiles as p using (profile_id)
        order by d.decision_id
    """).fetchall()
    decided = con.execute("""
        select d.profile_id, any_value(d.arm), max(coalesce(d.score, 0.0)),
               cast(max(d.decided_at) as timestamptz), any_value(p.customer_id), any_value(p.email)
        from decisions.fct_decisions as d
        join profiles.dim_customer_profiles as p using (profile_id)
        group by d.profile_id
        order by d.profile_id
    """).fetchall()
    rows: list[dict[str, Any]] = []

    def emit(key: tuple, decision_id, arm, campaign, offer, channel, customer_id, email, event, at, revenue=None):
        if customer_id is None and email is None:
            return
        rows.append({
            "feedback_id": _fid(*key, event), "message_id": "SIM-MSG-" + _fid(*key)[4:],
            "campaign_id": campaign, "offer_id": offer, "channel": channel,
            "customer_id": customer_id, "email": None if customer_id else email,
            "event_type": event, "occurred_at": _iso(at), "revenue": revenue,
            "decision_id": decision_id, "arm": arm,
        })

    for decision_id, _pid, channel, offer, is_default, arm, decided_at, customer_id, email in sent:
        key = ("msg", decision_id)
        campaign = f"NBO-{decided_at:%Y%m%d}"

        def u(stage: str, _d=decision_id) -> float:
            return _u(seed, _d, stage)

        if u("delivered") >= DELIVERY.get(channel, 0.95):
            continue
        t = decided_at + timedelta(minutes=5 + 55 * u("t_delivered"))
        args = (decision_id, arm, campaign, offer, channel, customer_id, email)
        emit(key, *args, "delivered", t)
        engaged_at = t
        if channel in OPEN:
            if u("opened") >= OPEN[channel]:
                if channel in UNSUBSCRIBE and u("unsubscribed") < UNSUBSCRIBE[channel]:
                    emit(key, *args, "unsubscribed", t + timedelta(hours=48 * u("t_unsub")))
                continue
            engaged_at = t + timedelta(hours=1 + 47 * u("t_opened"))
            emit(key, *args, "opened", engaged_at)
        if u("clicked") < CLICK.get(channel, 0.1):
            clicked_at = engaged_at + timedelta(minutes=1 + 59 * u("t_clicked"))
            emit(key, *args, "clicked", clicked_at)
            rate = CONVERT["default" if is_default else "personalized"]
            if u("converted") < rate:
                emit(key, *args, "converted", clicked_at + timedelta(hours=24 * u("t_converted")),
                     _lognormal(u("revenue")))
                continue
        if channel in UNSUBSCRIBE and u("unsubscribed") < UNSUBSCRIBE[channel]:
            emit(key, *args, "unsubscribed", engaged_at + timedelta(minutes=10 * u("t_unsub")))

    for profile_id, arm, score, decided_at, customer_id, email in decided:
        anchor = decided_at.isoformat()
        if _u(seed, "organic", profile_id, anchor) < ORGANIC_BASE + ORGANIC_PER_SCORE * float(score):
            at = decided_at + WINDOW * (0.05 + 0.9 * _u(seed, "organic_t", profile_id, anchor))
            emit(("organic", profile_id, anchor), None, arm, "organic", None, "web", customer_id, email,
                 "converted", at, _lognormal(_u(seed, "organic_revenue", profile_id, anchor)))
    return rows


FEEDBACK_COLUMNS = ("feedback_id", "message_id", "campaign_id", "offer_id", "channel", "customer_id", "email",
                    "event_type", "occurred_at", "revenue")


def write_file(rows: list[dict[str, Any]], folder: Path | None = None) -> Path:
    """The rows as a channel-feedback JSONL export (the source's columns only)."""
    folder = folder or paths.demo_dir() / "feedback" / "responses"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "simulated_responses.jsonl"
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps({k: row[k] for k in FEEDBACK_COLUMNS}) + "\n")
    tmp.replace(path)
    return path


def ingest_file(path: Path, run_id: str | None = None):
    """Load a channel-feedback file into raw.channel_feedback with the feedback source's pipeline:
    ``run_source("feedback")`` with this file in place of the configured export."""
    from tessera.sources.runner import run_source

    return run_source("feedback", run_id, config_overrides={"path": str(path), "kind": "jsonl"})


def write_log(con, rows: list[dict[str, Any]]) -> None:
    """experiments.demo_responses: the simulated rows with the decision they answer (empty outside
    the demo), so the measurement pass can depend on this step."""
    import pandas as pd

    from tessera.warehouse import replace_table

    cols = [*FEEDBACK_COLUMNS, "decision_id", "arm"]
    frame = pd.DataFrame(rows, columns=cols).astype({c: "string" for c in cols if c != "revenue"})
    frame["revenue"] = frame["revenue"].astype("float64")
    replace_table(con, TABLE, frame)
