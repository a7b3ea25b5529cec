"""`tessera decide explain CUSTOMER_ID`: why each channel got its offer and why every other offer
lost. Reads the decision record (decisions.fct_decisions) and the inputs of the arbitration
(eligibility, the catalog seeds, scores, the touch history) from the warehouse, read-only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from tessera import paths
from tessera.warehouse import table_exists


class ExplainError(RuntimeError):
    pass


REASONS = {
    "top_expected_value": "highest expected value among the eligible offers that run on this channel",
    "default_no_eligible_offer": "no eligible offer runs on this channel: the default experience",
    "default_insufficient_data": "too little data to personalize: the default experience",
    "control_default_experience": "in the experiment's control arm: the default experience",
    "campaign_control_default": "in the winning offer's campaign control group: the default experience",
    "holdout_no_marketing": "in the global holdout: nothing is sent (the row records what would have been)",
    "suppressed_fatigue": "held back: the cross-channel fatigue budget is used up",
    "deferred_quiet_hours": "held back: the channel's quiet hours",
}


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def resolve_profile(con: duckdb.DuckDBPyConnection, customer_id: str) -> str:
    if con.execute("select 1 from decisions.fct_decisions where profile_id = ? limit 1", [customer_id]).fetchone():
        return customer_id
    if table_exists(con, "intermediate", "int_identifier_profiles"):
        hit = con.execute(
            "select distinct profile_id from intermediate.int_identifier_profiles "
            "where id_value = ? or lower(id_value) = lower(?)", [customer_id, customer_id]).fetchall()
        if len(hit) == 1:
            return hit[0][0]
        if len(hit) > 1:
            raise ExplainError(f"{customer_id!r} matches {len(hit)} profiles: {[h[0] for h in hit]}")
    if table_exists(con, "profiles", "dim_customer_profiles") and con.execute(
            "select 1 from profiles.dim_customer_profiles where profile_id = ?", [customer_id]).fetchone():
        return customer_id
    raise ExplainError(f"no profile found for {customer_id!r} (tried profile id and every identifier)")


def explain_customer(customer_id: str, warehouse: Path | None = None) -> dict[str, Any]:
    path = Path(warehouse or paths.warehouse_path())
    if not path.exists():
        raise ExplainError(f"warehouse {path} not found; run the pipeline first")
    con = duckdb.connect(str(path), read_only=True)
    try:
        if not table_exists(con, "decisions", "fct_decisions"):
            raise ExplainError("decisions.fct_decisions does not exist yet; run the pipeline first")
        profile_id = resolve_profile(con, customer_id)
        decisions = _rows(con, "select * from decisions.fct_decisions where profile_id = ? order by channel",
                          [profile_id])
        offers = _rows(con, "select * from config.offers order by offer_id", [])
        runs_on: dict[str, set[str]] = {}
        for oid, ch in con.execute("select offer_id, channel from config.offer_channels").fetchall():
            runs_on.setdefault(oid, set()).add(ch)
        eligible = {r["offer_id"]: r["offer_value"] for r in _rows(
            con, "select offer_id, offer_value from decisions.int_offer_eligibility where profile_id = ?", [profile_id])}
        score_row = con.execute("select score from ml.propensity_scores where profile_id = ?", [profile_id]).fetchone() \
            if table_exists(con, "ml", "propensity_scores") else None
        avg = con.execute("select coalesce(avg(score), 0) from ml.propensity_scores").fetchone()[0] \
            if table_exists(con, "ml", "propensity_scores") else 0.0
        score = float(score_row[0]) if score_row and score_row[0] is not None else float(avg)
        as_of = decisions[0]["decided_at"] if decisions else None
        touches = _rows(con, "select offer_id, channel, touched_at, touch_source from intermediate.int_decision_touches "
                             "where profile_id = ? order by touched_at", [profile_id]) \
            if table_exists(con, "intermediate", "int_decision_touches") else []
    finally:
        con.close()

    winners = {d["offer_id"] for d in decisions if d["reason_code"] in ("top_expected_value", "suppressed_fatigue",
                                                                          "deferred_quiet_hours") and not d["is_default"]}
    ranked: list[dict[str, Any]] = []
    for o in offers:
        if o["is_default"]:
            continue
        entry: dict[str, Any] = {"offer_id": o["offer_id"], "value": None, "expected_value": None,
                                 "priority": o["priority"], "status": "", "why": ""}
        if o["offer_id"] not in eligible:
            entry.update(status="not_eligible", why="the profile does not meet the offer's eligibility conditions")
            ranked.append(entry)
            continue
        value = eligible[o["offer_id"]] if eligible[o["offer_id"]] is not None else o["value"]
        entry["value"] = value
        entry["expected_value"] = score * value
        if as_of is not None and ((o["valid_from"] and str(o["valid_from"]) > str(as_of)[:10])
                                  or (o["valid_to"] and str(o["valid_to"]) <= str(as_of)[:10])):
            entry.update(status="not_valid", why=f"outside its validity window {o['valid_from']}..{o['valid_to']}")
        elif o.get("cap_max") is not None and as_of is not None and sum(
                1 for t in touches if t["offer_id"] == o["offer_id"]
                and (as_of - t["touched_at"].replace(tzinfo=None)).days < o["cap_days"]) >= o["cap_max"]:
            entry.update(status="capped",
                         why=f"frequency cap reached: {o['cap_max']} touches in {o['cap_days']} days")
        else:
            entry["status"] = "candidate"
        ranked.append(entry)
    candidates = sorted((e for e in ranked if e["status"] == "candidate"),
                        key=lambda e: (-e["expected_value"], -e["priority"], e["offer_id"]))
    top = next((e for e in candidates if e["offer_id"] in winners), None)
    for e in candidates:
        if e["offer_id"] in winners:
            e.update(status="won", why=f"highest expected value {e['expected_value']:.4f} = score {score:.4f} x value "
                                       f"{e['value']:.2f} (ties: priority, then offer id)")
        elif top is not None and (-e["expected_value"], -e["priority"], e["offer_id"]) < (
                -top["expected_value"], -top["priority"], top["offer_id"]):
            if o_budget(offers, e["offer_id"]) is not None:
                e.update(status="out_of_stock", why="ranks higher, but its global budget (stock) is used up or "
                                                    "reserved for customers with a higher expected value")
            else:
                e.update(status="not_on_channel", why=f"ranks higher but runs only on {sorted(runs_on.get(e['offer_id'], []))}")
        elif top is not None:
            if e["expected_value"] < top["expected_value"]:
                why = f"lower expected value {e['expected_value']:.4f} < {top['expected_value']:.4f}"
            elif e["priority"] < top["priority"]:
                why = f"same expected value, lower priority {e['priority']} < {top['priority']}"
            else:
                why = "same expected value and priority; the offer id sorts later"
            e.update(status="lost", why=why)
        else:
            e.update(status="lost", why="the profile got the default experience (see the channel's reason)")
    return {
        "customer_id": customer_id,
        "profile_id": profile_id,
        "score": score,
        "as_of": as_of,
        "decisions": [
            {k: d.get(k) for k in ("channel", "offer_id", "is_default", "is_deliverable", "arm", "campaign_arm",
                                   "reason_code", "reason_codes", "expected_value", "model_version", "rules_version",
                                   "catalog_version", "consent_purpose", "consent_status", "consent_given_at",
                                   "touches_in_window", "fatigue_max_touches", "decision_id")}
            | {"explanation": REASONS.get(d["reason_code"], d["reason_code"])}
            for d in decisions
        ],
        "offers": ranked,
        "touches": touches,
    }


def o_budget(offers: list[dict[str, Any]], offer_id: str) -> Any:
    return next((o.get("budget") for o in offers if o["offer_id"] == offer_id), None)


def render_explanation(result: dict[str, Any]) -> str:
    lines = [(f"profile {result['profile_id']} (asked for {result['customer_id']}), score {result['score']:.4f}, "
             f"as of {result['as_of']}")]
    if not result["decisions"]:
        lines.append("  no decision: no channel with an identifier and a current opt-in")
    for d in result["decisions"]:
        lines.append(
            f"  {d['channel']:6} -> {d['offer_id']:24} arm={d['arm']:9} {d['reason_code']}"
            f"{'' if d['is_deliverable'] else ' (not sent)'}\n"
            f"           {d['explanation']}; consent {d['consent_status']} for {d['consent_purpose']} "
            f"since {d['consent_given_at']}; touches in window {d['touches_in_window']}/{d['fatigue_max_touches']}; "
            f"rules {d['rules_version']}, model {d['model_version']}"
        )
    lines.append("offers:")
    for e in result["offers"]:
        ev = f"EV {e['expected_value']:.4f}" if e["expected_value"] is not None else "EV -"
        lines.append(f"  {e['offer_id']:24} {e['status']:14} {ev:12} {e['why']}")
    return "\n".join(lines)
