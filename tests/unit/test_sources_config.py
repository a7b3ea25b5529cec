"""config/sources.yml: every source is configured, ${VARS} expand, and the public API is there."""

from tessera.sources import SOURCE_NAMES
from tessera.sources.config import expand, load_sources_config
from tessera.sources.crm import crm_rest_config, iso_z


def test_every_source_is_configured(monkeypatch, tmp_path):
    monkeypatch.setenv("TESSERA_DEMO_DIR", str(tmp_path))
    config = load_sources_config()
    assert set(config) == set(SOURCE_NAMES)
    assert config["shop"]["path"] == f"{tmp_path}/shop/shop.sqlite"
    assert config["events"]["path"] == f"{tmp_path}/events"


def test_expand_defaults(monkeypatch):
    monkeypatch.delenv("TESSERA_CRM_URL", raising=False)
    assert expand("${TESSERA_CRM_URL:-http://x:1}") == "http://x:1"
    monkeypatch.setenv("TESSERA_CRM_URL", "http://crm")
    assert expand({"a": ["${TESSERA_CRM_URL}"]}) == {"a": ["http://crm"]}


def test_crm_rest_config(monkeypatch):
    monkeypatch.setenv("TESSERA_CRM_TOKEN", "secret")
    config = crm_rest_config({"base_url": "http://crm/", "token_env": "TESSERA_CRM_TOKEN", "page_size": 50})
    assert config["client"]["auth"] == {"type": "bearer", "token": "secret"}
    assert config["client"]["paginator"] == {"type": "json_link", "next_url_path": "links.next"}
    params = config["resources"][0]["endpoint"]["params"]
    assert params["page_size"] == 50 and params["updated_since"]["cursor_path"] == "updated_at"
    assert iso_z("2026-11-20T15:00:00+01:00") == "2026-11-20T14:00:00Z"
