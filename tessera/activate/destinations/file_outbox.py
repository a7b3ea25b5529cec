"""File outbox: one file per run and batch, written atomically, for channel senders to pick up.

Files land in ``<outbox>/<sync_name>__<batch_id>.<jsonl|csv>``. Each is written to a hidden
``.<name>.tmp`` file in the same folder, flushed, fsynced and renamed, so a consumer listing
``*.jsonl`` never sees a partial file. A batch is acknowledged once its file is in place.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from tessera.activate.destinations.base import BatchResult, Destination, RowOp


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class FileOutboxDestination(Destination):
    type = "file_outbox"

    def __init__(self, name: str, path: Path, format: str = "jsonl") -> None:
        super().__init__(name)
        if format not in ("jsonl", "csv"):
            raise ValueError(f"unsupported outbox format {format!r}")
        self.path = Path(path)
        self.format = format
        self.files_written: list[Path] = []

    def describe(self) -> str:
        return f"file_outbox:{self.name} ({self.path}, {self.format})"

    def file_for(self, sync_name: str, batch_id: str) -> Path:
        return self.path / f"{sync_name}__{batch_id}.{self.format}"

    def render(self, rows: list[RowOp]) -> str:
        if self.format == "jsonl":
            return "".join(row.wire_json() + "\n" for row in rows)
        field_names: list[str] = []
        for row in rows:
            for name in row.fields:
                if name not in field_names:
                    field_names.append(name)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["op", "key", "idempotency_key", *field_names])
        for row in rows:
            writer.writerow(
                [row.op, row.key, row.idempotency_key, *(_csv_value(row.fields.get(f)) for f in field_names)]
            )
        return buffer.getvalue()

    def send_batch(self, sync_name: str, batch_id: str, rows: list[RowOp]) -> BatchResult:
        if not rows:
            return BatchResult()
        target = self.file_for(sync_name, batch_id)
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w", encoding="utf-8", newline="") as handle:
                handle.write(self.render(rows))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            return BatchResult.failed(f"cannot write {target}: {exc}")
        self.files_written.append(target)
        return BatchResult.all_acked(rows)
