"""The PostgreSQL destination against the machine's real PostgreSQL (TESSERA_TEST_PG_DSN)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.conftest import service_required

psycopg = pytest.importorskip("psycopg")

DSN = os.environ.get("TESSERA_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture()
def pg() -> Iterator[Any]:
    try:
        conn = psycopg.connect(DSN, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as exc:
        if service_required():
            pytest.fail(f"PostgreSQL at {DSN} is required under CI=true: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {DSN} (set TESSERA_TEST_PG_DSN): {exc}")
    yield conn
    conn.close()


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg: Any) -> Iterator[dict[str, Any]]:
    table = f"tessera_test_crm_{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TEST_PG_DSN", DSN)
    cfg = tmp_path / "config"
    (cfg / "syncs").mkdir(parents=True)
    (cfg / "destinations.yml").write_text(
        "destinations:\n"
        "  crm_table:\n"
        "    type: postgres\n"
        "    dsn_env: TEST_PG_DSN\n"
        f"    table: public.{table}\n"
        "    key_column: external_id\n"
    )
    pg.execute(
        f"CREATE TABLE public.{table} (external_id text PRIMARY KEY, email text, "
        "lifetime_value double precision CHECK (lifetime_value >= 0), segments jsonb)"
    )
    pg.execute(f"INSERT INTO public.{table} VALUES ('SOMEONE-ELSE', 'x@example.com', 1, null)")
    wh = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(wh))
    con.execute("CREATE SCHEMA activation")
    con.execute(
        "CREATE TABLE activation.sync_crm__profiles AS SELECT 'P' || lpad(i::VARCHAR, 3, '0') AS profile_id, "
        "'p' || i || '@example.com' AS email, i * 10.0 AS lifetime_value, ['vip', 'seg' || i] AS segments "
        "FROM range(1, 26) t(i)"
    )
    con.close()
    yield {"cfg": cfg, "wh": wh, "pg": pg, "table": table}
    pg.execute(f"DROP TABLE IF EXISTS public.{table}")


def sync(mode: str = "mirror") -> Any:
    from tessera.activate import SyncConfig

    return SyncConfig.model_validate(
        {
            "name": "crm_table_sync",
            "model": "activation.sync_crm__profiles",
            "primary_key": "profile_id",
            "destination": "crm_table",
            "mode": mode,
            "batch_size": 10,
            "mapping": {"email": "email", "lifetime_value": "lifetime_value", "segments": "segments"},
        }
    )


def rows(env: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    cur = env["pg"].execute(f"SELECT external_id, email, lifetime_value, segments FROM public.{env['table']}")
    return {r[0]: r[1:] for r in cur.fetchall()}


def model(env: dict[str, Any], sql: str) -> None:
    con = duckdb.connect(str(env["wh"]))
    con.execute(sql)
    con.close()


def test_upsert_update_and_delete_against_real_postgres(env: dict[str, Any]) -> None:
    from tessera.activate import run_sync

    r1 = run_sync(sync(), env["wh"], config_dir=env["cfg"])
    assert (r1.status, r1.rows_acked, r1.batches) == ("success", 25, 3)
    table = rows(env)
    assert len(table) == 26 and table["P001"] == ("p1@example.com", 10.0, ["vip", "seg1"])

    model(env, "UPDATE activation.sync_crm__profiles SET email = 'new@example.com' WHERE profile_id = 'P002'")
    model(env, "DELETE FROM activation.sync_crm__profiles WHERE profile_id IN ('P003', 'P004')")
    r2 = run_sync(sync(), env["wh"], config_dir=env["cfg"])
    assert (r2.status, r2.rows_changed, r2.rows_deleted, r2.rows_acked) == ("success", 1, 2, 3)
    table = rows(env)
    assert table["P002"][0] == "new@example.com"
    assert "P003" not in table and "P004" not in table
    assert "SOMEONE-ELSE" in table  # never sent by Tessera, never deleted by it

    r3 = run_sync(sync(), env["wh"], config_dir=env["cfg"])
    assert (r3.status, r3.rows_sent) == ("success", 0)


def test_bad_rows_are_rejected_alone_and_the_rest_committed(env: dict[str, Any]) -> None:
    from tessera.activate import run_sync

    model(env, "UPDATE activation.sync_crm__profiles SET lifetime_value = -1 WHERE profile_id IN ('P005', 'P017')")
    r = run_sync(sync(mode="upsert"), env["wh"], config_dir=env["cfg"])
    assert (r.status, r.rows_acked, r.rows_rejected) == ("partial", 23, 2)
    table = rows(env)
    assert "P005" not in table and "P017" not in table and "P006" in table and len(table) == 24
    con = duckdb.connect(str(env["wh"]))
    errors = con.execute("SELECT record_key, error FROM tessera_sync.sync_row_errors ORDER BY 1").fetchall()
    con.close()
    assert [k for k, _ in errors] == ["P005", "P017"] and "check constraint" in errors[0][1]


def test_update_mode_rejects_unknown_records(env: dict[str, Any]) -> None:
    from tessera.activate import run_sync

    env["pg"].execute(f"INSERT INTO public.{env['table']} (external_id, email) VALUES ('P001', 'old@example.com')")
    r = run_sync(sync(mode="update"), env["wh"], config_dir=env["cfg"])
    assert (r.rows_acked, r.rows_rejected) == (1, 24)
    assert rows(env)["P001"][0] == "p1@example.com"


def test_unreachable_postgres_leaves_rows_unsynced(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from tessera.activate import run_sync

    monkeypatch.setenv("TEST_PG_DSN", "postgresql://postgres@127.0.0.1:1/test?connect_timeout=1")
    r = run_sync(sync(), env["wh"], config_dir=env["cfg"])
    assert (r.status, r.rows_acked) == ("partial", 0)
    con = duckdb.connect(str(env["wh"]))
    assert con.execute("SELECT count(*) FROM tessera_sync.sync_state").fetchone() == (0,)
    con.close()
