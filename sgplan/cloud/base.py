"""The one seam to a cloud: `ApiClient.call(service, action, params)` in the API's own words.

Every backend — the in-process fake on a file, the SDK against Tencent Cloud or an HTTP fake —
answers the same calls, so reading, applying and snapshotting are written once.

Also the shared vocabulary of failures (docs/api-limits.md): which codes mean "refused, nothing
happened" (safe to send again), which mean "the outcome is unknown" (a write may have happened),
and the bound on listings.
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


# sgplan's own codes (never sent by the API): no complete answer within SGPLAN_API_TIMEOUT; the
# run's API work passed SGPLAN_API_DEADLINE; an answer that is not the API's envelope; a listing
# longer than MAX_LISTING_ITEMS.
REQUEST_TIMEOUT = "RequestTimeout"
DEADLINE_EXCEEDED = "DeadlineExceeded"
INVALID_RESPONSE = "InvalidResponse"
LISTING_TOO_LARGE = "ListingTooLarge"

# "Refused before anything was done": throttling and busy instances. Any call may be re-sent.
REFUSED_CODES = frozenset(
    {
        "RequestLimitExceeded",
        "RequestLimitExceeded.UinLimitExceeded",
        "RequestLimitExceeded.GlobalRegionUinLimitExceeded",
        "RequestLimitExceeded.IPLimitExceeded",
        "LimitExceeded.ActionLimited",
        "OperationDenied.InstanceOperationInProgress",
        "MutexOperation.TaskRunning",
    }
)
# "The outcome is unknown": the request may have reached the service and taken effect before the
# server failed (InternalError), the connection dropped, a proxy answered non-200, no answer came
# in time, or the answer was garbled. A read may simply be sent again; a write may be re-sent only
# after the caller has looked whether it took effect (issue 12 §3, apply's `settled`).
AMBIGUOUS_CODES = frozenset(
    {"InternalError", "ClientNetworkError", "ServerNetworkError", REQUEST_TIMEOUT, INVALID_RESPONSE}
)
RETRYABLE_CODES = REFUSED_CODES | AMBIGUOUS_CODES
VERSION_MISMATCH = "UnsupportedOperation.VersionMismatch"
UNSETTLED_NOTE = "the call may or may not have taken effect"

# Listings: 100 items a page (the documented maximum Limit, reference §2.3, §2.17, §3.4) and at
# most 1,000 pages. 100,000 items is 2,000 times the default group quota (50 per project and
# region, §2.14/§4) and 50 times the instances one group may hold (2,000); a listing that claims
# more is refused rather than read (a lying TotalCount must not cost 10^7 requests).
PAGE_SIZE = 100
MAX_LISTING_ITEMS = 100_000
MAX_LISTING_PAGES = MAX_LISTING_ITEMS // PAGE_SIZE


def tag_resource(region: str, group_id: str) -> str:
    """A security group's name in the tag service: `qcs::cvm:<region>:uin/:sg/<id>`.

    terraform-provider-tencentcloud tags groups with BuildTagResourceName("cvm", "sg", region, id),
    leaving the uin empty (the service fills in the caller's); docs/tencent-api.md §tags.
    """
    return f"qcs::cvm:{region}:uin/:sg/{group_id}"


def is_read(action: str) -> bool:
    """Whether `action` only reads (every read action of the VPC and CVM APIs is Describe*)."""
    return action.startswith("Describe")


def unsettled(exc: CloudError, action: str) -> CloudError:
    """`exc` as the error of a write whose outcome is unknown (said once, however many layers)."""
    if UNSETTLED_NOTE in exc.message:
        return exc
    message = f"{exc.message} ({action}: {UNSETTLED_NOTE}; run `sgplan plan` to see the live state)"
    return CloudError(exc.code, message.lstrip(), exc.request_id)


class ApiClient(Protocol):
    """A Tencent-API-shaped endpoint. `service` is "vpc" or "cvm".

    A client may also say `handles_retries = True`: it already re-sends, with backoff, every
    failure that is safe to re-send (reads, refused calls), so apply adds no second layer and
    only settles the writes it gave back as ambiguous.
    """

    region: str
    calls: int  # API calls made, retries excluded
    retries: int

    def call(self, service: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run one action; return the `Response` body without `RequestId`; raise CloudError."""
        ...

    def close(self) -> None:
        """Flush and release (the file cloud writes its state back here)."""
        ...


# `--quiet` for a run in which the SDK client (cloud/tencent.py) is not imported yet: it starts
# from this value. Set by the CLI, so that a `file:` plan never imports the SDK (issue 18: its
# import is a sizable part of a warm run's start-up).
TERMINAL_PROGRESS_DEFAULT = True
