"""Fault injection: a real HTTP server on 127.0.0.1 that fails at random, and a sync process
(`tessera sync run`) killed with SIGKILL and SIGTERM at random points, then run again.

Asserted after every kill and at the end:

- no row is marked synced (``sync_state`` or the ack journal) unless the server acknowledged it;
- a given row version always travels with the same idempotency key, across retries and runs;
- in the end every current model row is delivered with its current content, and every removed
  row that Tessera had delivered is deleted.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pytest

ROWS = 2000
BATCH = 50
FAULTS = {  # weights per request
    "ok": 50,
    "500": 10,
    "429": 8,
    "503": 4,
    "slow": 12,
    "drop_before": 6,  # connection closed before the batch is stored
    "drop_after": 10,  # stored, but the connection is closed before the 2xx: the ack is lost
}


@dataclass
class FaultServer:
    seed: int
    url: str = ""
    faults: bool = True
    force: str | None = None  # every request gets this behaviour
    lock: threading.Lock = field(default_factory=threading.Lock)
    stored_batches: set[str] = field(default_factory=set)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    acked: set[str] = field(default_factory=set)  # row idempotency keys whose 2xx was written
    seen: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        # every kind of fault shows up early, whatever the seed; then at random
        self.script = ["drop_after", "ok", "429", "500", "drop_before", "ok", "503", "slow", "drop_after"]

    def pick(self) -> str:
        with self.lock:
            if self.force:
                fault = self.force
            elif self.faults and self.script:
                fault = self.script.pop(0)
            elif self.faults:
                fault = self.rng.choices(list(FAULTS), weights=list(FAULTS.values()))[0]
            else:
                fault = "ok"
            self.seen[fault] = self.seen.get(fault, 0) + 1
            return fault

    def store(self, idem: str, rows: list[dict[str, Any]]) -> None:
        with self.lock:
            if idem not in self.stored_batches:  # an idempotent API stores a batch once per key
                self.stored_batches.add(idem)
                self.deliveries.extend(rows)


@pytest.fixture()
def server() -> Iterator[FaultServer]:
    srv = FaultServer(seed=int(os.environ.get("TESSERA_FAULT_SEED", "20261120")))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _drop(self) -> None:
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.close_connection = True

        def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.loads(raw)
            idem = self.headers["Idempotency-Key"]
            fault = srv.pick()
            if fault == "drop_before":
                return self._drop()
            if fault == "500":
                return self._reply(500, {"error": "injected"})
            if fault in ("429", "503"):
                return self._reply(int(fault), {"error": "slow down"}, {"Retry-After": "1"})
            if fault == "slow":
                time.sleep(0.1)
            srv.store(idem, body["rows"])
            if fault == "drop_after":
                return self._drop()
            self._reply(200, {"ok": True})
            with srv.lock:
                srv.acked.update(row["idempotency_key"] for row in body["rows"])

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    srv.url = f"http://127.0.0.1:{httpd.server_address[1]}/bulk"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield srv
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(params=[1, 4], ids=["one-batch-at-a-time", "4-batches-in-flight"])
def project(tmp_path: Path, server: FaultServer, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The sync under test, once sending batches one after the other and once with 4 in flight
    (``concurrency``): the guarantees must hold either way."""
    cfg = tmp_path / "config"
    (cfg / "syncs").mkdir(parents=True)
    (cfg / "destinations.yml").write_text(
        "destinations:\n"
        "  flaky:\n"
        "    type: webhook\n"
        "    url_env: FAULT_URL\n"
        "    timeout: 1\n"
        "    max_retries: 4\n"
        "    backoff_initial: 0.01\n"
        "    backoff_max: 0.05\n"
        "    max_retry_after: 0.05\n"  # the server asks for 1 s; capped to keep the test fast
    )
    (cfg / "syncs" / "things.yml").write_text(
        "model: activation.sync_fault__things\n"
        "primary_key: thing_key\n"
        "destination: flaky\n"
        "mode: mirror\n"
        f"batch_size: {BATCH}\n"
        "retry_budget: 1000\n"
        f"concurrency: {request.param}\n"
    )
    wh = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(wh))
    con.execute("CREATE SCHEMA activation")
    con.execute(
        f"CREATE TABLE activation.sync_fault__things AS SELECT 'k' || lpad(i::VARCHAR, 5, '0') AS thing_key, "
        f"'name ' || i AS name, 1 AS version FROM range(1, {ROWS + 1}) t(i)"
    )
    con.close()
    env = {
        **os.environ,
        "TESSERA_CONFIG_DIR": str(cfg),
        "TESSERA_WAREHOUSE": str(wh),
        "TESSERA_DATA_DIR": str(tmp_path / "data"),
        "FAULT_URL": server.url,
    }
    return {"wh": wh, "env": env}


def start(project: dict[str, Any]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tessera.cli", "sync", "run", "things"],
        env=project["env"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for_requests(server: FaultServer, before: int, proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """Until the new process has sent its first request (or exited)."""
    end = time.monotonic() + timeout
    while sum(server.seen.values()) == before and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.01)


def query(wh: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(wh))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def marked_synced(wh: Path) -> list[tuple[str, str, str]]:
    """(record_key, op, idempotency_key) of everything recorded as acknowledged, journal included."""
    return query(
        wh,
        """SELECT record_key, op, idempotency_key FROM tessera_sync.sync_state WHERE sync_name = 'things'
           UNION ALL
           SELECT record_key, op, idempotency_key FROM tessera_sync.sync_acks WHERE sync_name = 'things'""",
    )


def assert_nothing_synced_without_ack(wh: Path, server: FaultServer) -> None:
    synced = marked_synced(wh)
    with server.lock:
        unacked = [row for row in synced if row[2] not in server.acked]
    assert not unacked, f"{len(unacked)} row(s) marked synced without an acknowledgement: {unacked[:5]}"


def mutate(wh: Path, round_no: int) -> None:
    con = duckdb.connect(str(wh))
    try:
        t = "activation.sync_fault__things"
        con.execute(f"UPDATE {t} SET version = version + 1, name = name || '*' WHERE hash(thing_key || ?) % 7 = 0", [round_no])
        con.execute(f"DELETE FROM {t} WHERE hash(thing_key || ?) % 23 = 0", [round_no])
        con.execute(
            f"INSERT INTO {t} SELECT 'n{round_no}-' || i, 'new ' || i, 1 FROM range(0, 40) t(i)"
        )
    finally:
        con.close()


def test_random_faults_and_kills_lose_nothing_and_duplicate_nothing(
    project: dict[str, Any], server: FaultServer
) -> None:
    wh = project["wh"]
    rng = random.Random(7)
    kills = {"SIGKILL": 0, "SIGTERM": 0, "finished": 0}
    deadline = time.monotonic() + 60
    for round_no in range(8):
        if round_no in (3, 6):
            mutate(wh, round_no)
        before = sum(server.seen.values())
        proc = start(project)
        wait_for_requests(server, before, proc)
        time.sleep(rng.uniform(0.0, 0.8))  # kill somewhere in the sending
        sig = signal.SIGKILL if round_no % 2 == 0 else signal.SIGTERM
        if proc.poll() is None:
            proc.send_signal(sig)
            kills[sig.name] += 1
        else:
            kills["finished"] += 1
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("the sync did not stop within 10 s of SIGTERM")
        if sig == signal.SIGTERM:
            # 143: stopped gracefully; -15: the signal arrived during start-up, before the handler
            # was installed (an abrupt stop, like SIGKILL); 0/3: it had finished already
            assert code in (0, 3, 143, -15), proc.stderr.read().decode()[-2000:] if proc.stderr else code
        assert_nothing_synced_without_ack(wh, server)
        assert time.monotonic() < deadline
    assert kills["SIGKILL"] + kills["SIGTERM"] >= 4, kills
    assert server.seen.get("drop_after") and server.seen.get("429") and server.seen.get("500"), server.seen
    interrupted = query(wh, "SELECT count(*) FROM tessera_sync.sync_runs WHERE status = 'interrupted'")[0][0]
    assert interrupted >= 1  # SIGTERM runs end 'interrupted'; SIGKILLed ones are marked so by the next run

    # The destination calms down: runs until success (still allowed to be partial if the budget ran out).
    server.faults = False
    for _ in range(3):
        proc = start(project)
        assert proc.wait(timeout=60) in (0, 3)
        if query(wh, "SELECT status FROM tessera_sync.sync_runs ORDER BY started_at DESC LIMIT 1")[0][0] == "success":
            break
    else:
        pytest.fail("no successful run once the faults stopped")
    assert_nothing_synced_without_ack(wh, server)

    # Nothing is left to send: a further run sends 0 rows.
    proc = start(project)
    assert proc.wait(timeout=30) == 0
    last = query(wh, "SELECT rows_planned, rows_sent FROM tessera_sync.sync_runs ORDER BY started_at DESC LIMIT 1")
    assert last == [(0, 0)]

    # Every current model row was delivered with its current content ...
    model = {
        key: {"thing_key": key, "name": name, "version": version}
        for key, name, version in query(wh, "SELECT thing_key, name, version FROM activation.sync_fault__things")
    }
    last_delivery: dict[str, dict[str, Any]] = {}
    versions: dict[tuple[str, str], set[str]] = {}
    contents: dict[str, str] = {}
    for row in server.deliveries:
        last_delivery[row["key"]] = row
        content = json.dumps(row["fields"], sort_keys=True) + row["op"]
        versions.setdefault((row["key"], content), set()).add(row["idempotency_key"])
        assert contents.setdefault(row["idempotency_key"], content) == content  # one key, one content
    missing = [k for k, fields in model.items() if last_delivery.get(k, {}).get("fields") != fields]
    assert not missing, f"{len(missing)} model rows not delivered in their current state: {missing[:5]}"
    # ... the same row version always carried the same idempotency key (retries, crashes, reruns) ...
    assert all(len(iks) == 1 for iks in versions.values())
    # ... and every row removed from the model was deleted at the destination.
    removed = {k for k in last_delivery if k not in model}
    assert removed, "the mutations removed rows"
    assert all(last_delivery[k]["op"] == "delete" for k in removed)
    state = dict(query(wh, "SELECT record_key, op FROM tessera_sync.sync_state WHERE sync_name = 'things'"))
    assert {k for k, op in state.items() if op != "delete"} == set(model)
    assert {k for k, op in state.items() if op == "delete"} == removed


def test_sigterm_finishes_the_batch_in_flight_and_commits(project: dict[str, Any], server: FaultServer) -> None:
    server.faults = False
    wh = project["wh"]
    server.force = "slow"  # slow every request down so that SIGTERM arrives mid-run
    proc = start(project)
    wait_for_requests(server, 0, proc)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 143
    server.force = None
    run = query(
        wh, "SELECT status, rows_acked, rows_sent, error FROM tessera_sync.sync_runs ORDER BY started_at DESC LIMIT 1"
    )[0]
    assert run[0] == "interrupted" and run[1] > 0 and run[1] == run[2], run
    synced = marked_synced(wh)
    assert len(synced) == run[1]  # exactly the acknowledged batches were committed
    assert_nothing_synced_without_ack(wh, server)
    proc = start(project)
    assert proc.wait(timeout=60) == 0
    second = query(wh, "SELECT rows_planned FROM tessera_sync.sync_runs ORDER BY started_at DESC LIMIT 1")[0][0]
    assert second == ROWS - run[1]  # the rerun sends exactly the rows that were not acknowledged
