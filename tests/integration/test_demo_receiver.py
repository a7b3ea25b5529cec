"""The demo webhook receiver, over real HTTP on 127.0.0.1: stores each batch once, checks signatures."""

import json

import httpx

from tessera.activate.destinations.webhook import sign
from tessera.httpserver import serve_app_in_background
from tessera.receiver import create_receiver_app


def _batch(key):
    return {"sync": "crm_profiles", "batch_id": key, "rows": [
        {"op": "upsert", "key": "p1", "fields": {"email": "a@x.com"}},
        {"op": "delete", "key": "p2", "fields": {}},
    ]}


def test_receiver_stores_a_batch_once_per_idempotency_key(tmp_path):
    with serve_app_in_background(create_receiver_app(tmp_path)) as url:
        for _ in range(2):
            r = httpx.post(f"{url}/crm", json=_batch("b1"), headers={"Idempotency-Key": "b1"})
            assert r.status_code == 200
        assert r.json()["status"] == "duplicate"
        httpx.post(f"{url}/crm", json=_batch("b2"), headers={"Idempotency-Key": "b2"}).raise_for_status()
        bad = httpx.post(f"{url}/crm", content=b"{not json", headers={"Content-Type": "application/json"})
        assert bad.status_code == 400
    lines = [json.loads(x) for x in (tmp_path / "crm_profiles.jsonl").read_text().splitlines()]
    assert len(lines) == 4
    assert {row["op"] for row in lines} == {"upsert", "delete"}


def test_receiver_rejects_bad_signatures(tmp_path):
    with serve_app_in_background(create_receiver_app(tmp_path, secret="s3cret")) as url:
        body = json.dumps(_batch("b1")).encode()
        unsigned = httpx.post(f"{url}/crm", content=body)
        assert unsigned.status_code == 401
        ts = "1764000000"
        signed = httpx.post(f"{url}/crm", content=body, headers={
            "X-Tessera-Timestamp": ts, "X-Tessera-Signature": sign("s3cret", ts, body), "Idempotency-Key": "b1"})
        assert signed.status_code == 200
