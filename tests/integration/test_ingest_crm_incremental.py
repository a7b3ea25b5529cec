"""The CRM source against the demo CRM server: paging via links.next, bearer token, and
incremental updated_since on the next run."""

import json

import duckdb
import pytest

from tessera.demo.crm_server import serve_in_background
from tessera.sources import run_source


def _contact(i, updated_at):
    return {"id": f"CRM-{i:07d}", "full_name": f"P {i}", "first_name": "P", "last_name": str(i),
            "email": f"p{i}@example.com", "phone": None, "company": None, "job_title": None,
            "customer_id": None, "lifecycle_stage": "lead", "created_at": "2025-01-01T00:00:00Z",
            "updated_at": updated_at}


def test_crm_pages_and_increments(tmp_path, monkeypatch):
    contacts_path = tmp_path / "contacts.json"
    contacts = [_contact(i, f"2026-10-{1 + i % 20:02d}T00:00:00Z") for i in range(1, 26)]
    contacts_path.write_text(json.dumps(contacts))
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TESSERA_WAREHOUSE", str(tmp_path / "data" / "w.duckdb"))
    monkeypatch.setenv("TESSERA_DEMO_DIR", str(tmp_path))
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "sources.yml").write_text(
        "sources:\n  crm:\n    kind: rest_api\n    base_url: ${TESSERA_CRM_URL}\n"
        "    token_env: TESSERA_CRM_TOKEN\n    page_size: 10\n")
    monkeypatch.setenv("TESSERA_CONFIG_DIR", str(config_dir))

    with serve_in_background(contacts_path) as url:
        monkeypatch.setenv("TESSERA_CRM_URL", url)
        first = run_source("crm")
    assert first.tables["crm_contacts"].rows_loaded == 25  # three pages of 10

    contacts[0]["updated_at"] = "2026-11-05T00:00:00Z"
    contacts[0]["lifecycle_stage"] = "customer"
    contacts.append(_contact(99, "2026-11-06T00:00:00Z"))
    contacts_path.write_text(json.dumps(contacts))
    with serve_in_background(contacts_path) as url:
        monkeypatch.setenv("TESSERA_CRM_URL", url)
        second = run_source("crm")
        third = run_source("crm")
    assert (second.tables["crm_contacts"].rows_read, second.tables["crm_contacts"].rows_loaded) == (2, 2)
    assert third.tables["crm_contacts"].rows_read == 0
    with duckdb.connect(str(tmp_path / "data" / "w.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from raw.crm_contacts").fetchall() == [(26,)]
        assert con.execute(
            "select lifecycle_stage from raw.crm_contacts where id = 'CRM-0000001'").fetchall() == [("customer",)]


def test_crm_rejects_a_wrong_token(tmp_path, monkeypatch):
    contacts_path = tmp_path / "contacts.json"
    contacts_path.write_text(json.dumps([_contact(1, "2026-10-01T00:00:00Z")]))
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TESSERA_WAREHOUSE", str(tmp_path / "data" / "w.duckdb"))
    monkeypatch.setenv("TESSERA_DEMO_DIR", str(tmp_path))
    monkeypatch.setenv("TESSERA_CRM_TOKEN", "wrong")
    with serve_in_background(contacts_path, token="right") as url:
        monkeypatch.setenv("TESSERA_CRM_URL", url)
        with pytest.raises(Exception, match="401"):
            run_source("crm")
