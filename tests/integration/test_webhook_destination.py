"""The webhook destination against a real HTTP server on 127.0.0.1 that records every request."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tessera.activate import SyncConfig, run_sync
from tessera.activate.destinations.webhook import verify_signature

SECRET = "s3cret-for-tests"


@dataclass
class Request:
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.raw)

    @property
    def keys(self) -> list[str]:
        return [row["key"] for row in self.body["rows"]]


Reply = tuple[int, dict[str, str], dict[str, Any] | None]


@dataclass
class Receiver:
    url: str
    requests: list[Request] = field(default_factory=list)
    script: list[Reply | Callable[[Request], Reply]] = field(default_factory=list)

    def reply(self, request: Request) -> Reply:
        if self.script:
            step = self.script.pop(0)
            return step(request) if callable(step) else step
        return 200, {}, {"ok": True}


@pytest.fixture(scope="module")
def server() -> Iterator[Receiver]:
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            request = Request({k: v for k, v in self.headers.items()}, raw)
            receiver.requests.append(request)
            status, headers, body = receiver.reply(request)
            payload = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{httpd.server_address[1]}/hooks/crm"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield receiver
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: Receiver) -> dict[str, Any]:
    server.requests.clear()
    server.script.clear()
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TEST_HOOK_URL", server.url)
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    cfg = tmp_path / "config"
    (cfg / "syncs").mkdir(parents=True)
    (cfg / "destinations.yml").write_text(
        "destinations:\n"
        "  hook:\n"
        "    type: webhook\n"
        "    url_env: TEST_HOOK_URL\n"
        "    secret_env: TEST_HOOK_SECRET\n"
        "    timeout: 2\n"
        "    max_retries: 3\n"
        "    backoff_initial: 0.01\n"
        "    backoff_max: 0.05\n"
    )
    wh = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(wh))
    con.execute("CREATE SCHEMA activation")
    con.execute(
        "CREATE TABLE activation.sync_crm__profiles AS SELECT 'P' || lpad(i::VARCHAR, 2, '0') AS profile_id, "
        "'p' || i || '@example.com' AS email, i * 10.0 AS lifetime_value, ['vip', 'seg' || i] AS segments "
        "FROM range(1, 6) t(i)"
    )
    con.close()
    return {"cfg": cfg, "wh": wh, "server": server}


def crm_sync(**kw: Any) -> SyncConfig:
    base = {
        "name": "crm_profiles",
        "model": "activation.sync_crm__profiles",
        "primary_key": "profile_id",
        "destination": "hook",
        "mode": "upsert",
        "batch_size": 3,
        "mapping": {
            "external_id": "profile_id",
            "email": "email",
            "ltv": "lifetime_value",
            "segments": "segments",
        },
    }
    return SyncConfig.model_validate({**base, **kw})


def synced_keys(wh: Path) -> list[str]:
    con = duckdb.connect(str(wh))
    try:
        return sorted(k for (k,) in con.execute("SELECT record_key FROM tessera_sync.sync_state").fetchall())
    finally:
        con.close()


def test_payload_headers_and_signature(env: dict[str, Any]) -> None:
    server: Receiver = env["server"]
    r = run_sync(crm_sync(), env["wh"], config_dir=env["cfg"])
    assert (r.status, r.rows_sent, r.rows_acked, r.batches) == ("success", 5, 5, 2)
    assert [req.keys for req in server.requests] == [["P01", "P02", "P03"], ["P04", "P05"]]
    first = server.requests[0]
    body = first.body
    assert body["sync"] == "crm_profiles" and body["batch_id"] == f"{r.run_id}-00000"
    assert body["rows"][0] == {
        "op": "upsert",
        "key": "P01",
        "idempotency_key": body["rows"][0]["idempotency_key"],
        "fields": {"external_id": "P01", "email": "p1@example.com", "ltv": 10.0, "segments": ["vip", "seg1"]},
    }
    headers = {k.lower(): v for k, v in first.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["x-tessera-sync"] == "crm_profiles"
    assert len(headers["idempotency-key"]) == 64
    assert headers["x-tessera-signature"].startswith("sha256=")
    assert verify_signature(SECRET, headers["x-tessera-timestamp"], first.raw, headers["x-tessera-signature"])
    assert not verify_signature(
        "wrong", headers["x-tessera-timestamp"], first.raw, headers["x-tessera-signature"]
    )
    assert synced_keys(env["wh"]) == ["P01", "P02", "P03", "P04", "P05"]

    # nothing changed: no request at all
    server.requests.clear()
    assert run_sync(crm_sync(), env["wh"], config_dir=env["cfg"]).rows_sent == 0
    assert server.requests == []


def test_partial_rejection_is_recorded_and_retried(env: dict[str, Any]) -> None:
    server: Receiver = env["server"]
    server.script.append((207, {}, {"errors": [{"key": "P02", "error": "invalid email"}]}))
    r = run_sync(crm_sync(), env["wh"], config_dir=env["cfg"])
    assert (r.status, r.rows_acked, r.rows_rejected, r.rows_unacked) == ("partial", 4, 1, 0)
    assert synced_keys(env["wh"]) == ["P01", "P03", "P04", "P05"]
    con = duckdb.connect(str(env["wh"]))
    errors = con.execute("SELECT record_key, error FROM tessera_sync.sync_row_errors").fetchall()
    runs = con.execute("SELECT status, rows_rejected FROM tessera_sync.sync_runs").fetchall()
    con.close()
    assert errors == [("P02", "rejected: invalid email")] and runs == [("partial", 1)]
    rejected_idem = server.requests[0].body["rows"][1]["idempotency_key"]

    server.requests.clear()
    r2 = run_sync(crm_sync(), env["wh"], config_dir=env["cfg"])
    assert (r2.status, r2.rows_sent, r2.rows_acked) == ("success", 1, 1)
    [retry] = server.requests
    assert retry.keys == ["P02"] and retry.body["rows"][0]["idempotency_key"] == rejected_idem


def test_429_retry_after_is_honoured(env: dict[str, Any]) -> None:
    server: Receiver = env["server"]
    server.script.append((429, {"Retry-After": "1"}, {"error": "slow down"}))
    started = time.monotonic()
    r = run_sync(crm_sync(batch_size=10), env["wh"], config_dir=env["cfg"])
    elapsed = time.monotonic() - started
    assert r.status == "success" and len(server.requests) == 2
    assert elapsed >= 0.95  # waited the server's Retry-After, not the 10 ms backoff
    assert server.requests[0].headers["Idempotency-Key"] == server.requests[1].headers["Idempotency-Key"]


def test_5xx_retried_then_success(env: dict[str, Any]) -> None:
    server: Receiver = env["server"]
    server.script += [(500, {}, {"error": "boom"}), (502, {}, None)]
    r = run_sync(crm_sync(batch_size=10), env["wh"], config_dir=env["cfg"])
    assert (r.status, r.rows_acked) == ("success", 5)
    assert len(server.requests) == 3
    assert len({req.headers["Idempotency-Key"] for req in server.requests}) == 1


def test_retries_exhausted_leave_rows_unsynced(env: dict[str, Any]) -> None:
    server: Receiver = env["server"]
    server.script += [(503, {}, None)] * 4  # max_retries: 3 -> 4 attempts
    r = run_sync(crm_sync(), env["wh"], config_dir=env["cfg"])
    assert (r.status, r.rows_sent, r.rows_acked, r.rows_unacked, r.rows_not_sent) == ("partial", 3, 0, 3, 2)
    assert len(server.requests) == 4 and "gave up after 4 attempts" in (r.error or "")
    assert synced_keys(env["wh"]) == []
    # the destination recovers: everything goes out on the next run
    r2 = run_sync(crm_sync(), env["wh"], config_dir=env["cfg"])
    assert (r2.status, r2.rows_acked) == ("success", 5)
    assert server.requests[0].headers["Idempotency-Key"] == server.requests[4].headers["Idempotency-Key"]


def test_client_errors_are_not_retried(env: dict[str, Any]) -> None:
    server: Receiver = env["server"]
    server.script += [(401, {}, {"error": "bad token"})]
    r = run_sync(crm_sync(), env["wh"], config_dir=env["cfg"])
    assert (r.status, r.rows_acked) == ("partial", 0) and len(server.requests) == 1
    assert "HTTP 401" in (r.error or "")
    server.requests.clear()
    server.script += [(422, {}, {"error": "schema mismatch"})]
    r2 = run_sync(crm_sync(batch_size=10), env["wh"], config_dir=env["cfg"])
    assert (r2.rows_rejected, r2.rows_acked) == (5, 0) and len(server.requests) == 1
    assert synced_keys(env["wh"]) == []


def test_unset_url_skips_and_unreachable_host_is_unacked(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_HOOK_URL")
    r = run_sync(crm_sync(), env["wh"], config_dir=env["cfg"])
    assert r.status == "skipped" and "TEST_HOOK_URL" in (r.error or "") and r.rows_planned == 5

    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("TEST_HOOK_URL", f"http://127.0.0.1:{port}/")
    r2 = run_sync(crm_sync(), env["wh"], config_dir=env["cfg"])
    assert (r2.status, r2.rows_acked, r2.rows_unacked) == ("partial", 0, 3)
    assert "ConnectError" in (r2.error or "")
    assert synced_keys(env["wh"]) == []


def test_concurrent_batches_are_the_same_batches(env: dict[str, Any]) -> None:
    """With 4 batches in flight the server gets the same batches as one at a time (the warehouse
    serializes them), each with the batch Idempotency-Key computed from its rows."""
    from tessera.activate.destinations import RowOp
    from tessera.activate.destinations.webhook import batch_idempotency_key

    server: Receiver = env["server"]
    sql = "INSERT INTO activation.sync_crm__profiles SELECT 'Q' || lpad(i::VARCHAR, 3, '0'), 'q' || i || '@example.com', i, ['x'] FROM range(1, 41) t(i)"
    con = duckdb.connect(str(env["wh"]))
    con.execute(sql)
    con.close()
    r = run_sync(crm_sync(concurrency=4), env["wh"], config_dir=env["cfg"])
    assert (r.status, r.rows_sent, r.rows_acked, r.batches) == ("success", 45, 45, 15)
    assert len(server.requests) == 15
    assert sorted(k for req in server.requests for k in req.keys) == synced_keys(env["wh"])
    assert sorted(req.body["batch_id"] for req in server.requests) == [
        f"{r.run_id}-{n:05d}" for n in range(15)
    ]
    for req in server.requests:
        rows = [
            RowOp(row["op"], row["key"], row["idempotency_key"], row["fields"]) for row in req.body["rows"]
        ]
        headers = {k.lower(): v for k, v in req.headers.items()}
        assert headers["idempotency-key"] == batch_idempotency_key("crm_profiles", rows)
        assert verify_signature(
            SECRET, headers["x-tessera-timestamp"], req.raw, headers["x-tessera-signature"]
        )
    server.requests.clear()
    assert run_sync(crm_sync(concurrency=4), env["wh"], config_dir=env["cfg"]).rows_sent == 0
    assert server.requests == []
