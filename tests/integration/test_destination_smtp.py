"""The SMTP email destination against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import duckdb
import pytest

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")


class Handler:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.refuse: set[str] = set()
        self.hang_after_storing: set[str] = set()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content)
        self.messages.append(message)
        if set(envelope.rcpt_tos) & self.hang_after_storing:
            await asyncio.sleep(3)  # the client times out: did the message go out or not?
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def smtp() -> Iterator[Handler]:
    handler = Handler()
    port = free_port()
    controller = aiosmtpd_controller.Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.port = port  # type: ignore[attr-defined]
    yield handler
    controller.stop()


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp: Handler) -> dict[str, Any]:
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TEST_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TEST_SMTP_PORT", str(smtp.port))  # type: ignore[attr-defined]
    monkeypatch.setenv("TESSERA_AS_OF", "2026-11-20T12:00:00Z")
    cfg = tmp_path / "config"
    (cfg / "syncs").mkdir(parents=True)
    (cfg / "templates").mkdir()
    (cfg / "templates" / "offer.txt.j2").write_text(
        "Hi {{ first_name or 'there' }},\n\n{{ body }}\n\n(offer {{ offer_id }}, decision {{ key }})\n"
    )
    (cfg / "destinations.yml").write_text(
        "destinations:\n"
        "  email_smtp:\n"
        "    type: smtp\n"
        "    host_env: TEST_SMTP_HOST\n"
        "    port_env: TEST_SMTP_PORT\n"
        "    timeout: 1\n"
        "    from_address: Shop <offers@shop.example>\n"
        "    subject: '{{ subject }} - {{ first_name }}'\n"
        f"    template_file: {cfg / 'templates' / 'offer.txt.j2'}\n"
    )
    wh = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(wh))
    con.execute("CREATE SCHEMA activation")
    con.execute(
        "CREATE TABLE activation.sync_email__decisions AS SELECT 'P' || i || ':email' AS decision_key, "
        "'P' || i AS profile_id, 'p' || i || '@example.com' AS email, 'Ann' || i AS first_name, "
        "'OFF' || (i % 2) AS offer_id, 'Your offer' AS subject, '10% off for you' AS body FROM range(1, 8) t(i)"
    )
    con.close()
    return {"cfg": cfg, "wh": wh, "smtp": smtp}


def email_sync(**kw: Any) -> Any:
    from tessera.activate import SyncConfig

    return SyncConfig.model_validate(
        {
            "name": "email_smtp_sync",
            "model": "activation.sync_email__decisions",
            "primary_key": "decision_key",
            "destination": "email_smtp",
            "mode": "insert",
            "batch_size": 3,
            **kw,
        }
    )


def test_one_message_per_decision_rendered_from_the_template(env: dict[str, Any]) -> None:
    from tessera.activate import run_sync

    r1 = run_sync(email_sync(), env["wh"], config_dir=env["cfg"])
    assert (r1.status, r1.rows_acked) == ("success", 7)
    messages = env["smtp"].messages
    assert len(messages) == 7
    first = next(m for m in messages if m["To"] == "p1@example.com")
    assert first["Subject"] == "Your offer - Ann1" and first["From"] == "Shop <offers@shop.example>"
    assert first["X-Tessera-Key"] == "P1:email" and first["Message-ID"].startswith("<")
    text = first.get_payload(decode=True).decode()
    assert "Hi Ann1," in text and "10% off for you" in text and "decision P1:email" in text

    # nothing new: nothing sent; a full resync or a changed decision does not send a second message
    assert run_sync(email_sync(), env["wh"], config_dir=env["cfg"]).rows_sent == 0
    con = duckdb.connect(str(env["wh"]))
    con.execute("UPDATE activation.sync_email__decisions SET body = 'changed' WHERE profile_id = 'P2'")
    con.close()
    r3 = run_sync(email_sync(mode="upsert"), env["wh"], config_dir=env["cfg"], full_resync=True)
    assert (r3.rows_sent, r3.rows_acked) == (7, 7)
    assert len(env["smtp"].messages) == 7


def test_refused_recipient_is_retried_then_dead_lettered_then_replayed(env: dict[str, Any]) -> None:
    from tessera.activate import dead_letters, replay_dead_letters, run_sync

    env["smtp"].refuse.add("p4@example.com")
    cfg = email_sync(max_attempts=2)
    r1 = run_sync(cfg, env["wh"], config_dir=env["cfg"])
    assert (r1.status, r1.rows_acked, r1.rows_rejected, r1.rows_dead_lettered) == ("partial", 6, 1, 0)
    r2 = run_sync(cfg, env["wh"], config_dir=env["cfg"])
    assert (r2.rows_planned, r2.rows_rejected, r2.rows_dead_lettered) == (1, 1, 1)
    r3 = run_sync(cfg, env["wh"], config_dir=env["cfg"])
    assert (r3.rows_planned, r3.rows_held_dead_letter, r3.status) == (0, 1, "success")
    dead = dead_letters("email_smtp_sync", env["wh"])
    assert [d["record_key"] for d in dead] == ["P4:email"] and "550" in dead[0]["error"]
    env["smtp"].refuse.clear()
    assert replay_dead_letters("email_smtp_sync", warehouse_path=env["wh"]) == 1
    r4 = run_sync(cfg, env["wh"], config_dir=env["cfg"])
    assert (r4.rows_planned, r4.rows_acked, r4.status) == (1, 1, "success")
    assert sum(1 for m in env["smtp"].messages if m["To"] == "p4@example.com") == 1
    assert dead_letters("email_smtp_sync", env["wh"]) == []


def test_no_second_message_when_the_server_did_not_answer(env: dict[str, Any]) -> None:
    from tessera.activate import run_sync

    env["smtp"].hang_after_storing.add("p2@example.com")
    r1 = run_sync(email_sync(), env["wh"], config_dir=env["cfg"])
    assert r1.status == "partial" and r1.rows_acked == 1  # P1 sent; P2 timed out; batch stopped
    env["smtp"].hang_after_storing.clear()
    time.sleep(0.1)
    r2 = run_sync(email_sync(), env["wh"], config_dir=env["cfg"])
    assert r2.rows_acked == 5 and r2.rows_rejected == 1  # P2 is held for a person to check
    assert sum(1 for m in env["smtp"].messages if m["To"] == "p2@example.com") == 1
    assert len(env["smtp"].messages) == 7
