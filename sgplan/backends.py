"""The backend a `--cloud` spec names (DESIGN §4): `file:PATH` (the embedded fake over a state
file, sgplan.fakecloud.filecloud), `http://HOST:PORT` (an API-compatible server through the SDK)
or `tencent` (the real API, sgplan.cloud.tencent).

It sits above both packages: the fake is built on the cloud protocol, so the protocol cannot
be the one to choose it."""

from __future__ import annotations

from pathlib import Path

from sgplan.cloud.base import ApiClient
from sgplan.diagnostics import UserError


def open_client(spec: str, region: str | None, *, for_apply: bool = False) -> ApiClient:
    """Connect to the cloud a spec names; raise UserError for a spec sgplan cannot use.

    `for_apply` matters for `file:` only: an apply client locks the state file until `close()`
    has written it back and creates a missing file; any other client needs an existing file,
    refuses writes and never writes (docs/fake-cloud-hardening.md).
    """
    if spec.startswith("file:"):
        from sgplan.fakecloud.filecloud import FileCloud

        path = spec[len("file:") :]
        if not path:
            raise UserError("--cloud file: needs a path, e.g. file:./live.json")
        return FileCloud(Path(path), region, for_apply=for_apply)
    if spec == "tencent" or spec.startswith(("http://", "https://")):
        from sgplan.cloud.tencent import tencent_client_for

        return tencent_client_for(spec, region)
    raise UserError(f"unknown cloud {spec!r}: use tencent, http://HOST:PORT or file:PATH")
