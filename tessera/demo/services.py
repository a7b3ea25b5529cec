"""What `tessera demo run` needs around the graph: the demo data and the demo's local services.

The demo company's CRM is a REST API and its CRM sync target is a webhook, so the demo starts a
local CRM server and a local webhook receiver on 127.0.0.1, points the configuration at them
through the environment, and stops both when the run ends.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from tessera import paths


def _manifest_params(manifest: dict[str, Any]) -> tuple[int | None, int | None]:
    params = manifest.get("parameters") or manifest
    return params.get("customers"), params.get("seed")


def ensure_demo_data(customers: int, seed: int, regenerate: bool = False, console=None) -> dict[str, Any]:
    """Generate the demo data unless the same data set (customers, seed) is already there."""
    from tessera.demo.generator import generate

    out = paths.demo_dir()
    manifest_path = out / "manifest.json"
    if manifest_path.exists() and not regenerate:
        manifest = json.loads(manifest_path.read_text())
        if _manifest_params(manifest) == (customers, seed):
            if console:
                console.print(f"using the demo data in {out} ({customers:,} customers, seed {seed})")
            return _with_timestamp(manifest)
    if console:
        console.print(f"generating demo data for {customers:,} customers (seed {seed}) in {out} ...")
    manifest = generate(customers=customers, seed=seed, out=out, as_of=None)
    return _with_timestamp(manifest)


def _with_timestamp(manifest: dict[str, Any]) -> dict[str, Any]:
    """The as-of time for a run on this data: the moment the generated history ends."""
    if manifest.get("history_ends_at"):
        return dict(manifest, as_of_timestamp=str(manifest["history_ends_at"]).replace("Z", "+00:00"))
    as_of = manifest.get("as_of") or (manifest.get("parameters") or {}).get("as_of")
    day = date.fromisoformat(str(as_of)[:10]) if as_of else paths.as_of_date()
    return dict(manifest, as_of_timestamp=f"{day.isoformat()}T00:00:00+00:00")


@contextmanager
def demo_services(console=None) -> Iterator[dict[str, str]]:
    """Start the demo CRM API and webhook receiver; export their URLs; stop them afterwards."""
    from tessera.demo.crm_server import create_app
    from tessera.httpserver import serve_app_in_background
    from tessera.receiver import create_receiver_app

    contacts = paths.demo_dir() / "crm" / "contacts.json"
    saved = {k: os.environ.get(k) for k in ("TESSERA_CRM_URL", "TESSERA_WEBHOOK_URL")}
    with serve_app_in_background(create_app(contacts)) as crm_url, serve_app_in_background(
        create_receiver_app(secret=os.environ.get("TESSERA_WEBHOOK_SECRET"))
    ) as receiver_url:
        os.environ["TESSERA_CRM_URL"] = crm_url
        os.environ["TESSERA_WEBHOOK_URL"] = f"{receiver_url}/crm/contacts/bulk"
        if console:
            console.print(f"demo CRM API on {crm_url}; demo webhook receiver on {receiver_url}")
        try:
            yield {"crm_url": crm_url, "webhook_url": os.environ["TESSERA_WEBHOOK_URL"]}
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
