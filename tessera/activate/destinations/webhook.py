"""Webhook destination: POST each batch as JSON, acknowledge what the server acknowledges.

Wire format and status handling are documented in docs/destinations.md. In short:

- body ``{"sync", "batch_id", "rows": [{"op", "key", "idempotency_key", "fields"}]}``;
- headers ``Idempotency-Key`` (deterministic from the rows' keys and hashes), ``X-Tessera-Sync``,
  ``X-Tessera-Batch-Id`` and, with a secret, ``X-Tessera-Timestamp`` + ``X-Tessera-Signature:
  sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``;
- 2xx acks the batch; a 2xx/207/422 body ``{"errors": [{"key", "error"}]}`` rejects just those rows;
  422 without a list rejects the whole batch;
- 429/503 wait for ``Retry-After``; 408, other 5xx, timeouts and connection errors retry with
  exponential backoff and jitter, up to ``max_retries``; other 4xx fail the batch at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from tessera.activate.destinations.base import (
    BatchResult,
    Destination,
    RowOp,
    TokenBucket,
    WireBatch,
    interruptible_sleep,
)

log = logging.getLogger(__name__)

USER_AGENT = "tessera-sync/0.1"
SIGNATURE_HEADER = "X-Tessera-Signature"
TIMESTAMP_HEADER = "X-Tessera-Timestamp"


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _BatchFailed(Exception):
    pass


def batch_idempotency_key(sync_name: str, rows: list[RowOp]) -> str:
    """Same rows (keys + row hashes) -> same key, whatever the run or batch number."""
    digest = hashlib.sha256(sync_name.encode())
    for row_key in sorted(row.idempotency_key for row in rows):
        digest.update(b"\n" + row_key.encode())
    return digest.hexdigest()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """For receivers (and tests): constant-time check of ``X-Tessera-Signature``."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def parse_retry_after(
    value: str | None, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now()).total_seconds())


class WebhookDestination(Destination):
    type = "webhook"
    max_concurrency = 32  # httpx.Client is thread-safe; the sync's ``concurrency`` decides
    accepts_wire = True

    def __init__(
        self,
        name: str,
        url: str,
        *,
        secret: str | None = None,
        timeout: float = 10.0,
        max_retries: int = 5,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        max_retry_after: float = 60.0,
        rate_limit: float | None = None,
        sleep: Callable[[float], None] = interruptible_sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(name)
        self.url = url
        self.secret = secret
        self.max_retries = max_retries
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._backoff = wait_exponential_jitter(
            initial=backoff_initial, max=backoff_max, exp_base=2, jitter=backoff_initial
        )
        self._bucket = TokenBucket(rate_limit, sleep=sleep) if rate_limit else None
        self._client = httpx.Client(
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
            limits=httpx.Limits(
                max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency
            ),
        )
        self.stats = {"requests": 0, "retries": 0, "waited_s": 0.0}
        self._stats_lock = threading.Lock()

    def describe(self) -> str:
        return f"webhook:{self.name} ({httpx.URL(self.url).copy_with(query=None)})"

    def close(self) -> None:
        self._client.close()

    # -- one request ---------------------------------------------------------------------------------
    def _count(self, name: str, value: float = 1) -> None:
        with self._stats_lock:
            self.stats[name] += value

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            wait = min(exc.retry_after, self.max_retry_after)
        else:
            wait = self._backoff(state)
        self._count("retries")
        self._count("waited_s", wait)
        return wait

    def _post(self, body: bytes, headers: dict[str, str], keys: list[str]) -> BatchResult:
        if self._bucket is not None:
            self._count("waited_s", self._bucket.acquire())
        headers = dict(headers)
        if self.secret:
            timestamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = sign(self.secret, timestamp, body)
        self._count("requests")
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except httpx.TransportError as exc:  # connect/read/write errors and timeouts
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status in (429, 503):
            raise _Retryable(f"HTTP {status}", parse_retry_after(response.headers.get("Retry-After")))
        if status == 408 or status >= 500:
            raise _Retryable(f"HTTP {status}: {response.text[:200]}")
        if 200 <= status < 300 or status == 422:
            return self._interpret(status, response, keys)
        raise _BatchFailed(f"HTTP {status}: {response.text[:300]}")

    @staticmethod
    def _interpret(status: int, response: httpx.Response, batch_keys: list[str]) -> BatchResult:
        keys = set(batch_keys)
        try:
            payload: Any = response.json() if response.content else None
        except ValueError:
            payload = None
        errors = payload.get("errors") if isinstance(payload, dict) else None
        if errors is None:
            if status == 422:
                message = payload.get("error") if isinstance(payload, dict) else None
                reason = f"HTTP 422: {message or response.text[:200] or 'unprocessable'}"
                return BatchResult(rejected={key: reason for key in keys})
            return BatchResult(acked_keys=keys)
        if not isinstance(errors, list):
            raise _BatchFailed(f"HTTP {status}: 'errors' is not a list")
        rejected: dict[str, str] = {}
        for entry in errors:
            key = str(entry.get("key")) if isinstance(entry, dict) and entry.get("key") is not None else None
            if key is None or key not in keys:
                # We cannot tell which row this error belongs to: acknowledge nothing rather than guess.
                raise _BatchFailed(f"HTTP {status}: error entry for unknown key: {entry!r}"[:300])
            rejected[key] = str(entry.get("error") or entry.get("message") or "rejected")
        return BatchResult(acked_keys=keys - rejected.keys(), rejected=rejected)

    # -- the interface -------------------------------------------------------------------------------
    def send_batch(self, sync_name: str, batch_id: str, rows: list[RowOp]) -> BatchResult:
        if not rows:
            return BatchResult()
        return self.send_wire(
            sync_name,
            batch_id,
            WireBatch(
                keys=[row.key for row in rows],
                rows_json=",".join(row.wire_json() for row in rows),
                idempotency_key=batch_idempotency_key(sync_name, rows),
            ),
        )

    def send_wire(self, sync_name: str, batch_id: str, batch: WireBatch) -> BatchResult:
        if not batch.keys:
            return BatchResult()
        body = (
            f'{{"sync":{json.dumps(sync_name)},"batch_id":{json.dumps(batch_id)},"rows":[{batch.rows_json}]}}'
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": batch.idempotency_key,
            "X-Tessera-Sync": sync_name,
            "X-Tessera-Batch-Id": batch_id,
        }
        budget_hit = False

        def budget_stop(state: RetryCallState) -> bool:
            """Stop retrying when the run's retry budget (shared by all batches) is spent."""
            nonlocal budget_hit
            if self.retry_budget is None or self.retry_budget.take():
                return False
            budget_hit = True
            return True

        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1) | budget_stop,
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(self._post, body, headers, batch.keys)
        except _Retryable as exc:
            if budget_hit:
                return BatchResult.failed(f"retry budget of the run exhausted: {exc}")
            return BatchResult.failed(f"gave up after {self.max_retries + 1} attempts: {exc}")
        except _BatchFailed as exc:
            return BatchResult.failed(str(exc))
