"""Shared plumbing for the source modules: the validation and counting steps every resource gets,
and readers for line-oriented files that remember which files they already loaded.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlt
from dlt.extract.items_transform import ItemTransform

from tessera.sources.accounting import RunAccounting
from tessera.sources.contract import TableSpec
from tessera.sources.quarantine import payload_text, quarantine_id
from tessera.sources.validation import InvalidValue, validate_row

DEFAULT_SCHEMA_CONTRACT = {"tables": "evolve", "columns": "discard_value", "data_type": "freeze"}


@dataclass
class RawLine:
    """One line/row of a file as read, before validation."""

    text: str  # the original text, kept verbatim for the quarantine
    file: str  # file name relative to the source's configured path
    line_no: int
    record: Any = None  # parsed object, or None when parsing failed
    error: str | None = None  # why parsing failed


class _ValidateStep(ItemTransform[Any, Any]):
    """Validates rows (or lists of rows) before dlt's incremental step sees them."""

    placement_affinity = 0.5  # after plain maps, before the incremental step (1)

    def __call__(self, item: Any, meta: Any = None) -> Any:
        result = self._f(item)
        if result is None or (isinstance(result, list) and not result and item):
            return None  # nothing valid left: drop the item
        return result


class _CountStep(ItemTransform[Any, Any]):
    """Counts the rows that get past the incremental cursor (runs after dlt's incremental step)."""

    placement_affinity = 1.5  # incremental is 1, so this sits right behind it

    def __call__(self, item: Any, meta: Any = None) -> Any:
        for row in item if isinstance(item, list) else [item]:
            self._f(row)
        return item


class _QuarantineMemory:
    """Quarantine ids this resource already sent, kept in the dlt resource state.

    A bad row the source serves again on a later run (SQL rows on the cursor's day, API rows newer
    than the cursor, a changed file) is then counted as skipped instead of read again; its
    quarantine entry already exists. The state is committed with the load, like a cursor.
    """

    def __init__(self, resource_name: str) -> None:
        self.resource_name = resource_name
        self._ids: list[str] | None = None
        self._set: set[str] = set()

    def _load(self) -> list[str]:
        if self._ids is None:
            try:
                state = dlt.current.resource_state(self.resource_name)
                self._ids = state.setdefault("quarantined_ids", [])
            except Exception:  # noqa: BLE001 - outside a pipeline (unit tests): remember in memory
                self._ids = []
            self._set = set(self._ids)
        return self._ids

    def seen(self, qid: str) -> bool:
        ids = self._load()
        if qid in self._set:
            return True
        ids.append(qid)
        self._set.add(qid)
        return False


def attach_validation(
    resource: Any,
    spec: TableSpec,
    acct: RunAccounting,
    transform: Callable[[TableSpec, Any], dict[str, Any]] | None = None,
) -> Any:
    """Add the validate step (before dlt's incremental) and the count step (after it).

    ``transform(spec, record)`` types one record and raises InvalidValue; default: validate_row.
    Items may be plain rows (SQL, API) or RawLine objects (files).
    """
    transform = transform or validate_row
    resource_name = resource.name

    memory = _QuarantineMemory(resource_name)

    def quarantine(raw_text: str, reason: str, key: Any = None) -> None:
        if not memory.seen(quarantine_id(spec.source, spec.table, raw_text)):
            acct.quarantine(spec.table, raw_text, reason, key)

    def validate_one(item: Any) -> Any:
        acct.fetched(spec.table)
        if isinstance(item, RawLine):
            raw_text, record, where = item.text, item.record, f"{item.file} line {item.line_no}: "
            if item.error:
                quarantine(raw_text, f"{where}{item.error}")
                return None
        else:
            raw_text, record, where = payload_text(item), item, ""
        try:
            return transform(spec, record)
        except InvalidValue as exc:
            key = record.get(_source_key(spec)) if isinstance(record, dict) else None
            quarantine(raw_text, f"{where}{exc}", key)
            return None

    def validate(item: Any) -> Any:
        if isinstance(item, list):
            if not item:
                return item  # keeps dlt's materialize-table marker (an empty list subclass)
            return [row for row in map(validate_one, item) if row is not None]
        return validate_one(item)

    def count(row: Any) -> None:
        if not isinstance(row, dict):
            return
        acct.passed(spec.table)
        for path in spec.nested:
            acct.passed(f"{spec.table}__{path}", len(row.get(path) or []))

    for table in spec.all_tables:
        acct.table(table)
    resource.add_step(_ValidateStep(validate))
    resource.add_step(_CountStep(count))
    return resource


def _source_key(spec: TableSpec) -> str:
    return "messageId" if spec.table == "events" else spec.primary_key


# ---------------------------------------------------------------------------------------------
# files


def list_files(path: Path, pattern: str) -> list[tuple[Path, str]]:
    """(file, name relative to the configured path) for a file or for a folder + glob pattern."""
    if path.is_file():
        return [(path, path.name)]
    if path.is_dir():
        return [(f, f.relative_to(path).as_posix()) for f in sorted(path.glob(pattern)) if f.is_file()]
    raise FileNotFoundError(f"source path does not exist: {path}")


def changed_files(path: Path, pattern: str, state: dict[str, Any]) -> Iterator[tuple[Path, str]]:
    """Files that are new or changed (name + mtime + size) since the last successful load.

    The signature is recorded in the dlt resource state, which is committed with the load
    package, so a failed load re-reads the file next time.
    """
    seen: dict[str, str] = state.setdefault("files", {})
    for file, name in list_files(path, pattern):
        stat = file.stat()
        signature = f"{stat.st_mtime_ns}:{stat.st_size}"
        if seen.get(name) == signature:
            continue
        yield file, name
        seen[name] = signature


def batched(items: Iterator[Any], size: int = 2000) -> Iterator[list[Any]]:
    """Group items into lists: dlt moves lists through its pipe much faster than single items."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def read_jsonl(file: Path, name: str) -> Iterator[RawLine]:
    with file.open("r", encoding="utf-8", errors="replace", newline="") as handle:
        for line_no, line in enumerate(handle, start=1):
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                yield RawLine(text, name, line_no, error=f"invalid JSON: {exc.msg} (col {exc.colno})")
                continue
            if not isinstance(record, dict):
                yield RawLine(text, name, line_no, error=f"not a JSON object: {type(record).__name__}")
                continue
            yield RawLine(text, name, line_no, record=record)


def read_csv(file: Path, name: str) -> Iterator[RawLine]:
    """CSV rows as dicts (empty field -> None), each with its original line(s) of text."""
    with file.open("r", encoding="utf-8-sig", errors="replace", newline="") as handle:
        consumed: list[str] = []

        def lines() -> Iterator[str]:
            for line in handle:
                consumed.append(line)
                yield line

        reader = csv.reader(lines())
        header: list[str] | None = None
        line_no = 0
        for fields in reader:
            text = "".join(consumed).rstrip("\r\n")
            start = line_no + 1
            line_no += len(consumed)
            consumed.clear()
            if header is None:
                header = [h.strip() for h in fields]
                continue
            if not fields or not text.strip():
                continue
            if len(fields) != len(header):
                yield RawLine(
                    text, name, start, error=f"expected {len(header)} fields, got {len(fields)}"
                )
                continue
            record = {h: (v if v != "" else None) for h, v in zip(header, fields, strict=True)}
            yield RawLine(text, name, start, record=record)
