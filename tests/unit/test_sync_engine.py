"""Sync engine against a real DuckDB warehouse and the file outbox (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tessera.activate import SyncConfig, SyncSourceMissing, load_syncs, run_sync, sync_status
from tessera.activate.destinations import BatchResult, Destination, RowOp


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TESSERA_AS_OF", "2026-11-20T12:00:00Z")
    cfg = tmp_path / "config"
    (cfg / "syncs").mkdir(parents=True)
    (cfg / "destinations.yml").write_text(
        "destinations:\n"
        "  things_outbox: {type: file_outbox, path: things, format: jsonl}\n"
        "  things_csv: {type: file_outbox, path: things_csv, format: csv}\n"
    )
    wh = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(wh))
    con.execute("CREATE SCHEMA activation")
    con.execute(
        "CREATE TABLE activation.sync_test__things AS SELECT 'k' || lpad(i::VARCHAR, 2, '0') AS thing_key, "
        "'P' || i AS profile_id, 'name ' || i AS name, i * 1.5 AS score FROM range(1, 11) t(i)"
    )
    con.close()
    return {"cfg": cfg, "wh": wh, "outbox": tmp_path / "data" / "outbox"}


def sync(**kw: object) -> SyncConfig:
    base = {
        "name": "things",
        "model": "activation.sync_test__things",
        "primary_key": "thing_key",
        "destination": "things_outbox",
        "mode": "upsert",
        "batch_size": 4,
    }
    return SyncConfig.model_validate({**base, **kw})


def sql(wh: Path, query: str) -> list[tuple]:
    con = duckdb.connect(str(wh))
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def outbox_lines(folder: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(folder.glob("*.jsonl")) for line in f.read_text().splitlines()]


def test_first_run_sends_everything_then_nothing(env: dict[str, Path]) -> None:
    cfg = sync()
    r1 = run_sync(cfg, env["wh"], config_dir=env["cfg"])
    assert (r1.status, r1.rows_planned, r1.rows_added, r1.rows_sent, r1.rows_acked, r1.batches) == (
        "success",
        10,
        10,
        10,
        10,
        3,
    )
    files = sorted((env["outbox"] / "things").glob("*.jsonl"))
    assert len(files) == 3 and all(f.name.startswith(f"things__{r1.run_id}-") for f in files)
    assert not list((env["outbox"] / "things").glob(".*"))  # no temp files left behind
    lines = outbox_lines(env["outbox"] / "things")
    assert len(lines) == 10
    first = lines[0]
    assert set(first) == {"op", "key", "idempotency_key", "fields"}
    assert first["op"] == "upsert" and first["key"] == "k01"
    assert first["fields"] == {"thing_key": "k01", "profile_id": "P1", "name": "name 1", "score": 1.5}

    r2 = run_sync(cfg, env["wh"], config_dir=env["cfg"])
    assert (r2.status, r2.rows_planned, r2.rows_sent) == ("success", 0, 0)
    assert len(list((env["outbox"] / "things").glob("*.jsonl"))) == 3

    state = sql(env["wh"], "SELECT count(*), count(DISTINCT idempotency_key) FROM tessera_sync.sync_state")
    assert state == [(10, 10)]
    runs = sql(
        env["wh"], "SELECT status, rows_planned, rows_acked FROM tessera_sync.sync_runs ORDER BY started_at"
    )
    assert runs == [("success", 10, 10), ("success", 0, 0)]


def test_only_changed_rows_are_resent(env: dict[str, Path]) -> None:
    cfg = sync()
    run_sync(cfg, env["wh"], config_dir=env["cfg"])
    before = dict(sql(env["wh"], "SELECT record_key, idempotency_key FROM tessera_sync.sync_state"))
    sql(
        env["wh"],
        "UPDATE activation.sync_test__things SET name = 'renamed' WHERE thing_key IN ('k03', 'k07')",
    )
    sql(env["wh"], "INSERT INTO activation.sync_test__things VALUES ('k11', 'P11', 'new', 0.0)")
    r = run_sync(cfg, env["wh"], config_dir=env["cfg"])
    assert (r.rows_planned, r.rows_added, r.rows_changed, r.rows_deleted, r.rows_acked) == (3, 1, 2, 0, 3)
    sent = [
        line
        for line in outbox_lines(env["outbox"] / "things")
        if line["fields"]["name"] in ("renamed", "new")
    ]
    assert sorted(line["key"] for line in sent) == ["k03", "k07", "k11"]
    after = dict(sql(env["wh"], "SELECT record_key, idempotency_key FROM tessera_sync.sync_state"))
    assert after["k03"] != before["k03"] and after["k01"] == before["k01"]

    # a column outside the mapping changing does not trigger a re-send
    mapped = sync(name="things_mapped", mapping={"id": "thing_key", "label": "name"})
    assert run_sync(mapped, env["wh"], config_dir=env["cfg"]).rows_sent == 11
    sql(env["wh"], "UPDATE activation.sync_test__things SET score = score + 1")
    assert run_sync(mapped, env["wh"], config_dir=env["cfg"]).rows_sent == 0
    # ...and full_resync sends everything again
    full = run_sync(mapped, env["wh"], config_dir=env["cfg"], full_resync=True)
    assert (full.rows_planned, full.rows_changed, full.rows_acked) == (11, 11, 11)


def test_mirror_deletes_only_keys_tessera_sent(env: dict[str, Path]) -> None:
    cfg = sync(mode="mirror")
    run_sync(cfg, env["wh"], config_dir=env["cfg"])
    sql(env["wh"], "DELETE FROM activation.sync_test__things WHERE thing_key IN ('k02', 'k05')")
    # a key that never went out (added and removed between runs) must not be deleted
    r = run_sync(cfg, env["wh"], config_dir=env["cfg"])
    assert (r.rows_planned, r.rows_deleted, r.rows_acked) == (2, 2, 2)
    deletes = [line for line in outbox_lines(env["outbox"] / "things") if line["op"] == "delete"]
    assert sorted(d["key"] for d in deletes) == ["k02", "k05"] and all(d["fields"] == {} for d in deletes)
    assert sql(env["wh"], "SELECT count(*) FROM tessera_sync.sync_state WHERE op = 'delete'") == [(2,)]
    # tombstones are not deleted twice; a returning key is added again
    assert run_sync(cfg, env["wh"], config_dir=env["cfg"]).rows_planned == 0
    sql(env["wh"], "INSERT INTO activation.sync_test__things VALUES ('k02', 'P2', 'back', 1.0)")
    again = run_sync(cfg, env["wh"], config_dir=env["cfg"])
    assert (again.rows_added, again.rows_deleted) == (1, 0)
    # upsert mode never deletes
    up = sync(name="things_upsert")
    run_sync(up, env["wh"], config_dir=env["cfg"])
    sql(env["wh"], "DELETE FROM activation.sync_test__things WHERE thing_key = 'k01'")
    assert run_sync(up, env["wh"], config_dir=env["cfg"]).rows_deleted == 0


def test_insert_mode_ignores_changes(env: dict[str, Path]) -> None:
    cfg = sync(mode="insert")
    run_sync(cfg, env["wh"], config_dir=env["cfg"])
    sql(env["wh"], "UPDATE activation.sync_test__things SET name = 'x' WHERE thing_key = 'k01'")
    sql(env["wh"], "INSERT INTO activation.sync_test__things VALUES ('k99', 'P99', 'new', 0.0)")
    r = run_sync(cfg, env["wh"], config_dir=env["cfg"])
    assert (r.rows_planned, r.rows_added, r.rows_changed) == (1, 1, 0)
    assert outbox_lines(env["outbox"] / "things")[-1]["op"] == "insert"


def test_consent_gate(env: dict[str, Path]) -> None:
    sql(
        env["wh"],
        """CREATE SCHEMA intermediate;
        CREATE TABLE intermediate.int_consent_latest AS SELECT * FROM (VALUES
            ('P1', 'email', 'marketing', 'opt_in',  TIMESTAMPTZ '2026-11-01 00:00:00+00'),
            ('P2', 'email', 'marketing', 'opt_out', TIMESTAMPTZ '2026-11-01 00:00:00+00'),
            ('P3', 'email', 'personalization', 'opt_in', TIMESTAMPTZ '2026-11-01 00:00:00+00'),
            ('P4', 'sms',   'marketing', 'opt_in',  TIMESTAMPTZ '2026-11-01 00:00:00+00'),
            ('P5', 'email', 'marketing', 'opt_in',  TIMESTAMPTZ '2026-11-01 00:00:00+00'),
            ('P6', 'email', 'marketing', 'opt_in',  TIMESTAMPTZ '2026-12-25 00:00:00+00')  -- after as-of
        ) t(profile_id, channel, purpose, status, occurred_at)""",
    )
    cfg = sync(mode="mirror", consent={"channel": "email", "purpose": "marketing"})
    r = run_sync(cfg, env["wh"], config_dir=env["cfg"])
    assert (r.rows_planned, r.rows_acked, r.rows_skipped_consent) == (2, 2, 8)
    assert sorted(line["fields"]["profile_id"] for line in outbox_lines(env["outbox"] / "things")) == [
        "P1",
        "P5",
    ]
    # skipped rows are not in state: they go out once the profile opts in
    sql(env["wh"], "UPDATE intermediate.int_consent_latest SET status = 'opt_in' WHERE profile_id = 'P2'")
    # ...and in mirror mode, a withdrawn consent deletes what was delivered
    sql(env["wh"], "UPDATE intermediate.int_consent_latest SET status = 'opt_out' WHERE profile_id = 'P5'")
    r2 = run_sync(cfg, env["wh"], config_dir=env["cfg"])
    # P5 is now blocked but unchanged: it is deleted, not counted as skipped
    assert (r2.rows_added, r2.rows_deleted, r2.rows_skipped_consent) == (1, 1, 7)
    ops = {(line["op"], line["key"]) for line in outbox_lines(env["outbox"] / "things")}
    assert ("upsert", "k02") in ops and ("delete", "k05") in ops


def test_consent_table_missing_fails_closed(env: dict[str, Path]) -> None:
    cfg = sync(consent={"channel": "email", "purpose": "marketing"})
    with pytest.raises(RuntimeError, match="int_consent_latest"):
        run_sync(cfg, env["wh"], config_dir=env["cfg"])
    assert sql(env["wh"], "SELECT status FROM tessera_sync.sync_runs") == [("failed",)]
    assert not (env["outbox"] / "things").exists()


def test_missing_model_raises_clear_error(env: dict[str, Path]) -> None:
    with pytest.raises(SyncSourceMissing, match="activation.sync_nope__x does not exist"):
        run_sync(sync(model="activation.sync_nope__x"), env["wh"], config_dir=env["cfg"])
    with pytest.raises(Exception, match="not in activation.sync_test__things"):
        run_sync(sync(mapping={"x": "no_such_column"}), env["wh"], config_dir=env["cfg"])


def test_dry_run_plans_without_sending(env: dict[str, Path]) -> None:
    cfg = sync(mode="mirror")
    run_sync(cfg, env["wh"], config_dir=env["cfg"])
    sql(env["wh"], "UPDATE activation.sync_test__things SET name = 'x' WHERE thing_key = 'k04'")
    sql(env["wh"], "DELETE FROM activation.sync_test__things WHERE thing_key = 'k09'")
    r = run_sync(cfg, env["wh"], dry_run=True, config_dir=env["cfg"])
    assert (r.status, r.rows_planned, r.rows_changed, r.rows_deleted, r.rows_sent) == ("dry_run", 2, 1, 1, 0)
    assert r.samples["changed"][0]["key"] == "k04" and r.samples["changed"][0]["fields"]["name"] == "x"
    assert r.samples["deleted"] == [
        {
            "key": "k09",
            "op": "delete",
            "idempotency_key": r.samples["deleted"][0]["idempotency_key"],
            "fields": {},
            "previous": {"thing_key": "k09", "profile_id": "P9", "name": "name 9", "score": 13.5},
        }
    ]
    assert len(list((env["outbox"] / "things").glob("*.jsonl"))) == 3  # nothing new written
    assert sql(env["wh"], "SELECT count(*) FROM tessera_sync.sync_runs") == [(1,)]
    assert run_sync(cfg, env["wh"], config_dir=env["cfg"]).rows_planned == 2


def test_composite_key_null_and_duplicate_keys(env: dict[str, Path]) -> None:
    sql(
        env["wh"],
        """CREATE TABLE activation.sync_test__pairs AS SELECT * FROM (VALUES
            ('a', 1, 'x'), ('a', 2, 'y'), ('b', 1, 'z'), ('b', 1, 'dup'), (NULL, 3, 'null key')
        ) t(part, n, val)""",
    )
    cfg = sync(name="pairs", model="activation.sync_test__pairs", primary_key=["part", "n"])
    r = run_sync(cfg, env["wh"], config_dir=env["cfg"])
    assert (r.status, r.rows_planned, r.rows_acked, r.rows_invalid) == ("partial", 2, 2, 3)
    assert sorted(k for (k,) in sql(env["wh"], "SELECT record_key FROM tessera_sync.sync_state")) == [
        '["a","1"]',
        '["a","2"]',
    ]
    errors = sql(env["wh"], "SELECT record_key, error FROM tessera_sync.sync_row_errors ORDER BY record_key")
    assert errors[0][0] == '["b","1"]' and "not unique" in errors[0][1]
    assert errors[1][0] is None and "NULL primary key" in errors[1][1]


class FlakyDestination(Destination):
    """Acks the first batch, rejects one row of the second, then fails."""

    type = "test"

    def __init__(self) -> None:
        super().__init__("flaky")
        self.calls: list[list[RowOp]] = []

    def send_batch(self, sync_name: str, batch_id: str, rows: list[RowOp]) -> BatchResult:
        self.calls.append(rows)
        if len(self.calls) == 1:
            return BatchResult.all_acked(rows)
        if len(self.calls) == 2:
            return BatchResult(acked_keys={r.key for r in rows[1:]}, rejected={rows[0].key: "bad email"})
        raise ConnectionError("destination went away")


def test_only_acknowledged_rows_are_marked_synced(env: dict[str, Path]) -> None:
    cfg = sync(batch_size=3)
    dest = FlakyDestination()
    r = run_sync(cfg, env["wh"], config_dir=env["cfg"], destination=dest)
    assert (r.status, r.rows_planned, r.rows_sent, r.rows_acked, r.rows_rejected, r.rows_unacked) == (
        "partial",
        10,
        9,
        5,
        1,
        3,
    )
    assert r.rows_not_sent == 1 and "destination went away" in (r.error or "")
    synced = sorted(k for (k,) in sql(env["wh"], "SELECT record_key FROM tessera_sync.sync_state"))
    assert synced == ["k01", "k02", "k03", "k05", "k06"]
    errors = dict(
        sql(
            env["wh"],
            f"SELECT record_key, error FROM tessera_sync.sync_row_errors WHERE run_id = '{r.run_id}'",
        )
    )
    assert errors["k04"] == "rejected: bad email" and "destination went away" in errors["k07"]
    idem_first = {row.key: row.idempotency_key for batch in dest.calls for row in batch}

    # next run re-sends exactly the rejected, unacked and unsent rows, with the same idempotency keys
    dest2 = FlakyDestination()
    r2 = run_sync(cfg, env["wh"], config_dir=env["cfg"], destination=dest2)
    resent = [row for batch in dest2.calls for row in batch]
    assert [row.key for row in resent] == ["k04", "k07", "k08", "k09", "k10"]
    assert all(row.idempotency_key == idem_first[row.key] for row in resent if row.key in idem_first)
    assert (r2.rows_planned, r2.rows_acked, r2.rows_rejected) == (5, 4, 1)


def test_csv_outbox_and_status(env: dict[str, Path]) -> None:
    (env["cfg"] / "syncs" / "things.yml").write_text(
        "name: things\nmodel: activation.sync_test__things\nprimary_key: thing_key\n"
        "destination: things_csv\nmode: upsert\nbatch_size: 100\nmapping: {id: thing_key, label: name}\n"
    )
    [loaded] = load_syncs(env["cfg"])
    assert loaded.mapping == {"id": "thing_key", "label": "name"}
    r = run_sync("things", env["wh"], config_dir=env["cfg"])
    [csv_file] = (env["outbox"] / "things_csv").glob("*.csv")
    lines = csv_file.read_text().splitlines()
    assert lines[0] == "op,key,idempotency_key,id,label"
    assert lines[1].startswith("upsert,k01,") and lines[1].endswith(",k01,name 1")
    status = sync_status("things", env["wh"], config_dir=env["cfg"])
    assert status["records_synced"] == 10 and status["last_run"]["run_id"] == r.run_id
    assert status["last_run"]["status"] == "success" and status["last_run_errors"] == []


def test_renamed_field_or_changed_type_is_a_change(env: dict[str, Path]) -> None:
    """The row hash covers the mapping and the column types, not only the values."""
    run_sync(sync(name="m1", mapping={"id": "thing_key", "label": "name"}), env["wh"], config_dir=env["cfg"])
    renamed = run_sync(
        sync(name="m1", mapping={"id": "thing_key", "title": "name"}), env["wh"], config_dir=env["cfg"]
    )
    assert (renamed.rows_changed, renamed.rows_acked) == (10, 10)
    assert (
        run_sync(
            sync(name="m1", mapping={"id": "thing_key", "title": "name"}), env["wh"], config_dir=env["cfg"]
        ).rows_planned
        == 0
    )
    sql(env["wh"], "ALTER TABLE activation.sync_test__things ALTER score TYPE VARCHAR")
    retyped = run_sync(sync(name="m2"), env["wh"], config_dir=env["cfg"])  # first run of m2: everything
    assert retyped.rows_added == 10
    sql(env["wh"], "ALTER TABLE activation.sync_test__things ALTER score TYPE DOUBLE")
    assert run_sync(sync(name="m2"), env["wh"], config_dir=env["cfg"]).rows_changed == 10


def test_md5_row_hashes_of_earlier_versions_are_migrated_without_resending(env: dict[str, Path]) -> None:
    """State written by the md5-hashing engine: unchanged rows are not re-sent, their hash is
    rewritten once; a row that changed since is sent; the idempotency keys of the state stay."""
    cfg = sync()
    run_sync(cfg, env["wh"], config_dir=env["cfg"])
    payload = (
        "CAST(to_json(struct_pack(thing_key := m.thing_key, profile_id := m.profile_id, name := m.name, "
        "score := m.score)) AS VARCHAR)"
    )
    # what the earlier engine stored: md5 of the payload JSON (and no row_hash64 column: NULL)
    sql(
        env["wh"],
        f"""UPDATE tessera_sync.sync_state AS s SET row_hash = md5({payload}), row_hash64 = NULL
            FROM activation.sync_test__things AS m WHERE m.thing_key = s.record_key""",
    )
    before = dict(sql(env["wh"], "SELECT record_key, idempotency_key FROM tessera_sync.sync_state"))
    assert all(len(h) == 32 for (h,) in sql(env["wh"], "SELECT row_hash FROM tessera_sync.sync_state"))
    sql(env["wh"], "UPDATE activation.sync_test__things SET name = 'changed' WHERE thing_key = 'k05'")
    r = run_sync(cfg, env["wh"], config_dir=env["cfg"])
    assert (r.rows_planned, r.rows_changed, r.rows_acked) == (1, 1, 1)
    hashes = dict(sql(env["wh"], "SELECT record_key, row_hash FROM tessera_sync.sync_state"))
    assert all(len(h) != 32 and int(h) >= 0 for h in hashes.values())
    assert sql(
        env["wh"], "SELECT count(*) FROM tessera_sync.sync_state WHERE row_hash64 = CAST(row_hash AS UBIGINT)"
    ) == [(10,)]
    after = dict(sql(env["wh"], "SELECT record_key, idempotency_key FROM tessera_sync.sync_state"))
    assert {k: v for k, v in after.items() if k != "k05"} == {k: v for k, v in before.items() if k != "k05"}
    assert run_sync(cfg, env["wh"], config_dir=env["cfg"]).rows_planned == 0


def test_a_duplicate_of_an_already_synced_key_is_caught(env: dict[str, Path]) -> None:
    """Only keys whose rows are not all unchanged are checked for duplicates: a second, different
    row for a synced key must still stop that key (otherwise the two versions would alternate)."""
    cfg = sync()
    run_sync(cfg, env["wh"], config_dir=env["cfg"])
    sql(env["wh"], "INSERT INTO activation.sync_test__things VALUES ('k03', 'P3', 'other version', 4.5)")
    r = run_sync(cfg, env["wh"], config_dir=env["cfg"])
    assert (r.status, r.rows_planned, r.rows_invalid) == ("partial", 0, 2)
    errors = sql(
        env["wh"], f"SELECT record_key, error FROM tessera_sync.sync_row_errors WHERE run_id = '{r.run_id}'"
    )
    assert errors == [("k03", errors[0][1])] and "not unique" in errors[0][1]
    # mirror mode: a duplicated key is still present in the model, so it is not deleted either
    mirror = sync(name="things_mirror", mode="mirror")
    sql(env["wh"], "DELETE FROM activation.sync_test__things WHERE name = 'other version'")
    run_sync(mirror, env["wh"], config_dir=env["cfg"])
    sql(env["wh"], "INSERT INTO activation.sync_test__things VALUES ('k03', 'P3', 'other version', 4.5)")
    r = run_sync(mirror, env["wh"], config_dir=env["cfg"])
    assert (r.rows_planned, r.rows_deleted, r.rows_invalid) == (0, 0, 2)


class _Unreachable(Destination):
    """Fails every batch, recording what it was handed (the rows stay in flight, uncertain)."""

    type = "test"

    def __init__(self, uses_previous: bool) -> None:
        super().__init__("unreachable")
        self.uses_previous = uses_previous
        self.fail = True
        self.seen: list[RowOp] = []

    def send_batch(self, sync_name: str, batch_id: str, rows: list[RowOp]) -> BatchResult:
        self.seen += rows
        return BatchResult.failed("connection dropped") if self.fail else BatchResult.all_acked(rows)


@pytest.mark.parametrize("uses_previous", [True, False])
def test_previous_fields_of_a_row_never_acknowledged(env: dict[str, Path], uses_previous: bool) -> None:
    """A first send whose fate is unknown: on the next run a destination that reads ``previous``
    gets the fields it may hold; the others do not make the engine keep them."""
    cfg = sync(batch_size=100)
    dest = _Unreachable(uses_previous)
    assert run_sync(cfg, env["wh"], config_dir=env["cfg"], destination=dest).rows_acked == 0
    kept = sql(env["wh"], "SELECT count(payload_json) FROM tessera_sync.sync_inflight")
    assert kept == [(10 if uses_previous else 0,)]
    sql(env["wh"], "UPDATE activation.sync_test__things SET name = 'changed' WHERE thing_key = 'k02'")
    dest.fail, dest.seen = False, []
    r = run_sync(cfg, env["wh"], config_dir=env["cfg"], destination=dest)
    assert (r.status, r.rows_acked) == ("success", 10)
    k02 = next(row for row in dest.seen if row.key == "k02")
    assert k02.fields["name"] == "changed"
    assert k02.previous == (
        {"thing_key": "k02", "profile_id": "P2", "name": "name 2", "score": 3.0} if uses_previous else None
    )
    assert sql(env["wh"], "SELECT count(*) FROM tessera_sync.sync_inflight") == [(0,)]
