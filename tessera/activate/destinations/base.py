"""The destination interface every sync target implements.

The engine hands a destination one batch at a time and trusts only what comes back: a row is
synced when its key is in ``BatchResult.acked_keys``; a row in ``rejected`` was refused for a
reason that is recorded and retried on the next run; any other row of the batch is unacknowledged
(in flight when the destination failed) and is re-sent on the next run with the same idempotency key.
"""

from __future__ import annotations

import abc
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Self

Op = Literal["insert", "update", "upsert", "delete"]


class RowOp:
    """One row operation of a batch.

    ``fields`` is parsed lazily from ``raw_fields`` (the JSON text the warehouse produced), so
    destinations that forward JSON (webhook, file outbox) never decode and re-encode each row.
    """

    __slots__ = ("_fields", "_previous", "_previous_raw", "_raw", "_wire", "idempotency_key", "key", "op")

    def __init__(
        self,
        op: Op,
        key: str,
        idempotency_key: str,
        fields: dict[str, Any] | None = None,
        *,
        raw_fields: str | None = None,
        previous: dict[str, Any] | None = None,
        previous_raw: str | None = None,
        wire: str | None = None,
    ) -> None:
        self.op = op
        self.key = key
        """The record key as a string (composite keys: a JSON array of the key values)."""
        self.idempotency_key = idempotency_key
        """Deterministic hash of (sync name, record key, row hash): the same change always has the same key."""
        self._fields = fields
        self._raw = raw_fields
        self._previous = previous
        self._previous_raw = previous_raw
        self._wire = wire

    @property
    def previous(self) -> dict[str, Any] | None:
        """For deletes and changes: the fields last acknowledged for this key (e.g. to take an
        audience member's old hashed email out); ``None`` for new rows."""
        if self._previous is None and self._previous_raw:
            self._previous = json.loads(self._previous_raw)
        return self._previous

    @property
    def fields(self) -> dict[str, Any]:
        """Mapped destination fields; empty for deletes."""
        if self._fields is None:
            self._fields = json.loads(self._raw) if self._raw else {}
        return self._fields

    def fields_json(self) -> str:
        if self._raw is not None and self._fields is None:
            return self._raw
        return json.dumps(self.fields, separators=(",", ":"), ensure_ascii=False, default=str)

    def to_wire(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "key": self.key,
            "idempotency_key": self.idempotency_key,
            "fields": self.fields,
        }

    def wire_json(self) -> str:
        """``to_wire()`` as compact JSON, without decoding ``raw_fields`` (the engine has the
        warehouse build it)."""
        if self._wire is not None and self._fields is None:
            return self._wire
        return (
            f'{{"op":"{self.op}","key":{json.dumps(self.key, ensure_ascii=False)},'
            f'"idempotency_key":"{self.idempotency_key}","fields":{self.fields_json()}}}'
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RowOp):
            return NotImplemented
        return (self.op, self.key, self.idempotency_key, self.fields) == (
            other.op,
            other.key,
            other.idempotency_key,
            other.fields,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RowOp(op={self.op!r}, key={self.key!r}, idempotency_key={self.idempotency_key!r})"


STOP = threading.Event()
"""Set by a SIGTERM/SIGINT handler (``stop_on_signals``): the engine finishes the batch in flight,
commits it and stops; waits between retries are cut short."""


class SyncInterrupted(Exception):
    """A stop was requested while waiting; the batch in flight is not acknowledged."""


def interruptible_sleep(seconds: float) -> None:
    """``time.sleep`` that returns early, raising ``SyncInterrupted``, when a stop is requested."""
    if STOP.wait(max(0.0, seconds)):
        raise SyncInterrupted("stop requested while waiting to retry")


class RetryBudget:
    """Retries allowed in one run, shared by every batch (``None`` = unlimited); thread-safe, as
    batches in flight at the same time draw on it."""

    def __init__(self, total: int | None) -> None:
        self.total = total
        self.used = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.total is not None and self.used >= self.total:
                return False
            self.used += 1
            return True

    @property
    def exhausted(self) -> bool:
        return self.total is not None and self.used >= self.total


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


@dataclass(frozen=True)
class WireBatch:
    """A batch already in its JSON wire form, built by the warehouse in one query: the rows'
    ``{"op", "key", "idempotency_key", "fields"}`` objects joined by commas (no brackets), their
    keys in order, and the batch idempotency key (sha256 of the sync name and the sorted row keys)."""

    keys: list[str]
    rows_json: str
    idempotency_key: str


class DestinationNotConfigured(RuntimeError):
    """The destination lacks something only the environment can provide (e.g. its URL); skip the sync."""


class Destination(abc.ABC):
    """One configured target. Instances are created per run and closed at its end."""

    type: str = "destination"
    retry_budget: RetryBudget | None = None
    """Set by the engine for each run; destinations that retry take one unit per retry."""
    max_concurrency: int = 1
    """Batches the engine may have in flight at once (each ``send_*`` call then runs in its own
    worker thread, so the destination must be thread-safe); 1 = one batch at a time, in the
    calling thread."""
    accepts_wire: bool = False
    """``send_wire`` is implemented: the engine hands over batches pre-serialized to JSON."""
    uses_previous: bool = False
    """Reads ``RowOp.previous``. Then the payload of each row is kept with its in-flight record too,
    so that a row never acknowledged before still has its ``previous`` fields on the next run."""

    def __init__(self, name: str) -> None:
        self.name = name

    @abc.abstractmethod
    def send_batch(self, sync_name: str, batch_id: str, rows: list[RowOp]) -> BatchResult:
        """Deliver ``rows``; return what the destination acknowledged. Should not raise for
        delivery failures (return ``BatchResult.failed``); the engine treats exceptions the same way."""

    def send_wire(self, sync_name: str, batch_id: str, batch: WireBatch) -> BatchResult:
        """Deliver a batch in its JSON wire form (only called when ``accepts_wire``)."""
        raise NotImplementedError

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
