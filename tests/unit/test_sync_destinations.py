"""Destination building blocks: token bucket, Retry-After, idempotency keys, outbox atomicity."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tessera.activate.config import WebhookDestination as WebhookConfig
from tessera.activate.destinations import (
    DestinationNotConfigured,
    FileOutboxDestination,
    RowOp,
    TokenBucket,
    build_destination,
)
from tessera.activate.destinations.webhook import batch_idempotency_key, parse_retry_after


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_token_bucket_limits_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2, clock=clock, sleep=clock.sleep)
    for _ in range(6):
        bucket.acquire()
    # a burst of 2, then one request every 0.5 s
    assert clock.now == pytest.approx(2.0)
    assert all(s == pytest.approx(0.5) for s in clock.slept)


def test_parse_retry_after() -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    http_date = (now + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(http_date, now=lambda: now) == pytest.approx(30)


def rows(*pairs: tuple[str, str]) -> list[RowOp]:
    return [RowOp("upsert", key, idem, {"v": key}) for key, idem in pairs]


def test_batch_idempotency_key_is_deterministic() -> None:
    a = batch_idempotency_key("s", rows(("k1", "h1"), ("k2", "h2")))
    assert a == batch_idempotency_key("s", rows(("k2", "h2"), ("k1", "h1")))
    assert a != batch_idempotency_key("s", rows(("k1", "h1"), ("k2", "changed")))
    assert a != batch_idempotency_key("other", rows(("k1", "h1"), ("k2", "h2")))


def test_file_outbox_writes_atomically(tmp_path: Path) -> None:
    dest = FileOutboxDestination("box", tmp_path / "box")
    result = dest.send_batch("s", "run1-00000", rows(("k1", "h1"), ("k2", "h2")))
    assert result.acked_keys == {"k1", "k2"} and not result.rejected and result.error is None
    [written] = list((tmp_path / "box").iterdir())
    assert written.name == "s__run1-00000.jsonl"
    assert [json.loads(line)["key"] for line in written.read_text().splitlines()] == ["k1", "k2"]
    # an unwritable target acknowledges nothing and leaves no temp file
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a folder")
    bad = FileOutboxDestination("box", blocked).send_batch("s", "run1-00001", rows(("k1", "h1")))
    assert bad.acked_keys == set() and bad.error


def test_webhook_needs_its_url_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_URL_VAR", raising=False)
    with pytest.raises(DestinationNotConfigured, match="NO_SUCH_URL_VAR"):
        build_destination(WebhookConfig(name="w", url_env="NO_SUCH_URL_VAR"))
    monkeypatch.setenv("NO_SUCH_URL_VAR", "http://127.0.0.1:9/x")
    with pytest.raises(DestinationNotConfigured, match="SECRET_VAR"):
        build_destination(
            WebhookConfig(
                name="w", url_env="NO_SUCH_URL_VAR", secret_env="SECRET_VAR", require_signature=True
            )
        )
    dest = build_destination(WebhookConfig(name="w", url_env="NO_SUCH_URL_VAR"))
    assert dest.type == "webhook"
    dest.close()
