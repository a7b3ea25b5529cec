"""The demo company's CRM: a small REST API over ``crm/contacts.json``.

``GET /contacts?page=1&page_size=500&updated_since=<ISO>`` with ``Authorization: Bearer <token>``
returns ``{"data": [...], "meta": {"page", "page_size", "total"}, "links": {"next": url|null}}``.
Contacts are ordered by ``(updated_at, id)``, so paging is stable. The token comes from
``TESSERA_CRM_TOKEN`` (default ``tessera-demo-token``). ``GET /health`` needs no token.

Run it by hand with ``python -m tessera.demo.crm_server --contacts PATH --port 8765``; the demo
uses :func:`serve_in_background`.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import Response

DEFAULT_TOKEN = "tessera-demo-token"
DEFAULT_PAGE_SIZE = 500
MAX_PAGE_SIZE = 1000


def crm_token() -> str:
    return os.environ.get("TESSERA_CRM_TOKEN") or DEFAULT_TOKEN


def _normalize_since(value: str) -> str:
    """Parse an ISO 8601 date or timestamp and render it like the contacts' ``updated_at``."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sort_key(contact: dict[str, Any]) -> tuple[str, str]:
    return (contact.get("updated_at") or "", contact.get("id") or "")


def _json(payload: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status_code=status_code, media_type="application/json",
                    headers=headers)


def create_app(contacts_path: str | Path, token: str | None = None) -> Any:
    """A FastAPI app serving the contacts in ``contacts_path`` (a JSON array)."""
    contacts: list[dict[str, Any]] = orjson.loads(Path(contacts_path).read_bytes())
    contacts.sort(key=_sort_key)
    updated = [c.get("updated_at") or "" for c in contacts]
    expected = token if token is not None else crm_token()

    app = FastAPI(title="Tessera demo CRM", version="1.0", docs_url=None, redoc_url=None)

    @app.get("/health")
    def health() -> Response:
        return _json({"status": "ok", "contacts": len(contacts)})

    @app.get("/contacts")
    def list_contacts(
        request: Request,
        page: int = Query(1, ge=1),
        page_size: int = Query(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE),
        updated_since: str | None = None,
    ) -> Response:
        auth = request.headers.get("authorization", "")
        scheme, _, given = auth.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip(), expected):
            return _json({"detail": "missing or invalid bearer token"}, 401,
                         headers={"WWW-Authenticate": "Bearer"})
        start = 0
        if updated_since:
            try:
                since = _normalize_since(updated_since)
            except ValueError as exc:
                raise HTTPException(422, f"updated_since is not an ISO 8601 timestamp: {updated_since!r}") from exc
            start = bisect.bisect_left(updated, since)
        total = len(contacts) - start
        lo = start + (page - 1) * page_size
        hi = min(lo + page_size, len(contacts))
        data = contacts[lo:hi] if lo < len(contacts) else []
        next_url = None
        if page * page_size < total:
            next_url = str(request.url.include_query_params(page=page + 1, page_size=page_size))
        return _json({"data": data, "meta": {"page": page, "page_size": page_size, "total": total},
                      "links": {"next": next_url}})

    return app


@contextlib.contextmanager
def serve_in_background(contacts_path: str | Path, host: str = "127.0.0.1", port: int = 0,
                        token: str | None = None, timeout: float = 10.0) -> Iterator[str]:
    """Run the CRM API in a background thread; yields its base URL and stops it on exit."""
    import uvicorn

    app = create_app(contacts_path, token=token)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="tessera-crm",
                              daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the CRM server failed to start")
            if time.monotonic() > deadline:
                raise TimeoutError("the CRM server did not start in time")
            time.sleep(0.01)
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=timeout)
        sock.close()


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Serve the demo CRM contacts over REST.")
    parser.add_argument("--contacts", required=True, help="path to crm/contacts.json")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    uvicorn.run(create_app(args.contacts), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
