"""`tessera run --as-of`: the value becomes the run's TESSERA_AS_OF (UTC), bad values fail clearly."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from tessera import cli


@pytest.fixture
def seen(monkeypatch):
    monkeypatch.delenv("TESSERA_AS_OF", raising=False)
    calls: list[tuple[str, str | None]] = []

    def fake_run_graph(job):
        calls.append((job, os.environ.get("TESSERA_AS_OF")))
        return SimpleNamespace(success=True)

    monkeypatch.setattr(cli, "_run_graph", fake_run_graph)
    yield calls
    os.environ.pop("TESSERA_AS_OF", None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-20T09:00:00-05:00", "2026-11-20T14:00:00Z"),
        ("2026-11-20T14:00:00Z", "2026-11-20T14:00:00Z"),
        ("2026-11-20 14:00", "2026-11-20T14:00:00Z"),
        ("2026-11-20", "2026-11-20T00:00:00Z"),
    ],
)
def test_as_of_sets_the_runs_time_in_utc(seen, value, expected):
    result = CliRunner().invoke(cli.app, ["run", "--as-of", value])
    assert result.exit_code == 0, result.output
    assert seen == [("tessera_full_graph", expected)]


def test_bad_as_of_is_a_clear_error_and_runs_nothing(seen):
    result = CliRunner().invoke(cli.app, ["run", "--as-of", "yesterday"])
    assert result.exit_code != 0
    assert "--as-of" in result.output and "yesterday" in result.output
    assert seen == []
