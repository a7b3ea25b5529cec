"""The demo CRM REST API: auth, stable pagination, updated_since filtering, background serving."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tessera.demo.crm_server import create_app, serve_in_background

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture()
def contacts_path(tmp_path: Path) -> Path:
    contacts = []
    for i in range(1234):
        # many contacts share an updated_at, so ordering must fall back to the id
        day = 1 + (i * 7) % 28
        contacts.append({
            "id": f"CRM-{i + 1:07d}", "full_name": f"Person {i}", "first_name": "Person", "last_name": str(i),
            "email": f"p{i}@example.com", "phone": None, "company": None, "job_title": None,
            "customer_id": None, "lifecycle_stage": "lead", "created_at": "2025-01-01T00:00:00Z",
            "updated_at": f"2025-02-{day:02d}T10:00:00Z",
        })
    contacts.append(dict(contacts[0], id=None, updated_at="2025-02-03T10:00:00Z"))  # a malformed row
    path = tmp_path / "contacts.json"
    path.write_text(json.dumps(contacts[::-1]))
    return path


@pytest.fixture()
def client(contacts_path: Path) -> TestClient:
    return TestClient(create_app(contacts_path, token=TOKEN))


def _all_pages(client: TestClient, **params) -> tuple[list[dict], int]:
    rows, pages = [], 0
    url = "/contacts"
    query = {"page_size": 100, **params}
    while url:
        resp = client.get(url, params=query, headers=AUTH)
        assert resp.status_code == 200
        body = resp.json()
        rows += body["data"]
        pages += 1
        url, query = body["links"]["next"], None
        assert body["meta"]["page"] == pages
    return rows, pages


def test_pagination_returns_every_contact_exactly_once(client):
    rows, pages = _all_pages(client)
    assert len(rows) == 1235
    assert pages == 13
    ids = [r["id"] for r in rows if r["id"]]
    assert len(ids) == len(set(ids)) == 1234
    keys = [(r["updated_at"], r["id"] or "") for r in rows]
    assert keys == sorted(keys)


def test_default_and_max_page_size(client):
    body = client.get("/contacts", headers=AUTH).json()
    assert body["meta"] == {"page": 1, "page_size": 500, "total": 1235}
    assert len(body["data"]) == 500
    assert "page=2" in body["links"]["next"]
    assert client.get("/contacts", params={"page_size": 1001}, headers=AUTH).status_code == 422
    last = client.get("/contacts", params={"page_size": 1000, "page": 2}, headers=AUTH).json()
    assert len(last["data"]) == 235 and last["links"]["next"] is None
    beyond = client.get("/contacts", params={"page": 99}, headers=AUTH).json()
    assert beyond["data"] == [] and beyond["links"]["next"] is None


def test_updated_since_filters(client, contacts_path):
    contacts = json.loads(contacts_path.read_text())
    since = "2025-02-20T10:00:00Z"
    expected = {c["id"] for c in contacts if c["updated_at"] >= since}
    rows, _ = _all_pages(client, updated_since=since)
    assert {r["id"] for r in rows} == expected
    assert all(r["updated_at"] >= since for r in rows)
    # a bare date and an offset timestamp are accepted too
    rows_date, _ = _all_pages(client, updated_since="2025-02-20")
    assert len(rows_date) >= len(rows)
    rows_offset, _ = _all_pages(client, updated_since="2025-02-20T12:00:00+02:00")
    assert {r["id"] for r in rows_offset} == expected
    assert client.get("/contacts", params={"updated_since": "yesterday"}, headers=AUTH).status_code == 422


def test_requires_bearer_token(client):
    assert client.get("/contacts").status_code == 401
    assert client.get("/contacts", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/contacts", headers={"Authorization": TOKEN}).status_code == 401
    assert client.get("/health").status_code == 200


def test_token_from_environment(contacts_path, monkeypatch):
    monkeypatch.setenv("TESSERA_CRM_TOKEN", "from-env")
    c = TestClient(create_app(contacts_path))
    assert c.get("/contacts", headers={"Authorization": "Bearer from-env"}).status_code == 200
    monkeypatch.delenv("TESSERA_CRM_TOKEN")
    c = TestClient(create_app(contacts_path))
    assert c.get("/contacts", headers={"Authorization": "Bearer tessera-demo-token"}).status_code == 200


def test_serve_in_background_starts_and_stops(contacts_path):
    with serve_in_background(contacts_path, token=TOKEN) as base_url:
        assert httpx.get(f"{base_url}/health", timeout=5).json()["contacts"] == 1235
        resp = httpx.get(f"{base_url}/contacts", params={"page_size": 1000}, headers=AUTH, timeout=5)
        assert resp.status_code == 200
        nxt = resp.json()["links"]["next"]
        assert nxt.startswith(base_url)
        assert len(httpx.get(nxt, headers=AUTH, timeout=5).json()["data"]) == 235
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{base_url}/health", timeout=1)
