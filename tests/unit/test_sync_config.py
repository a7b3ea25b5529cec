"""Sync YAML loading and validation, and the shipped demo configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera.activate import SyncConfig, SyncConfigError, load_destinations, load_syncs

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"


def test_demo_configuration_is_valid() -> None:
    syncs = {s.name: s for s in load_syncs(REPO_CONFIG)}
    assert {"email_decisions", "sms_decisions", "push_decisions", "web_decisions", "crm_profiles"} <= set(
        syncs
    )
    destinations = load_destinations(REPO_CONFIG)
    assert destinations["crm_webhook"].type == "webhook"
    assert syncs["crm_profiles"].destination == "crm_webhook"
    assert (
        syncs["email_decisions"].consent is not None and syncs["email_decisions"].consent.channel == "email"
    )
    for sync in syncs.values():
        assert sync.model.startswith("activation.sync_")
        assert destinations[sync.destination]


def test_defaults_and_shorthands() -> None:
    sync = SyncConfig.model_validate(
        {
            "name": "a",
            "model": "activation.sync_x__y",
            "primary_key": "k",
            "destination": "d",
            "mapping": ["k", "v"],
        }
    )
    assert sync.primary_key == ["k"] and sync.mapping == {"k": "k", "v": "v"}
    assert (sync.mode, sync.batch_size, sync.enabled, sync.rate_limit) == ("upsert", 500, True, None)
    assert (sync.model_schema, sync.model_table) == ("activation", "sync_x__y")


@pytest.mark.parametrize(
    "bad",
    [
        {"mode": "sideways"},
        {"name": "Bad Name"},
        {"primary_key": []},
        {"batch_size": 0},
        {"rate_limit": -1},
        {"schedule": "every day"},
        {"consent": {"channel": "fax", "purpose": "marketing"}},
        {"unknown_option": 1},
    ],
)
def test_invalid_sync_is_rejected(bad: dict) -> None:
    base = {"name": "a", "model": "activation.sync_x__y", "primary_key": "k", "destination": "d"}
    with pytest.raises(ValueError):
        SyncConfig.model_validate({**base, **bad})


def test_loader_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "syncs").mkdir()
    (tmp_path / "destinations.yml").write_text("destinations:\n  box: {type: file_outbox, path: box}\n")
    (tmp_path / "syncs" / "one.yml").write_text(
        "model: activation.m\nprimary_key: id\ndestination: nowhere\n"
    )
    with pytest.raises(SyncConfigError, match="'nowhere' is not defined"):
        load_syncs(tmp_path)
    (tmp_path / "syncs" / "one.yml").write_text(
        "model: activation.m\nprimary_key: id\ndestination: box\nmode: x\n"
    )
    with pytest.raises(SyncConfigError, match="one.yml"):
        load_syncs(tmp_path)
    (tmp_path / "syncs" / "one.yml").write_text("model: activation.m\nprimary_key: id\ndestination: box\n")
    [one] = load_syncs(tmp_path)
    assert one.name == "one"  # defaults to the file name
    (tmp_path / "destinations.yml").write_text("destinations:\n  box: {type: ftp}\n")
    with pytest.raises(SyncConfigError, match="box"):
        load_destinations(tmp_path)
