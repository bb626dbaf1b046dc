"""Clouds: every backend is an ApiClient that speaks the Tencent API's actions (see base.py).

`sgplan.backends.open_client` picks one from a `--cloud` spec (DESIGN §4).
"""

from __future__ import annotations

from sgplan.cloud.base import ApiClient, CloudError

__all__ = ["ApiClient", "CloudError", "describe_cloud"]


def describe_cloud(spec: str) -> str:
    """The spec as it may appear in output and plan files (never carries credentials)."""
    return spec
