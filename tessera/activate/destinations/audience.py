"""Hashed ad-audience files in the style of Google Customer Match and Meta custom audiences.

Identifiers are normalized, then SHA-256 hashed (hex): emails trimmed and lower-cased; phones in
E.164 (``+`` and digits; a leading ``00`` becomes ``+``, a national number gets
``default_country_code`` after dropping a trunk ``0``). One JSON file per batch,
``<path>/<sync>__<batch_id>.json``, written atomically (temp file, fsync, rename):

    {"audience": "<sync>", "batch_id": "...", "hash": "sha256", "identifiers": ["email_sha256", "phone_sha256"],
     "added": [{"key": ..., "email_sha256": ..., "phone_sha256": ...}],
     "removed": [{"key": ..., "email_sha256": ..., "phone_sha256": ...}]}

Deletes (mirror mode) and changed identifiers put the previously delivered hashes in ``removed``.
A member with no usable identifier is acknowledged without being listed (there is nothing to match).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from tessera.activate.destinations.base import BatchResult, Destination, RowOp


def normalize_email(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    return text if "@" in text and " " not in text else None


def normalize_phone(value: Any, default_country_code: str = "1") -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    plus = text.startswith("+")
    text = text.replace("(0)", "")  # "+44 (0)20 ..." : the trunk zero is not dialled internationally
    digits = re.sub(r"\D", "", text)
    if not plus and digits.startswith("00"):
        digits, plus = digits[2:], True
    if not plus:
        cc = default_country_code.lstrip("+")
        if cc == "1" and len(digits) == 11 and digits.startswith("1"):
            pass  # already has the NANP country code
        else:
            digits = cc + digits.lstrip("0")
    return f"+{digits}" if 8 <= len(digits) <= 15 else None


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class AudienceFileDestination(Destination):
    type = "audience_file"
    uses_previous = True  # removes the members of previously delivered identifiers

    def __init__(
        self,
        name: str,
        path: Path,
        *,
        email_field: str | None = "email",
        phone_field: str | None = "phone",
        default_country_code: str = "1",
    ) -> None:
        super().__init__(name)
        self.path = Path(path)
        self.email_field, self.phone_field = email_field, phone_field
        self.default_country_code = default_country_code
        self.files_written: list[Path] = []

    def describe(self) -> str:
        return f"audience_file:{self.name} ({self.path})"

    def member(self, key: str, fields: dict[str, Any] | None) -> dict[str, str] | None:
        if not fields:
            return None
        out: dict[str, str] = {}
        if self.email_field:
            email = normalize_email(fields.get(self.email_field))
            if email:
                out["email_sha256"] = sha256_hex(email)
        if self.phone_field:
            phone = normalize_phone(fields.get(self.phone_field), self.default_country_code)
            if phone:
                out["phone_sha256"] = sha256_hex(phone)
        return {"key": key, **out} if out else None

    def send_batch(self, sync_name: str, batch_id: str, rows: list[RowOp]) -> BatchResult:
        if not rows:
            return BatchResult()
        added: list[dict[str, str]] = []
        removed: list[dict[str, str]] = []
        for row in rows:
            old = self.member(row.key, row.previous)
            if row.op == "delete":
                if old:
                    removed.append(old)
                continue
            new = self.member(row.key, row.fields)
            if old and old != new:
                removed.append(old)
            if new:
                added.append(new)
        document = {
            "audience": sync_name,
            "batch_id": batch_id,
            "hash": "sha256",
            "identifiers": [
                i for i, f in (("email_sha256", self.email_field), ("phone_sha256", self.phone_field)) if f
            ],
            "added": added,
            "removed": removed,
        }
        target = self.path / f"{sync_name}__{batch_id}.json"
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(document, handle, separators=(",", ":"))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            return BatchResult.failed(f"cannot write {target}: {exc}")
        self.files_written.append(target)
        return BatchResult.all_acked(rows)
