"""Clouds for end-to-end tests: every scenario runs against the embedded fake (`file:`) and the
HTTP fake through the unmodified SDK (`http://127.0.0.1:PORT`), from one parametrised suite."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@dataclass
class CloudTarget:
    kind: str
    spec: str
    state: Path

    def load(self) -> dict:
        return json.loads(self.state.read_text())


@pytest.fixture(params=["file", "http"])
def cloud(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A factory: cloud(initial_state_dict) -> CloudTarget."""
    servers = []

    def make(initial: dict) -> CloudTarget:
        state = tmp_path / f"live-{len(servers)}.json"
        state.write_text(json.dumps(initial))
        if request.param == "file":
            servers.append(None)
            return CloudTarget("file", f"file:{state}", state)
        from sgplan.fakecloud.server import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, start_server

        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", DEFAULT_SECRET_ID)
        monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", DEFAULT_SECRET_KEY)
        handle = start_server(state)
        servers.append(handle)
        return CloudTarget("http", handle.url, state)

    yield make
    for handle in servers:
        if handle is not None:
            handle.stop()


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    """A copy of examples/quickstart (apply writes its live.json)."""
    target = tmp_path / "quickstart"
    shutil.copytree(REPO / "examples" / "quickstart", target)
    return target
