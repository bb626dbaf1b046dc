"""The SDK backend: `TencentClient`, an ApiClient over the unmodified tencentcloud-sdk-python
(VpcClient, CvmClient) with sgplan's own credentials chain, per-action rate limits and retries.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import sys
import threading
import time
import warnings
from collections import Counter
from typing import Any, Callable, Iterable, TypeVar
from urllib.parse import urlsplit

from tencentcloud.common import credential as sdk_credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.cvm.v20170312 import cvm_client
from tencentcloud.cvm.v20170312 import models as cvm_models
from tencentcloud.vpc.v20170312 import models as vpc_models
from tencentcloud.vpc.v20170312 import vpc_client

from sgplan.cloud.base import RETRYABLE_CODES, VERSION_MISMATCH, CloudError
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

# The bundled fake's default key pair (sgplan fake-cloud serve). Not a secret: it only opens a
# local fake, and `http://` clouds fall back to it when no other credentials are configured.
FAKE_SECRET_ID = "AKIDsgplanfake"
FAKE_SECRET_KEY = "sgplanfakesecret"

_SDK = {
    "vpc": (vpc_client.VpcClient, vpc_models),
    "cvm": (cvm_client.CvmClient, cvm_models),
}

# Codes that mean "the request was refused before it did anything": always safe to send again.
_REFUSED_CODES = RETRYABLE_CODES - {"ClientNetworkError", "ServerNetworkError"}
# A lost connection (or a non-200 answer) leaves the outcome unknown: the change may have been
# made. Only calls that are safe to repeat are retried then (see _safe_to_repeat).
_AMBIGUOUS_CODES = frozenset({"ClientNetworkError", "ServerNetworkError"})
# requests' wording when the connection was never made, so nothing reached the server.
_NOT_SENT_MARKERS = ("NewConnectionError", "Connection refused", "ConnectTimeout", "Failed to establish")
# Writes whose repetition lands in the same state (they set a value rather than add one).
_IDEMPOTENT_WRITES = frozenset(
    {"ModifySecurityGroupAttribute", "ModifyInstancesAttribute", "ModifySecurityGroupPolicies"}
)
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
    """

    thread_safe = True  # apply may run independent calls on it in parallel

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
        timeout: int = 60,
    ) -> None:
        if not region:
            raise UserError("no region: pass --region, set region in the sgplan block, or set TENCENTCLOUD_REGION")
        self.region = region
        self.calls = 0
        self.retries = 0
        self.actions: Counter[str] = Counter()
        self.parallelism = parallelism
        self._endpoint = endpoint
        self._scheme, self._host = _split_endpoint(endpoint) if endpoint else ("https", None)
        self._credential = credential if credential is not None else resolve_credential(
            allow_fake=endpoint is not None, allow_role=endpoint is None
        )
        self._limiter = RateLimiter(rate_limits)
        self._max_attempts = max(1, max_attempts)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._progress = on_progress if on_progress is not None else _terminal_progress()

    # -- ApiClient ---------------------------------------------------------------------------

    def call(self, service: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run one action with retries; return `Response` without `RequestId`; raise CloudError."""
        client, models = self._sdk(service)
        request_type = getattr(models, f"{action}Request", None)
        method = getattr(client, action, None)
        if request_type is None or method is None:
            raise CloudError("InvalidAction", f"{service} has no action {action}")
        request = request_type()
        request.from_json_string(json.dumps(params))
        dropped = _dropped_fields(params, json.loads(request.to_json_string()))
        if dropped:
            # The SDK's models silently drop fields they do not know; losing e.g. a Version
            # would turn a checked write into an unchecked one, so refuse instead.
            raise CloudError("UnknownParameter", f"{action}: the installed SDK does not know {', '.join(dropped)}")
        with self._lock:
            self.calls += 1
            self.actions[action] += 1
        attempt = 1
        ambiguous = False  # an earlier attempt may have taken effect
        while True:
            self._limiter.acquire(action)
            try:
                response = method(request)
                break
            except TencentCloudSDKException as exc:
                err = self._cloud_error(exc)
            if err.code == VERSION_MISMATCH and ambiguous:
                # The lost attempt probably did apply and moved the Version on (API §1.5).
                raise CloudError(err.code, f"{err.message} (an earlier attempt of {action} lost its "
                                 "connection and may have been applied)", err.request_id)
            if not self._should_retry(err, action, params) or attempt >= self._max_attempts:
                if err.code in _AMBIGUOUS_CODES and not _not_sent(err):
                    raise CloudError(err.code, f"{action}: {err.message} (the call may or may not have "
                                     "taken effect)", err.request_id)
                raise err
            ambiguous = ambiguous or (err.code in _AMBIGUOUS_CODES and not _not_sent(err))
            with self._lock:
                self.retries += 1
            self._sleep(backoff_delay(attempt, self._rng))
            attempt += 1
        body = json.loads(response.to_json_string())
        body.pop("RequestId", None)
        self._report()
        return _drop_nones(body)

    def close(self) -> None:
        """Clear the progress line; SDK sessions are released with their threads."""
        if isinstance(self._progress, _ProgressLine):
            self._progress.clear()

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """`map` on this client's thread pool: pass as `read_live(..., map_fn=client.map)`."""
        return map_parallel(fn, items, self.parallelism)

    # -- internals ---------------------------------------------------------------------------

    def _sdk(self, service: str) -> tuple[Any, Any]:
        if service not in _SDK:
            raise CloudError("InvalidAction", f"unknown service {service!r} (expected vpc or cvm)")
        clients = getattr(self._local, "clients", None)
        if clients is None:
            clients = self._local.clients = {}
        if service not in clients:
            client_type, _ = _SDK[service]
            clients[service] = self._new_client(client_type)
        return clients[service], _SDK[service][1]

    def _new_client(self, client_type: type) -> Any:
        http = HttpProfile(endpoint=self._host, protocol=self._scheme, reqTimeout=self._timeout)
        # No SDK retryer (API §6.7: StandardRetryer repeats writes and re-raises stale errors) and
        # no region breaker (it would redirect to a real ap-guangzhou host); English messages.
        profile = ClientProfile(httpProfile=http, language="en-US", disable_region_breaker=True)
        client = client_type(self._credential, self.region, profile)
        if self._host and _is_loopback(self._host):
            _bypass_proxies(client)
        return client

    def _should_retry(self, err: CloudError, action: str, params: dict[str, Any]) -> bool:
        if err.code in _REFUSED_CODES:
            return True
        if err.code in _AMBIGUOUS_CODES:
            return _not_sent(err) or _safe_to_repeat(action, params)
        return False

    def _cloud_error(self, exc: TencentCloudSDKException) -> CloudError:
        message = exc.get_message()
        if isinstance(message, bytes):  # ServerNetworkError carries the raw body (API §6.4)
            message = message.decode("utf-8", "replace")
        message = self._scrub(str(message or ""))
        if len(message) > 300:
            message = message[:300] + "…"
        return CloudError(str(exc.get_code() or "ClientError"), message, exc.get_request_id())

    def _scrub(self, text: str) -> str:
        try:
            secret_id, secret_key, token = self._credential.get_credential_info()
        except Exception:  # a role credential that cannot refresh: nothing to scrub with
            return text
        for secret in (secret_key, token):
            if secret:
                text = text.replace(secret, "***")
        return text

    def _report(self) -> None:
        if self._progress is not None:
            self._progress(self.calls, self.retries)


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


def _safe_to_repeat(action: str, params: dict[str, Any]) -> bool:
    """Whether sending `action` twice ends where sending it once does (or fails harmlessly).

    Reads are; setting writes are; rule edits that carry a Version are, because the second
    attempt fails with VersionMismatch if the first one did apply. Creating a group is not.
    """
    if action.startswith("Describe") or action in _IDEMPOTENT_WRITES:
        return True
    policy_set = params.get("SecurityGroupPolicySet")
    return isinstance(policy_set, dict) and str(policy_set.get("Version") or "0") != "0"


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


class _ProgressLine:
    """A one-line call counter on a terminal's stderr, redrawn at most ten times a second."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._last = 0.0
        self._shown = False
        self._lock = threading.Lock()

    def __call__(self, calls: int, retries: int) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < 0.1:
                return
            self._last = now
            extra = f", {retries} retried" if retries else ""
            self._stream.write(f"\r\x1b[Ksgplan: {calls} API calls{extra}")
            self._stream.flush()
            self._shown = True

    def clear(self) -> None:
        with self._lock:
            if self._shown:
                self._stream.write("\r\x1b[K")
                self._stream.flush()
                self._shown = False


def _terminal_progress() -> _ProgressLine | None:
    stream = sys.stderr
    try:
        return _ProgressLine(stream) if stream.isatty() else None
    except (AttributeError, ValueError):
        return None
