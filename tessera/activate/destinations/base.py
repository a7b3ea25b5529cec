"""The destination interface every sync target implements.

The engine hands a destination one batch at a time and trusts only what comes back: a row is
synced when its key is in ``BatchResult.acked_keys``; a row in ``rejected`` was refused for a
reason that is recorded and retried on the next run; any other row of the batch is unacknowledged
(in flight when the destination failed) and is re-sent on the next run with the same idempotency key.
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Self

Op = Literal["insert", "update", "upsert", "delete"]


@dataclass(frozen=True)
class RowOp:
    op: Op
    key: str
    """The record key as a string (composite keys: a JSON array of the key values)."""
    idempotency_key: str
    """Deterministic hash of (sync name, record key, row hash): the same change always has the same key."""
    fields: dict[str, Any] = field(default_factory=dict)
    """Mapped destination fields; empty for deletes."""

    def to_wire(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "key": self.key,
            "idempotency_key": self.idempotency_key,
            "fields": self.fields,
        }


@dataclass
class BatchResult:
    acked_keys: set[str] = field(default_factory=set)
    rejected: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    """Batch-level failure (e.g. retries exhausted); rows neither acked nor rejected stay unsynced."""

    @classmethod
    def all_acked(cls, rows: list[RowOp]) -> BatchResult:
        return cls(acked_keys={row.key for row in rows})

    @classmethod
    def failed(cls, error: str) -> BatchResult:
        return cls(error=error)


class DestinationNotConfigured(RuntimeError):
    """The destination lacks something only the environment can provide (e.g. its URL); skip the sync."""


class Destination(abc.ABC):
    """One configured target. Instances are created per run and closed at its end."""

    type: str = "destination"

    def __init__(self, name: str) -> None:
        self.name = name

    @abc.abstractmethod
    def send_batch(self, sync_name: str, batch_id: str, rows: list[RowOp]) -> BatchResult:
        """Deliver ``rows``; return what the destination acknowledged. Should not raise for
        delivery failures (return ``BatchResult.failed``); the engine treats exceptions the same way."""

    def close(self) -> None:
        """Release connections and files."""

    def describe(self) -> str:
        return f"{self.type}:{self.name}"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TokenBucket:
    """Thread-safe token bucket: ``rate`` tokens per second, bursts up to ``capacity``."""

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.capacity = float(capacity if capacity is not None else max(1.0, rate))
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self, tokens: float = 1.0) -> float:
        """Block until ``tokens`` are available; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= tokens:
                    self._tokens -= tokens
                    return waited
                needed = (tokens - self._tokens) / self.rate
            self._sleep(needed)
            waited += needed
