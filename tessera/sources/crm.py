"""CRM contacts from the CRM's REST API via dlt's declarative ``rest_api`` source -> raw.crm_contacts.

``GET {base_url}/contacts?page_size=&updated_since=`` with a bearer token (env ``TESSERA_CRM_TOKEN``,
default ``tessera-demo-token``), following ``links.next`` until it is null. Incremental on
``updated_at``: each run asks only for contacts updated since the last loaded ``updated_at``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from dlt.sources.rest_api import rest_api_resources

from tessera.sources.accounting import RunAccounting
from tessera.sources.base import DEFAULT_SCHEMA_CONTRACT, attach_validation
from tessera.sources.contract import CRM_CONTACTS
from tessera.sources.validation import parse_timestamp

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_z(value: Any) -> str:
    """Cursor value -> the ISO 8601 UTC text the API expects in ``updated_since``."""
    return parse_timestamp(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


def crm_token(config: dict[str, Any]) -> str:
    env = config.get("token_env", "TESSERA_CRM_TOKEN")
    return os.environ.get(env) or config.get("default_token") or "tessera-demo-token"


def crm_rest_config(config: dict[str, Any]) -> dict[str, Any]:
    base_url = (config.get("base_url") or os.environ.get("TESSERA_CRM_URL") or "").rstrip("/")
    if not base_url:
        raise ValueError("crm: base_url is not configured (set TESSERA_CRM_URL)")
    spec = CRM_CONTACTS
    return {
        "client": {
            "base_url": base_url + "/",
            "auth": {"type": "bearer", "token": crm_token(config)},
            "paginator": {"type": "json_link", "next_url_path": "links.next"},
        },
        "resources": [
            {
                "name": spec.source_table,
                "table_name": spec.table,
                "primary_key": spec.primary_key,
                "write_disposition": "merge",
                "columns": spec.column_hints(),
                "schema_contract": DEFAULT_SCHEMA_CONTRACT,
                "endpoint": {
                    "path": config.get("endpoint", "contacts"),
                    "data_selector": "data",
                    "params": {
                        "page_size": int(config.get("page_size", 500)),
                        "updated_since": {
                            "type": "incremental",
                            "cursor_path": spec.cursor,
                            "initial_value": EPOCH,
                            "on_cursor_value_missing": "include",
                            "convert": iso_z,
                        },
                    },
                },
            }
        ],
    }


def crm_source(config: dict[str, Any], acct: RunAccounting) -> list[Any]:
    (resource,) = rest_api_resources(crm_rest_config(config))
    return [attach_validation(resource, CRM_CONTACTS, acct)]
