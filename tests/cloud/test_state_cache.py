"""The live-state cache of `file:` clouds (issue 18) and the lazy read-only client under it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.estate import make_estate, write_estate
from sgplan.cloud.reader import read_live
from sgplan.cloud.state_cache import cached_read
from sgplan.diagnostics import UserError
from sgplan.fakecloud.filecloud import FileCloud


@pytest.fixture(autouse=True)
def private_user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def _read(client: FileCloud):
    return lambda: read_live(client, stack="bench", neighbours_of=())


def test_a_hit_is_the_state_read_and_never_parses(tmp_path: Path) -> None:
    live_path, config = write_estate(make_estate(5, 4, 9, variant="drift"), tmp_path)
    client = FileCloud(live_path, lazy=True)
    first, name = cached_read(config, client.state_bytes, None, "bench", [], None, (), _read(client))
    assert name is not None and first == read_live(FileCloud(live_path), stack="bench", neighbours_of=())

    again = FileCloud(live_path, lazy=True)
    calls: list[int] = []
    second, same = cached_read(config, again.state_bytes, None, "bench", [], None, (),
                               lambda: calls.append(1) or _read(again)())
    assert (second, same, calls) == (first, name, [])
    assert "engine" not in again.__dict__  # the state file was never parsed

    # Other bytes, or other read parameters: another entry.
    _, other = cached_read(config, again.state_bytes, None, "other-stack", [], None, (), _read(again))
    assert other != name
    live_path.write_text(json.dumps(json.loads(live_path.read_text())) + "\n")
    changed = FileCloud(live_path, lazy=True)
    _, renamed = cached_read(config, changed.state_bytes, None, "bench", [], None, (), _read(changed))
    assert renamed != name


def test_lazy_client_reports_a_bad_file_on_first_use(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    path.write_text("{not json")
    client = FileCloud(path, lazy=True)  # read, not parsed
    for _ in range(2):  # the same one-line error each time, never an internal one
        with pytest.raises(UserError, match="live.json"):
            client.call("vpc", "DescribeSecurityGroups", {})
    with pytest.raises(UserError, match="no such state file"):
        FileCloud(tmp_path / "missing.json", lazy=True)
