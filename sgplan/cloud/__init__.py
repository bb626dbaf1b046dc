"""Clouds: every backend is an ApiClient that speaks the Tencent API's actions (see base.py).

`open_client` picks one from a `--cloud` spec (DESIGN §4): `file:PATH` (the embedded fake),
`http://HOST:PORT` (an API-compatible server through the SDK) or `tencent` (the real API).
"""

from __future__ import annotations

from pathlib import Path

from sgplan.cloud.base import ApiClient, CloudError
from sgplan.diagnostics import UserError

__all__ = ["ApiClient", "CloudError", "open_client", "describe_cloud"]


def open_client(spec: str, region: str | None, *, for_apply: bool = False, lazy: bool = False) -> ApiClient:
    """Connect to the cloud a spec names; raise UserError for a spec sgplan cannot use.

    `for_apply` matters for `file:` only: an apply client locks the state file until `close()`
    has written it back and creates a missing file; any other client needs an existing file,
    refuses writes and never writes (docs/fake-cloud-hardening.md). `lazy` (read-only `file:`):
    the state file is read at once but parsed on first use (see cloud/state_cache.py).
    """
    if spec.startswith("file:"):
        from sgplan.cloud.filecloud import FileCloud

        path = spec[len("file:") :]
        if not path:
            raise UserError("--cloud file: needs a path, e.g. file:./live.json")
        return FileCloud(Path(path), region, for_apply=for_apply, lazy=lazy and not for_apply)
    if spec == "tencent" or spec.startswith(("http://", "https://")):
        from sgplan.cloud.tencent import tencent_client_for

        return tencent_client_for(spec, region)
    raise UserError(f"unknown cloud {spec!r}: use tencent, http://HOST:PORT or file:PATH")


def describe_cloud(spec: str) -> str:
    """The spec as it may appear in output and plan files (never carries credentials)."""
    return spec
