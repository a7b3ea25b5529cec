"""Redis, the web personalization store: one hash per customer, ``<key_prefix><record key>``.

An upsert replaces the whole hash (``DEL`` + ``HSET`` in one ``MULTI``/``EXEC``), so a field that
disappeared from the row does not linger; a delete removes the key. String values are stored as
they are, everything else as JSON; NULL fields are left out. Each hash also carries
``_idempotency_key`` and ``_synced_at``. The batch is acknowledged once ``EXEC`` returns; the
transaction applies all of it or nothing, and re-applying it is harmless.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import redis

from tessera.activate.destinations.base import BatchResult, Destination, RowOp


def _encode(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


class RedisDestination(Destination):
    type = "redis"

    def __init__(self, name: str, url: str, *, key_prefix: str = "tessera:", ttl_seconds: int | None = None) -> None:
        super().__init__(name)
        self.url, self.key_prefix, self.ttl_seconds = url, key_prefix, ttl_seconds
        self._client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)

    def describe(self) -> str:
        return f"redis:{self.name} ({self.key_prefix}*)"

    def redis_key(self, record_key: str) -> str:
        return f"{self.key_prefix}{record_key}"

    def send_batch(self, sync_name: str, batch_id: str, rows: list[RowOp]) -> BatchResult:
        if not rows:
            return BatchResult()
        now = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            pipe = self._client.pipeline(transaction=True)
            for row in rows:
                key = self.redis_key(row.key)
                if row.op == "delete":
                    pipe.delete(key)
                    continue
                mapping = {f: _encode(v) for f, v in row.fields.items() if v is not None}
                mapping["_idempotency_key"] = row.idempotency_key
                mapping["_synced_at"] = now
                pipe.delete(key)
                pipe.hset(key, mapping=mapping)
                if self.ttl_seconds:
                    pipe.expire(key, self.ttl_seconds)
            pipe.execute()
        except redis.RedisError as exc:
            return BatchResult.failed(f"{type(exc).__name__}: {exc}")
        return BatchResult.all_acked(rows)

    def close(self) -> None:
        self._client.close()
