"""The SDK backend: `TencentClient`, an ApiClient over the unmodified tencentcloud-sdk-python
(VpcClient, CvmClient) with sgplan's own credentials chain, per-action rate limits, retries and
time limits (docs/api-limits.md).

Retry policy: reads are re-sent after any retryable failure; a write is re-sent only when it was
refused (throttled, instance busy) or never left this machine (connection refused). After an
ambiguous failure of a write (InternalError, dropped connection, non-200 answer, timeout) the
client gives the error back, marked "may or may not have taken effect": only the caller knows how
to find out whether it happened (apply's `settled`: tags for creates, Version for rule edits, …).
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import queue
import random
import sys
import threading
import time
import warnings
import weakref
from collections import Counter
from typing import Any, Callable, Iterable, Mapping, TypeVar
from urllib.parse import urlsplit

from tencentcloud.common import credential as sdk_credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.cvm.v20170312 import cvm_client
from tencentcloud.cvm.v20170312 import models as cvm_models
from tencentcloud.tag.v20180813 import models as tag_models
from tencentcloud.tag.v20180813 import tag_client
from tencentcloud.vpc.v20170312 import models as vpc_models
from tencentcloud.vpc.v20170312 import vpc_client

from sgplan.cloud import base as _cloud_base
from sgplan.cloud.base import (
    AMBIGUOUS_CODES,
    DEADLINE_EXCEEDED,
    INVALID_RESPONSE,
    LISTING_TOO_LARGE,
    MAX_LISTING_ITEMS,
    REFUSED_CODES,
    REQUEST_TIMEOUT,
    CloudError,
    is_read,
    unsettled,
)
from sgplan.cloud.fake_keys import FAKE_SECRET_ID, FAKE_SECRET_KEY
from sgplan.cloud.ratelimit import RateLimiter, backoff_delay, map_parallel
from sgplan.diagnostics import UserError

__all__ = [
    "TencentClient",
    "tencent_client_for",
    "resolve_credential",
    "FAKE_SECRET_ID",
    "FAKE_SECRET_KEY",
    "map_parallel",
]

T = TypeVar("T")
R = TypeVar("R")


_SDK = {
    "vpc": (vpc_client.VpcClient, vpc_models),
    "cvm": (cvm_client.CvmClient, cvm_models),
    "tag": (tag_client.TagClient, tag_models),  # tag changes on existing groups (DESIGN §3)
}

# requests' wording when the connection was never made, so nothing reached the server.
_NOT_SENT_MARKERS = ("NewConnectionError", "Connection refused", "ConnectTimeout", "Failed to establish")
# Exceptions that the generated SDK methods re-wrap under their class name (reference §6.5) when
# they happen while the answer's body is read (`stream=True` in the SDK's http/request.py):
# the connection failed mid-answer, or the answer is not the API's JSON envelope.
_NETWORK_NAMES = frozenset({
    "ConnectionError", "ChunkedEncodingError", "ContentDecodingError", "ReadTimeout", "ConnectTimeout",
    "Timeout", "ProtocolError", "ReadTimeoutError", "IncompleteRead", "RemoteDisconnected", "SSLError",
    "ConnectionResetError", "BrokenPipeError", "TimeoutError", "OSError",
})
_MALFORMED_NAMES = frozenset({
    "JSONDecodeError", "KeyError", "TypeError", "AttributeError", "ValueError", "UnicodeDecodeError",
    "IndexError", "RecursionError",
})
# Time limits (docs/api-limits.md): each request (connect, send, wait, read the whole answer) and
# the run's API work as a whole; env overrides in seconds.
DEFAULT_TIMEOUT = 30.0
DEFAULT_DEADLINE = 1800.0
TIMEOUT_ENV = "SGPLAN_API_TIMEOUT"
DEADLINE_ENV = "SGPLAN_API_DEADLINE"
# Attempts of one call that may end in a timeout: a server that did not answer twice in a row is
# down, and waiting 6 x 30 s for it is what made `plan` hang (issue 12 §9).
MAX_TIMEOUTS = 2
_METADATA_PROBE_SECONDS = 2.0

# The SDK's models warn "X fileds are useless." and drop unknown fields; TencentClient.call
# turns that case into an UnknownParameter error, so the warning (printed mid-output) is noise.
warnings.filterwarnings("ignore", message=r".* fileds are useless\.", category=UserWarning,
                        module=r"tencentcloud\.")


class TencentClient:
    """ApiClient over the Tencent Cloud SDK, for the real API or any compatible endpoint.

    `calls` counts first attempts and `retries` the extra attempts, separately; `actions` counts
    first attempts per action. Safe to use from several threads (each thread gets its own SDK
    clients, since one `requests.Session` shared between threads is not documented as safe).

    `timeout` (default SGPLAN_API_TIMEOUT, else 30 s) bounds each request from connecting to the
    last byte of the answer; `deadline` (default SGPLAN_API_DEADLINE, else 30 min) bounds the
    time this client spends in `call` over its life (time spent elsewhere — planning, a prompt —
    does not count). Past either, the call fails with a one-line CloudError.
    """

    thread_safe = True  # apply may run independent calls on it in parallel
    handles_retries = True  # apply adds no second retry layer (see base.ApiClient)

    def __init__(
        self,
        region: str | None,
        *,
        endpoint: str | None = None,
        credential: Any = None,
        rate_limits: dict[str, float] | None = None,
        max_attempts: int = 6,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        parallelism: int = 8,
        timeout: float | None = None,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not region:
            raise UserError("no region: pass --region, set region in the sgplan block, or set TENCENTCLOUD_REGION")
        self.region = region
        self.calls = 0
        self.retries = 0
        self.actions: Counter[str] = Counter()
        self.parallelism = parallelism
        self.timeout = timeout if timeout is not None else seconds_from_env(TIMEOUT_ENV, DEFAULT_TIMEOUT)
        self.deadline = deadline if deadline is not None else seconds_from_env(DEADLINE_ENV, DEFAULT_DEADLINE)
        self._endpoint = endpoint
        self._scheme, self._host = _split_endpoint(endpoint) if endpoint else ("https", None)
        self._credential = credential if credential is not None else resolve_credential(
            allow_fake=endpoint is not None, allow_role=endpoint is None
        )
        self._limiter = RateLimiter(rate_limits)
        self._max_attempts = max(1, max_attempts)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._budget = _BusyClock(self.deadline, clock)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._progress = on_progress if on_progress is not None else _terminal_progress()

    # -- ApiClient ---------------------------------------------------------------------------

    def call(self, service: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run one action with retries; return `Response` without `RequestId`; raise CloudError."""
        client, models = self._sdk(service)
        request_type = getattr(models, f"{action}Request", None)
        if request_type is None or getattr(client, action, None) is None:
            raise CloudError("InvalidAction", f"{service} has no action {action}")
        request = request_type()
        request.from_json_string(json.dumps(params))
        dropped = _dropped_fields(params, json.loads(request.to_json_string()))
        if dropped:
            # The SDK's models silently drop fields they do not know; losing e.g. a Version
            # would turn a checked write into an unchecked one, so refuse instead.
            raise CloudError("UnknownParameter", f"{action}: the installed SDK does not know {', '.join(dropped)}")
        _check_listing_offset(action, params)
        with self._lock:
            self.calls += 1
            self.actions[action] += 1
        with self._budget:
            response = self._with_retries(service, action, request)
        try:
            body = json.loads(response.to_json_string())
        except (TypeError, ValueError, RecursionError) as exc:  # a value the SDK model took but json cannot write
            raise CloudError(INVALID_RESPONSE, f"{action}: unreadable answer ({type(exc).__name__})") from None
        body.pop("RequestId", None)
        self._report(action, body)
        return _drop_nones(body)

    def close(self) -> None:
        """Clear the progress line; SDK sessions are released with their threads."""
        if isinstance(self._progress, _TerminalProgress):
            self._progress.clear()

    def progress_pause(self) -> None:
        """Remove the progress display before output goes to stdout (it returns with the next call)."""
        if isinstance(self._progress, _TerminalProgress):
            self._progress.clear()

    def progress_log(self, line: str) -> bool:
        """Print a line above the progress display (never through it); False when none is shown."""
        return self._progress.log(line) if isinstance(self._progress, _TerminalProgress) else False

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """`map` on this client's thread pool: pass as `read_live(..., map_fn=client.map)`."""
        return map_parallel(fn, items, self.parallelism)

    # -- retries and limits --------------------------------------------------------------------

    def _with_retries(self, service: str, action: str, request: Any) -> Any:
        """Send until an answer, or until the failure must not (or need not) be retried."""
        write = not is_read(action)
        attempt, timeouts = 1, 0
        err: CloudError | None = None
        while True:
            if self._budget.remaining() <= 0:  # checked before sending: nothing of this attempt went out
                raise self._deadline_error(action, err, write=False)
            self._limiter.acquire(action)
            try:
                return self._attempt(service, action, request, write, err)
            except CloudError as exc:
                err = exc
            timeouts += _is_timeout(err)
            if not self._should_retry(err, write) or attempt >= self._max_attempts or timeouts >= MAX_TIMEOUTS:
                raise unsettled(err, action) if write and _ambiguous(err) else err
            delay = backoff_delay(attempt, self._rng)
            if delay >= self._budget.remaining():
                raise self._deadline_error(action, err, write=False)
            with self._lock:
                self.retries += 1
            self._sleep(delay)
            attempt += 1

    @staticmethod
    def _should_retry(err: CloudError, write: bool) -> bool:
        if err.code in REFUSED_CODES or _not_sent(err):
            return True  # nothing was done: safe for any call
        return err.code in AMBIGUOUS_CODES and not write  # reads only: a write is settled by the caller

    def _attempt(self, service: str, action: str, request: Any, write: bool, last: CloudError | None) -> Any:
        """One request, cut off after `timeout` (or the rest of the deadline, if sooner).

        The SDK's reqTimeout goes to requests as both the connect and the read timeout, and a
        read timeout bounds each wait for the next bytes, not the answer as a whole
        (tencentcloud/common/http/request.py: `timeout=self.timeout, stream=True`): a server
        that sends a byte now and then holds a request forever. So the request runs on a
        helper thread that the caller stops waiting for; the SDK's own timeout then ends it.
        """
        method = getattr(self._sdk(service)[0], action)
        limit = min(self.timeout, self._budget.remaining())
        courier = getattr(self._local, "courier", None)
        if courier is None:
            courier = self._local.courier = _Courier()
        box = courier.run(lambda: method(request), max(0.0, limit))
        if box is None:
            # The abandoned request keeps its courier and SDK session; later ones get new ones.
            self._local.courier = None
            self._local.clients = {}
            if limit < self.timeout:
                raise self._deadline_error(action, last, write)
            raise CloudError(REQUEST_TIMEOUT, f"{action}: no complete answer within {self.timeout:g}s "
                             f"({TIMEOUT_ENV})")
        error = box.get("error")
        if isinstance(error, TencentCloudSDKException):
            raise self._cloud_error(error)
        if error is not None:
            raise CloudError(INVALID_RESPONSE, f"{action}: {type(error).__name__}: {self._scrub(str(error))[:200]}")
        return box["answer"]

    def _deadline_error(self, action: str, last: CloudError | None, write: bool) -> CloudError:
        message = (f"{action}: stopped after {self.deadline:g}s of API calls ({DEADLINE_ENV}); "
                   "the cloud answers too slowly or not at all")
        if last is not None:
            message += f"; last error {last.code}: {last.message}"[:300]
        error = CloudError(DEADLINE_EXCEEDED, message)
        return unsettled(error, action) if write else error

    # -- internals ---------------------------------------------------------------------------

    def _sdk(self, service: str) -> tuple[Any, Any]:
        if service not in _SDK:
            raise CloudError("InvalidAction", f"unknown service {service!r} (expected vpc, cvm or tag)")
        clients = getattr(self._local, "clients", None)
        if clients is None:
            clients = self._local.clients = {}
        if service not in clients:
            client_type, _ = _SDK[service]
            clients[service] = self._new_client(client_type)
        return clients[service], _SDK[service][1]

    def _new_client(self, client_type: type) -> Any:
        # reqTimeout: requests' connect timeout and per-read timeout; the whole request is cut off
        # at `timeout` by _attempt, and this lets the abandoned one end soon after.
        http = HttpProfile(endpoint=self._host, protocol=self._scheme, reqTimeout=math.ceil(self.timeout))
        # No SDK retryer (API §6.7: StandardRetryer repeats writes and re-raises stale errors) and
        # no region breaker (it would redirect to a real ap-guangzhou host); English messages.
        profile = ClientProfile(httpProfile=http, language="en-US", disable_region_breaker=True)
        client = client_type(self._credential, self.region, profile)
        if self._host and _is_loopback(self._host):
            _bypass_proxies(client)
        return client

    def _cloud_error(self, exc: TencentCloudSDKException) -> CloudError:
        code = str(exc.get_code() or "ClientError")
        message = exc.get_message()
        if isinstance(message, bytes):  # ServerNetworkError carries the raw body (API §6.4)
            message = message.decode("utf-8", "replace")
        message = self._scrub(str(message or ""))
        if "Connection refused" in message:
            # urllib3's pool/retry wording says nothing a user needs; keep the marker retries use.
            where = f"{self._scheme}://{self._host}" if self._host else "the Tencent Cloud API"
            message = f"cannot connect to {where}: Connection refused (is the server running and the address right?)"
        if code in _NETWORK_NAMES:  # the connection failed while the answer was read
            code, message = "ClientNetworkError", f"{code}: {message}"
        elif code in _MALFORMED_NAMES:  # not the API's envelope
            code, message = INVALID_RESPONSE, f"{code}: {message}"
        if len(message) > 300:
            message = message[:300] + "…"
        request_id = exc.get_request_id()
        return CloudError(code, message, self._scrub(str(request_id)) if request_id is not None else None)

    def _scrub(self, text: str) -> str:
        try:
            secret_id, secret_key, token = self._credential.get_credential_info()
        except Exception:  # a role credential that cannot refresh: nothing to scrub with
            return text
        for secret in (secret_key, token):
            if secret:
                text = text.replace(secret, "***")
        return text

    def _report(self, action: str = "", body: dict[str, Any] | None = None) -> None:
        if isinstance(self._progress, _TerminalProgress):
            self._progress.update(action, body or {}, self.calls, self.retries)
        elif self._progress is not None:
            self._progress(self.calls, self.retries)


class _Courier:
    """A helper thread that runs one job at a time for one caller thread, which waits a limited
    time for each. (A new thread per request cost about a millisecond a call.) The helper ends
    when its courier is dropped: the caller thread ended, or gave up on a job."""

    def __init__(self) -> None:
        jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._jobs = jobs
        threading.Thread(target=_serve_jobs, args=(jobs,), daemon=True, name="sgplan-api-courier").start()
        weakref.finalize(self, jobs.put, None)  # the helper holds only the queue, never the courier

    def run(self, job: Callable[[], Any], limit: float) -> dict[str, Any] | None:
        """{"answer": …} or {"error": exception}; None when the job did not end within `limit`
        (it goes on in the background; drop this courier then)."""
        box: dict[str, Any] = {}
        done = threading.Event()
        self._jobs.put((job, box, done))
        return box if done.wait(limit) else None


def _serve_jobs(jobs: "queue.SimpleQueue[Any]") -> None:
    while True:
        item = jobs.get()
        if item is None:
            return
        job, box, done = item
        try:
            box["answer"] = job()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc
        done.set()
        del item, job, box, done  # hold nothing of a finished request while idle


class _BusyClock:
    """Seconds spent inside `call` by any thread (overlapping calls count once), against a limit.

    Used as `with budget:` around each call; `remaining()` is the limit minus the busy time.
    """

    def __init__(self, limit: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self._clock = clock
        self._busy = 0.0
        self._inside = 0
        self._since = 0.0
        self._lock = threading.Lock()

    def __enter__(self) -> "_BusyClock":
        with self._lock:
            if self._inside == 0:
                self._since = self._clock()
            self._inside += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._inside -= 1
            if self._inside == 0:
                self._busy += self._clock() - self._since

    def remaining(self) -> float:
        with self._lock:
            busy = self._busy + (self._clock() - self._since if self._inside else 0.0)
        return self.limit - busy


def seconds_from_env(name: str, default: float, env: Mapping[str, str] | None = None) -> float:
    """A positive number of seconds from the environment variable `name`, else `default`."""
    raw = (os.environ if env is None else env).get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (0 < value < math.inf):
        raise UserError(f"{name}={raw!r}: expected a positive number of seconds")
    return value


def _check_listing_offset(action: str, params: Mapping[str, Any]) -> None:
    """Refuse a page past MAX_LISTING_ITEMS: any pager stops there, whatever TotalCount says."""
    if not is_read(action) or "Offset" not in params:
        return
    try:
        offset = int(params["Offset"])
    except (TypeError, ValueError):
        return  # the API's own validation answers that
    if offset >= MAX_LISTING_ITEMS:
        raise CloudError(LISTING_TOO_LARGE, f"{action}: the listing goes past {MAX_LISTING_ITEMS} items, "
                         "the most sgplan reads (docs/api-limits.md)")


def tencent_client_for(spec: str, region: str | None) -> TencentClient:
    """The client for a `--cloud` spec: "tencent" or "http://HOST:PORT" (DESIGN §4)."""
    if spec == "tencent":
        return TencentClient(region)
    if spec.startswith(("http://", "https://")):
        return TencentClient(region, endpoint=spec)
    raise UserError(f"unknown cloud {spec!r}: use tencent, http://HOST:PORT or file:PATH")


def resolve_credential(*, allow_fake: bool = False, allow_role: bool = True,
                       env: dict[str, str] | None = None) -> Any:
    """The SDK credential chain: environment, profile file, CVM role, TKE OIDC role.

    Differs from the SDK's DefaultCredentialProvider where that one falls short: the environment
    step honours a session token (`TENCENTCLOUD_SESSION_TOKEN`, or `TENCENTCLOUD_SECURITY_TOKEN`
    as tccli spells it); the CVM-role step gets a time limit (the SDK's metadata request has
    none and hangs off Tencent Cloud); the TKE step runs only when its variables are set (the
    SDK's raises a bare OSError otherwise). `allow_fake` ends the chain with the bundled fake's
    key pair, for `http://` clouds. Missing credentials raise UserError; no secret is printed.
    """
    env = dict(os.environ) if env is None else env
    try:
        secret_id = env.get("TENCENTCLOUD_SECRET_ID", "")
        secret_key = env.get("TENCENTCLOUD_SECRET_KEY", "")
        if secret_id or secret_key:
            if not (secret_id and secret_key):
                raise UserError("TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY must be set together")
            token = env.get("TENCENTCLOUD_SESSION_TOKEN") or env.get("TENCENTCLOUD_SECURITY_TOKEN") or None
            return sdk_credential.Credential(secret_id, secret_key, token)
        found = sdk_credential.ProfileCredential().get_credential()
        if found is not None:
            return found
    except TencentCloudSDKException as exc:
        # InvalidCredential: empty or space-padded values. The SDK's message names no secret.
        raise UserError(f"invalid Tencent Cloud credentials: {exc.get_message()}") from None
    if allow_role:
        found = _cvm_role_credential()
        if found is not None:
            return found
        if all(env.get(k) for k in ("TKE_REGION", "TKE_PROVIDER_ID", "TKE_WEB_IDENTITY_TOKEN_FILE", "TKE_ROLE_ARN")):
            try:
                return sdk_credential.DefaultTkeOIDCRoleArnProvider().get_credentials()
            except Exception as exc:  # network or token-file problems, reported in one line
                raise UserError(f"TKE OIDC role credentials failed: {type(exc).__name__}") from None
    if allow_fake:
        return sdk_credential.Credential(FAKE_SECRET_ID, FAKE_SECRET_KEY)
    raise UserError(
        "no Tencent Cloud credentials: set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY, "
        "write ~/.tencentcloud/credentials, or run on a CVM with a role"
    )


def _cvm_role_credential() -> Any:
    """The CVM role credential if the metadata service answers within a few seconds, else None."""
    box: list[Any] = []

    def probe() -> None:
        try:
            box.append(sdk_credential.CVMRoleCredential().get_credential())
        except Exception:
            box.append(None)

    worker = threading.Thread(target=probe, daemon=True, name="sgplan-cvm-role-probe")
    worker.start()
    worker.join(_METADATA_PROBE_SECONDS)
    return box[0] if box else None


def _split_endpoint(endpoint: str) -> tuple[str, str]:
    """("http", "127.0.0.1:9000") from "http://127.0.0.1:9000[/]"; UserError for anything else.

    The SDK wants the bare host:port: it sends the endpoint verbatim as the signed Host header
    (API §6.1), so a scheme or a trailing slash would break the signature.
    """
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.username or parts.password:
        raise UserError(f"bad cloud endpoint {endpoint!r}: expected http://HOST:PORT")
    try:
        parts.port
    except ValueError:
        raise UserError(f"bad cloud endpoint {endpoint!r}: the port is not a number") from None
    return parts.scheme, parts.netloc


def _is_loopback(host: str) -> bool:
    name = urlsplit(f"//{host}").hostname or ""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _bypass_proxies(client: Any) -> None:
    """Send this client's requests straight to a loopback endpoint, whatever HTTP(S)_PROXY says.

    The SDK picks a proxy from the environment unless NO_PROXY contains the exact "host:port",
    and `requests` applies the environment again on top (API §6.1: the proxy trap). Setting
    NO_PROXY would leak into the whole process, so instead this one client's connection drops
    the proxy the SDK chose and its `requests.Session` stops reading the environment.
    """
    conn = getattr(getattr(client, "request", None), "conn", None)
    session = getattr(conn, "_session", None)
    if conn is None or session is None:  # SDK internals moved: fall back to the environment
        return
    conn.proxy = None
    session.trust_env = False


def _not_sent(err: CloudError) -> bool:
    return err.code == "ClientNetworkError" and any(m in err.message for m in _NOT_SENT_MARKERS)


def _is_timeout(err: CloudError) -> bool:
    return err.code == REQUEST_TIMEOUT or (err.code == "ClientNetworkError" and "timed out" in err.message)


def _ambiguous(err: CloudError) -> bool:
    """Whether a write that failed with `err` may have taken effect."""
    return err.code in AMBIGUOUS_CODES and not _not_sent(err)


def _dropped_fields(sent: Any, kept: Any, path: str = "") -> list[str]:
    """Paths of the fields in `sent` (plain params) that the SDK request model `kept` lacks."""
    if isinstance(sent, dict):
        if not isinstance(kept, dict):
            return [path or "the parameters"] if sent else []
        out: list[str] = []
        for key, value in sent.items():
            where = f"{path}.{key}" if path else key
            if value is None:
                continue
            if key not in kept:
                out.append(where)
            else:
                out += _dropped_fields(value, kept[key], where)
        return out
    if isinstance(sent, list) and isinstance(kept, list):
        return [p for i, (a, b) in enumerate(zip(sent, kept)) for p in _dropped_fields(a, b, f"{path}[{i}]")]
    return []


def _drop_nones(value: Any) -> Any:
    """The SDK fills every absent model field with None; drop them so answers read like the API's."""
    if isinstance(value, dict):
        return {k: _drop_nones(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nones(v) for v in value]
    return value


# Progress on a terminal (issue 15): `False` turns it off (`--quiet`); it is never shown when stderr
# is not a terminal, and it is drawn on stderr only, removed before any output is printed.
TERMINAL_PROGRESS = _cloud_base.TERMINAL_PROGRESS_DEFAULT  # the CLI's --quiet when it ran before this import

# Which phase an action belongs to, and the answer fields that count its items (done, total).
_PHASES: dict[str, tuple[str, str | None, str | None]] = {
    "DescribeSecurityGroups": ("reading groups", "SecurityGroupSet", "TotalCount"),
    "DescribeSecurityGroupPolicies": ("reading rules", None, None),
    "DescribeInstances": ("reading instances", "InstanceSet", "TotalCount"),
    "DescribeAddressTemplates": ("reading templates", None, None),
    "DescribeAddressTemplateGroups": ("reading templates", None, None),
    "DescribeServiceTemplates": ("reading templates", None, None),
    "DescribeServiceTemplateGroups": ("reading templates", None, None),
}


class _TerminalProgress:
    """A rich progress display on stderr: phase, items done/total, call rate.

    The client knows actions, not the plan, so totals come from the answers: the groups' and
    instances' `TotalCount`, and for rules one call per group read. Writes are "applying".
    """

    def __init__(self, stream: Any) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

        self._progress = Progress(
            SpinnerColumn(), TextColumn("sgplan: {task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            console=Console(file=stream, stderr=True), transient=True, refresh_per_second=8,
            # Never capture stdout (the plan) or other stderr writers: they are not the display's.
            redirect_stdout=False, redirect_stderr=False,
        )
        self._lock = threading.Lock()
        self._tasks: dict[str, Any] = {}
        self._done: dict[str, int] = {}
        self._groups = 0  # groups announced by DescribeSecurityGroups: the rules phase's total
        self._started = time.monotonic()
        self._running = False

    def update(self, action: str, body: dict[str, Any], calls: int, retries: int) -> None:
        phase, items, total_field = _PHASES.get(
            action, ("reading" if action.startswith("Describe") else "applying", None, None))
        with self._lock:
            if not self._running:
                self._progress.start()
                self._running = True
            done = self._done.get(phase, 0) + (len(body.get(items) or []) if items else 1)
            self._done[phase] = done
            total = body.get(total_field) if total_field else None
            if action == "DescribeSecurityGroups" and isinstance(total, int):
                self._groups = total
            if phase == "reading rules" and self._groups:
                total = self._groups
            if not isinstance(total, int) or total < done:
                total = None
            elapsed = max(time.monotonic() - self._started, 1e-6)
            rate = f"{calls / elapsed:.0f} calls/s" + (f", {retries} retried" if retries else "")
            task = self._tasks.get(phase)
            if task is None:
                task = self._tasks[phase] = self._progress.add_task(phase, total=total, rate=rate)
            self._progress.update(task, completed=done, total=total, rate=rate)

    def log(self, line: str) -> bool:
        from rich.text import Text

        with self._lock:
            if not self._running:
                return False
            self._progress.console.print(Text(line), soft_wrap=True)  # no markup from data
            return True

    def clear(self) -> None:
        """Remove the display (before output is printed); the next call starts a fresh one."""
        with self._lock:
            if self._running:
                self._progress.stop()
                self._running = False
            for task in list(self._tasks.values()):
                self._progress.remove_task(task)
            self._tasks.clear()
            self._done.clear()


def _terminal_progress() -> _TerminalProgress | None:
    stream = sys.stderr
    try:
        return _TerminalProgress(stream) if TERMINAL_PROGRESS and stream.isatty() else None
    except (AttributeError, ValueError):
        return None
