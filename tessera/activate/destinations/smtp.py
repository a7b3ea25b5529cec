"""Email over SMTP: one message per row, rendered with Jinja from templates and the decision.

Never twice for the same decision. A local SQLite ledger (one per destination) records each
record key as ``sending`` (fsynced) just before the message is handed to the server and ``sent``
once the server accepted it (250). A row whose key is already ``sent`` is acknowledged without
sending again, whatever its content or idempotency key; a row left ``sending`` (the process or the
connection died while the server was answering, so it may have been delivered) is *not* resent:
it is rejected with a reason, so it surfaces in ``sync_row_errors`` and then the dead letters for a
person to check (``forget()`` releases it). Each message carries ``Message-ID`` derived from the
idempotency key, so mail systems can also de-duplicate.

Server answers: 250 -> acknowledged; 5xx for the recipient or the data -> the row is rejected
(retried next run, then dead-lettered); 4xx or a connection failure before the message was handed
over -> the batch stops (rows unacknowledged, re-sent next run).
"""

from __future__ import annotations

import hashlib
import smtplib
import sqlite3
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

import jinja2

from tessera.activate.destinations.base import BatchResult, Destination, RowOp

DEFAULT_BODY = "{{ body if body is defined else '' }}"


class SmtpDestination(Destination):
    type = "smtp"

    def __init__(
        self,
        name: str,
        host: str,
        port: int = 25,
        *,
        from_address: str = "Tessera <no-reply@tessera.local>",
        to_field: str = "email",
        subject: str = "{{ subject }}",
        body: str | None = None,
        ledger: Path,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(name)
        self.host, self.port = host, port
        self.from_address, self.to_field = from_address, to_field
        env = jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
        self._subject = env.from_string(subject)
        self._body = env.from_string(body or DEFAULT_BODY)
        self.username, self.password, self.starttls, self.timeout = username, password, starttls, timeout
        ledger.parent.mkdir(parents=True, exist_ok=True)
        self._ledger = sqlite3.connect(str(ledger), isolation_level=None)
        self._ledger.execute("PRAGMA journal_mode=WAL")
        self._ledger.execute("PRAGMA synchronous=FULL")
        self._ledger.execute(
            """CREATE TABLE IF NOT EXISTS messages (
                sync_name TEXT NOT NULL, record_key TEXT NOT NULL, idempotency_key TEXT NOT NULL,
                message_id TEXT NOT NULL, recipient TEXT, state TEXT NOT NULL, at TEXT NOT NULL,
                PRIMARY KEY (sync_name, record_key))"""
        )
        self._smtp: smtplib.SMTP | None = None
        self.stats = {"sent": 0, "already_sent": 0}

    def describe(self) -> str:
        return f"smtp:{self.name} ({self.host}:{self.port})"

    # -- ledger ------------------------------------------------------------------------------------
    def _ledger_state(self, sync_name: str, key: str) -> tuple[str, str] | None:
        row = self._ledger.execute(
            "SELECT state, message_id FROM messages WHERE sync_name = ? AND record_key = ?", [sync_name, key]
        ).fetchone()
        return (row[0], row[1]) if row else None

    def _mark(self, sync_name: str, row: RowOp, message_id: str, recipient: str, state: str) -> None:
        self._ledger.execute(
            "INSERT OR REPLACE INTO messages VALUES (?, ?, ?, ?, ?, ?, datetime('now'))",
            [sync_name, row.key, row.idempotency_key, message_id, recipient, state],
        )

    def _unmark(self, sync_name: str, key: str) -> None:
        self._ledger.execute("DELETE FROM messages WHERE sync_name = ? AND record_key = ?", [sync_name, key])

    def forget(self, sync_name: str, key: str) -> None:
        """After checking by hand that a ``sending`` message never arrived: allow one more send."""
        self._unmark(sync_name, key)

    # -- SMTP --------------------------------------------------------------------------------------
    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None:
            try:
                if self._smtp.noop()[0] == 250:
                    return self._smtp
            except smtplib.SMTPException:
                pass
            except OSError:
                pass
            self._close_smtp()
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.starttls:
            smtp.starttls()
        if self.username:
            smtp.login(self.username, self.password or "")
        self._smtp = smtp
        return smtp

    def _close_smtp(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._smtp = None

    def render(self, sync_name: str, row: RowOp) -> EmailMessage:
        context: dict[str, Any] = {**row.fields, "key": row.key, "sync": sync_name}
        recipient = row.fields.get(self.to_field)
        if not recipient:
            raise ValueError(f"no recipient in field {self.to_field!r}")
        message = EmailMessage()
        message["From"] = self.from_address
        message["To"] = str(recipient)
        message["Subject"] = " ".join(self._subject.render(context).split())
        message["Date"] = formatdate(localtime=False)
        domain = hashlib.sha256(sync_name.encode()).hexdigest()[:8]
        message["Message-ID"] = f"<{row.idempotency_key}@{domain}.tessera>"
        message["X-Tessera-Sync"] = sync_name
        message["X-Tessera-Key"] = row.key
        message["X-Tessera-Idempotency-Key"] = row.idempotency_key
        message.set_content(self._body.render(context))
        return message

    def send_batch(self, sync_name: str, batch_id: str, rows: list[RowOp]) -> BatchResult:
        result = BatchResult()
        for row in rows:
            if row.op == "delete":  # an email cannot be unsent; nothing to do
                result.acked_keys.add(row.key)
                continue
            previous = self._ledger_state(sync_name, row.key)
            if previous and previous[0] == "sent":
                self.stats["already_sent"] += 1
                result.acked_keys.add(row.key)
                continue
            if previous:
                result.rejected[row.key] = (
                    f"an earlier attempt ({previous[1]}) may have been delivered (no answer from the server); "
                    "not resent to avoid a duplicate - check the mail log, then forget() it to allow a resend"
                )
                continue
            try:
                message = self.render(sync_name, row)
            except (ValueError, jinja2.TemplateError) as exc:
                result.rejected[row.key] = f"cannot render the message: {exc}"
                continue
            try:
                smtp = self._connection()
            except (smtplib.SMTPException, OSError) as exc:
                result.error = f"cannot connect to {self.host}:{self.port}: {exc}"
                return result
            self._mark(sync_name, row, message["Message-ID"], message["To"], "sending")
            try:
                refused = smtp.send_message(message)
            except smtplib.SMTPRecipientsRefused as exc:
                self._unmark(sync_name, row.key)
                result.rejected[row.key] = f"recipient refused: {exc.recipients}"
                continue
            except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
                self._unmark(sync_name, row.key)  # a definite answer: the message was not accepted
                if 500 <= exc.smtp_code < 600:
                    result.rejected[row.key] = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
                    continue
                result.error = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
                return result
            except (smtplib.SMTPException, OSError) as exc:
                # no answer to the data: it may or may not have been delivered; the ledger keeps
                # 'sending' so that it is never sent twice
                self._close_smtp()
                result.error = f"connection lost while sending {row.key}: {exc}"
                return result
            if refused:
                self._unmark(sync_name, row.key)
                result.rejected[row.key] = f"recipient refused: {refused}"
                continue
            self._mark(sync_name, row, message["Message-ID"], message["To"], "sent")
            self.stats["sent"] += 1
            result.acked_keys.add(row.key)
        return result

    def close(self) -> None:
        self._close_smtp()
        self._ledger.close()
