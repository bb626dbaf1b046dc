"""`--run-slow` (or SGPLAN_RELIABILITY_FULL=1) runs the full reliability suite; the default is a
small subset that keeps CI well under a minute."""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False, help="run the full reliability suite")


@pytest.fixture(scope="session")
def full_run(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--run-slow")) or os.environ.get("SGPLAN_RELIABILITY_FULL") == "1"


@pytest.fixture(autouse=True)
def _fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.reliability.harness import fake_env

    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    env = fake_env()
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", env["TENCENTCLOUD_SECRET_ID"])
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", env["TENCENTCLOUD_SECRET_KEY"])
