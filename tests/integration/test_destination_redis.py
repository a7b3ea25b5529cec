"""The Redis destination (one hash per customer) against a real Redis (TESSERA_TEST_REDIS_URL)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.conftest import service_required

redis = pytest.importorskip("redis")

URL = os.environ.get("TESSERA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture()
def client() -> Iterator[Any]:
    c = redis.Redis.from_url(URL, socket_connect_timeout=3, decode_responses=True)
    try:
        c.ping()
    except redis.RedisError as exc:
        if service_required():
            pytest.fail(f"Redis at {URL} is required under CI=true: {exc}")
        pytest.skip(f"Redis not reachable at {URL} (set TESSERA_TEST_REDIS_URL): {exc}")
    yield c
    c.close()


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: Any) -> Iterator[dict[str, Any]]:
    prefix = f"tessera-test:{uuid.uuid4().hex[:10]}:"
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TEST_REDIS_URL", URL)
    cfg = tmp_path / "config"
    (cfg / "syncs").mkdir(parents=True)
    (cfg / "destinations.yml").write_text(
        f"destinations:\n  web_store:\n    type: redis\n    url_env: TEST_REDIS_URL\n    key_prefix: '{prefix}'\n"
    )
    wh = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(wh))
    con.execute("CREATE SCHEMA activation")
    con.execute(
        "CREATE TABLE activation.sync_web__decisions AS SELECT 'P' || i AS profile_id, 'O' || (i % 3) AS offer_id, "
        "'Headline ' || i AS headline, i * 0.5 AS score, CASE WHEN i = 2 THEN NULL ELSE 'm' END AS message "
        "FROM range(1, 13) t(i)"
    )
    con.close()
    client.set(prefix + "not-ours", "x")
    yield {"cfg": cfg, "wh": wh, "client": client, "prefix": prefix}
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)


def test_one_hash_per_customer_upserted_and_deleted(env: dict[str, Any]) -> None:
    from tessera.activate import SyncConfig, run_sync

    cfg = SyncConfig.model_validate(
        {
            "name": "web_store_sync",
            "model": "activation.sync_web__decisions",
            "primary_key": "profile_id",
            "destination": "web_store",
            "mode": "mirror",
            "batch_size": 5,
        }
    )
    c, prefix = env["client"], env["prefix"]
    r1 = run_sync(cfg, env["wh"], config_dir=env["cfg"])
    assert (r1.status, r1.rows_acked, r1.batches) == ("success", 12, 3)
    h = c.hgetall(prefix + "P1")
    assert h["offer_id"] == "O1" and h["headline"] == "Headline 1" and json.loads(h["score"]) == 0.5
    assert h["_idempotency_key"] and h["_synced_at"]
    assert "message" not in c.hgetall(prefix + "P2")  # NULL fields are left out

    con = duckdb.connect(str(env["wh"]))
    con.execute("UPDATE activation.sync_web__decisions SET offer_id = 'O9', message = NULL WHERE profile_id = 'P1'")
    con.execute("DELETE FROM activation.sync_web__decisions WHERE profile_id = 'P3'")
    con.close()
    r2 = run_sync(cfg, env["wh"], config_dir=env["cfg"])
    assert (r2.rows_changed, r2.rows_deleted, r2.rows_acked) == (1, 1, 2)
    h = c.hgetall(prefix + "P1")
    assert h["offer_id"] == "O9" and "message" not in h  # the whole hash is replaced
    assert not c.exists(prefix + "P3")
    assert c.get(prefix + "not-ours") == "x"
    assert run_sync(cfg, env["wh"], config_dir=env["cfg"]).rows_sent == 0


def test_unreachable_redis_acknowledges_nothing(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from tessera.activate import SyncConfig, run_sync

    monkeypatch.setenv("TEST_REDIS_URL", "redis://127.0.0.1:1/0")
    cfg = SyncConfig.model_validate(
        {"name": "web_store_sync", "model": "activation.sync_web__decisions", "primary_key": "profile_id",
         "destination": "web_store", "mode": "mirror"}
    )
    r = run_sync(cfg, env["wh"], config_dir=env["cfg"])
    assert (r.status, r.rows_acked) == ("partial", 0) and "ConnectionError" in (r.error or "")
