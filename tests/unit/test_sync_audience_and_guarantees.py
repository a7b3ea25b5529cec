"""Hashed audience files, consent re-checked at send time, suppressions, retry budget, journal."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from tessera.activate import SyncConfig, add_suppression, run_sync
from tessera.activate.destinations import BatchResult, Destination, RowOp
from tessera.activate.destinations.audience import normalize_email, normalize_phone
from tessera.activate.destinations.base import RetryBudget
from tessera.activate.destinations.webhook import WebhookDestination


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_normalization_before_hashing() -> None:
    assert normalize_email("  Ann.Lee@Example.COM ") == "ann.lee@example.com"
    assert normalize_email("not an email") is None
    assert normalize_phone("(555) 123-4567") == "+15551234567"
    assert normalize_phone("1-555-123-4567") == "+15551234567"
    assert normalize_phone("+44 (0)20 7946 0958") == "+442079460958"
    assert normalize_phone("0044 20 7946 0958") == "+442079460958"
    assert normalize_phone("07946 095800", "44") == "+447946095800"
    assert normalize_phone("12") is None


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TESSERA_AS_OF", "2026-11-20T12:00:00Z")
    cfg = tmp_path / "config"
    (cfg / "syncs").mkdir(parents=True)
    (cfg / "destinations.yml").write_text(
        "destinations:\n"
        "  ads: {type: audience_file, path: ads, default_country_code: '1'}\n"
        "  box: {type: file_outbox, path: box}\n"
    )
    wh = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(wh))
    con.execute("CREATE SCHEMA activation")
    con.execute("CREATE SCHEMA intermediate")
    con.execute(
        "CREATE TABLE activation.sync_ads__members AS SELECT 'P' || i AS profile_id, "
        "' User' || i || '@Example.com ' AS email, '(555) 000-00' || lpad(i::VARCHAR, 2, '0') AS phone "
        "FROM range(1, 7) t(i)"
    )
    con.execute(
        "CREATE TABLE intermediate.int_consent_latest AS SELECT 'P' || i AS profile_id, 'email' AS channel, "
        "'marketing' AS purpose, 'opt_in' AS status, TIMESTAMPTZ '2026-01-01 00:00:00+00' AS occurred_at "
        "FROM range(1, 7) t(i)"
    )
    con.close()
    return {"cfg": cfg, "wh": wh, "ads": tmp_path / "data" / "outbox" / "ads", "box": tmp_path / "data" / "outbox" / "box"}


def ads_sync(**kw: object) -> SyncConfig:
    return SyncConfig.model_validate(
        {"name": "ads", "model": "activation.sync_ads__members", "primary_key": "profile_id",
         "destination": "ads", "mode": "mirror", "batch_size": 100, "mapping": ["email", "phone"], **kw}
    )


def files(folder: Path) -> list[dict]:
    return [json.loads(f.read_text()) for f in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)]


def test_audience_file_lists_added_and_removed_hashed_members(env: dict[str, Path]) -> None:
    r1 = run_sync(ads_sync(), env["wh"], config_dir=env["cfg"])
    assert r1.status == "success"
    (doc,) = files(env["ads"])
    assert doc["hash"] == "sha256" and doc["removed"] == [] and len(doc["added"]) == 6
    p1 = next(m for m in doc["added"] if m["key"] == "P1")
    assert p1["email_sha256"] == sha("user1@example.com") and p1["phone_sha256"] == sha("+15550000001")
    assert "user1" not in json.dumps(doc)  # nothing in the clear
    con = duckdb.connect(str(env["wh"]))
    con.execute("DELETE FROM activation.sync_ads__members WHERE profile_id = 'P2'")
    con.execute("UPDATE activation.sync_ads__members SET email = 'new3@example.com' WHERE profile_id = 'P3'")
    con.close()
    r2 = run_sync(ads_sync(), env["wh"], config_dir=env["cfg"])
    assert (r2.rows_deleted, r2.rows_changed) == (1, 1)
    doc = files(env["ads"])[-1]
    assert {m["email_sha256"] for m in doc["removed"]} == {sha("user2@example.com"), sha("user3@example.com")}
    assert [m["email_sha256"] for m in doc["added"]] == [sha("new3@example.com")]


class Recorder(Destination):
    """Records what it is sent; can run a callback after each batch (to change the world mid-run)."""

    type = "recorder"

    def __init__(self, after_batch=None, fail_with: str | None = None) -> None:
        super().__init__("recorder")
        self.sent: list[RowOp] = []
        self.after_batch = after_batch
        self.fail_with = fail_with

    def send_batch(self, sync_name: str, batch_id: str, rows: list[RowOp]) -> BatchResult:
        self.sent.extend(rows)
        if self.after_batch:
            self.after_batch()
        return BatchResult.failed(self.fail_with) if self.fail_with else BatchResult.all_acked(rows)


def test_opt_out_and_suppression_after_planning_are_honoured_at_send_time(env: dict[str, Path]) -> None:
    wh = env["wh"]
    cfg = ads_sync(destination="box", mode="upsert", batch_size=2, consent={"channel": "email", "purpose": "marketing"})

    def world_changes() -> None:  # after the first batch: P4 opts out, P6's email is suppressed
        if len(recorder.sent) == 2:
            con = duckdb.connect(str(wh))
            con.execute(
                "INSERT INTO intermediate.int_consent_latest VALUES "
                "('P4', 'email', 'marketing', 'opt_out', TIMESTAMPTZ '2026-11-20 11:00:00+00')"
            )
            con.close()
            add_suppression("email", "User6@example.com", channel="email", warehouse_path=wh)

    recorder = Recorder(after_batch=world_changes)
    r = run_sync(cfg, wh, config_dir=env["cfg"], destination=recorder)
    assert sorted(row.key for row in recorder.sent) == ["P1", "P2", "P3", "P5"]
    assert (r.status, r.rows_planned, r.rows_acked, r.rows_skipped_consent, r.rows_blocked_at_send) == (
        "success", 6, 4, 2, 2
    )
    # blocked rows are not marked synced, and the plan itself now skips them
    r2 = run_sync(cfg, wh, config_dir=env["cfg"], dry_run=True)
    assert (r2.rows_planned, r2.rows_skipped_consent) == (0, 2)


def test_retry_budget_is_shared_by_every_batch_of_a_run() -> None:
    budget = RetryBudget(3)
    assert [budget.take() for _ in range(4)] == [True, True, True, False] and budget.exhausted
    import httpx

    calls = {"n": 0}

    def always_500(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        return httpx.Response(500)

    dest = WebhookDestination("h", "http://hook.invalid/x", max_retries=10, backoff_initial=0,
                              sleep=lambda s: None, transport=httpx.MockTransport(always_500))
    dest.retry_budget = RetryBudget(4)
    rows = [RowOp("upsert", "k", "ik", {"a": 1})]
    first = dest.send_batch("s", "b1", rows)
    second = dest.send_batch("s", "b2", rows)
    assert "retry budget" in (first.error or "") and "retry budget" in (second.error or "")
    assert calls["n"] == 4 + 1 + 1  # 1 + 4 retries, then one attempt with an empty budget


def test_ack_journal_survives_a_crash_before_compaction(env: dict[str, Path]) -> None:
    from tessera.activate import state

    cfg = ads_sync(destination="box", batch_size=2)
    run_sync(cfg, env["wh"], config_dir=env["cfg"])
    con = duckdb.connect(str(env["wh"]))
    # simulate a run killed after two acknowledged batches: journal rows, never compacted
    con.execute(
        "INSERT INTO tessera_sync.sync_acks SELECT sync_name, record_key, row_hash, payload_json, 'upsert', "
        "acked_at, 'crashed', idempotency_key, 1 FROM tessera_sync.sync_state WHERE record_key = 'P1'"
    )
    con.execute("DELETE FROM tessera_sync.sync_state WHERE record_key = 'P1'")
    assert state.state_counts(con, "ads")["records_synced"] == 6
    con.close()
    r = run_sync(cfg, env["wh"], config_dir=env["cfg"])
    assert r.rows_planned == 0  # P1's acknowledgement in the journal counts
    con = duckdb.connect(str(env["wh"]))
    assert con.execute("SELECT count(*) FROM tessera_sync.sync_acks").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM tessera_sync.sync_state").fetchone() == (6,)
    con.close()
