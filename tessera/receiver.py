"""A local webhook receiver: the demo's stand-in for a CRM's bulk-upsert endpoint.

It accepts Tessera's webhook wire format (docs/destinations.md), verifies the optional HMAC
signature, acknowledges each batch once, and appends it to ``<data>/receiver/<sync>.jsonl``.
A batch re-sent with an Idempotency-Key it has already stored is acknowledged without being
stored twice, as a real idempotent API would do.

Run it on its own with ``python -m tessera.receiver --port 8766``.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tessera import paths
from tessera.activate.destinations.webhook import verify_signature


def create_receiver_app(store_dir: Path | None = None, secret: str | None = None) -> FastAPI:
    store = store_dir or (paths.data_dir() / "receiver")
    store.mkdir(parents=True, exist_ok=True)
    seen_file = store / "_idempotency_keys.txt"
    seen = set(seen_file.read_text().split()) if seen_file.exists() else set()
    lock = threading.Lock()
    app = FastAPI(title="Tessera demo webhook receiver")

    @app.get("/health")
    def health() -> dict:
        return {"ok": True}

    @app.post("/{path:path}")
    async def receive(path: str, request: Request):
        body = await request.body()
        if secret and not verify_signature(
            secret,
            request.headers.get("X-Tessera-Timestamp", ""),
            body,
            request.headers.get("X-Tessera-Signature", ""),
        ):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        try:
            payload = json.loads(body)
            rows = payload["rows"]
            sync = str(payload.get("sync") or "unknown").replace("/", "_")
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "expected {sync, batch_id, rows: [...]}"}, status_code=400)
        key = request.headers.get("Idempotency-Key") or payload.get("batch_id") or ""
        with lock:
            if key and key in seen:
                return {"status": "duplicate", "accepted": len(rows)}
            with open(store / f"{sync}.jsonl", "a", encoding="utf-8") as fh:
                for row in rows:
                    fh.write(json.dumps(row, sort_keys=True) + "\n")
            if key:
                seen.add(key)
                with open(seen_file, "a", encoding="utf-8") as fh:
                    fh.write(key + "\n")
        return {"status": "ok", "accepted": len(rows)}

    return app


def main() -> None:  # pragma: no cover
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--store", type=Path, default=None)
    args = parser.parse_args()
    uvicorn.run(create_receiver_app(args.store, os.environ.get("TESSERA_WEBHOOK_SECRET")),
                host="127.0.0.1", port=args.port)


if __name__ == "__main__":  # pragma: no cover
    main()
