"""The one seam to a cloud: `ApiClient.call(service, action, params)` in the API's own words.

Every backend — the in-process fake on a file, the SDK against Tencent Cloud or an HTTP fake —
answers the same calls, so reading, applying and snapshotting are written once.
"""

from __future__ import annotations

from typing import Any, Protocol


class CloudError(Exception):
    """An API error: `code` as the API spells it (e.g. `UnsupportedOperation.VersionMismatch`)."""

    def __init__(self, code: str, message: str = "", request_id: str | None = None) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.request_id = request_id


RETRYABLE_CODES = frozenset(
    {
        "RequestLimitExceeded",
        "RequestLimitExceeded.UinLimitExceeded",
        "RequestLimitExceeded.GlobalRegionUinLimitExceeded",
        "RequestLimitExceeded.IPLimitExceeded",
        "LimitExceeded.ActionLimited",
        "InternalError",
        "OperationDenied.InstanceOperationInProgress",
        "MutexOperation.TaskRunning",
        "ClientNetworkError",
        "ServerNetworkError",
    }
)
VERSION_MISMATCH = "UnsupportedOperation.VersionMismatch"


class ApiClient(Protocol):
    """A Tencent-API-shaped endpoint. `service` is "vpc" or "cvm"."""

    region: str
    calls: int  # API calls made, retries excluded
    retries: int

    def call(self, service: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run one action; return the `Response` body without `RequestId`; raise CloudError."""
        ...

    def close(self) -> None:
        """Flush and release (the file cloud writes its state back here)."""
        ...
