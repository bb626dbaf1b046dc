"""`sgplan fake-cloud serve`: the fake engine behind HTTP, as the unmodified SDK expects it.

Checks TC3-HMAC-SHA256 signatures, dispatches on X-TC-Action and the Credential scope's service,
answers in the API envelope (reference/tencentcloud-sg-api.md §6), injects latency, throttling and
faults, and saves the state file atomically after every change — before answering, so a change it
cannot save is rolled back and reported as not made.

Hostile clients (docs/fake-cloud-hardening.md): bodies over 10 MB are refused unread; an exact
replay of a request that changed the state never changes it a second time; X-TC-Action is checked
by the signature whenever the client signs it, and `require_signed_action` insists on that (the
unmodified Python SDK signs only content-type and host, so nothing can bind its action).
"""

from __future__ import annotations

import copy
import hashlib
import heapq
import hmac
import json
import random
import re
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import parse_qsl

from sgplan.cloud.base import CloudError
from sgplan.cloud.fake_keys import FAKE_SECRET_ID as DEFAULT_SECRET_ID
from sgplan.cloud.fake_keys import FAKE_SECRET_KEY as DEFAULT_SECRET_KEY
from sgplan.cloud.ratelimit import TokenBucket
from sgplan.cloud.snapshot import (
    StateDocument,
    empty_state,
    invalid_state,
    json_utf8,
    loads_strict,
    normalize_state,
    read_document,
    write_state,
)
from sgplan.fakecloud import signv1

__all__ = [
    "DEFAULT_SECRET_ID",
    "DEFAULT_SECRET_KEY",
    "FAULT_KINDS",
    "ServerHandle",
    "start_server",
    "tc3_signature",
]

API_VERSION = "2017-03-12"
# The API version of each served service (tccli's services/<svc>/<version>/api.json).
API_VERSIONS = {"vpc": API_VERSION, "cvm": API_VERSION, "tag": "2018-08-13"}
SERVICES = frozenset(API_VERSIONS)
# Regions a request may name besides those in the state: the region constants of
# tencentcloud-sdk-go (tencentcloud/common/regions/regions.go); any other answers UnsupportedRegion.
KNOWN_REGIONS = frozenset({
    "ap-bangkok", "ap-beijing", "ap-chengdu", "ap-chongqing", "ap-guangzhou", "ap-guangzhou-open", "ap-hongkong",
    "ap-jakarta", "ap-mumbai", "ap-nanjing", "ap-seoul", "ap-shanghai", "ap-shanghai-fsi", "ap-shenzhen-fsi",
    "ap-singapore", "ap-tokyo", "eu-frankfurt", "eu-moscow", "na-ashburn", "na-siliconvalley", "na-toronto",
    "sa-saopaulo",
})
# The tag service is global: the region a tag call acts in is the one its resource names
# (qcs::cvm:<region>:uin/:sg/<id>, terraform-provider-tencentcloud BuildTagResourceName).
_RESOURCE_REGION = re.compile(r"^qcs::[a-z0-9]+:(?P<region>[a-z0-9-]+):")
MAX_SKEW_SECONDS = 300  # API §4: more than 5 minutes off → AuthFailure.SignatureExpire
# TC3 POST bodies may be up to 10 MB (API 3.0 "request structure" page); larger ones are refused
# with the common code RequestSizeLimitExceeded before a byte of the body is read.
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_SIGNATURES = 250_000  # signatures remembered for replay checks (5 minutes' worth)
MAX_PARAMETER_DEPTH = 16  # dots in a form-encoded parameter name (Filters.0.Values.1 is 3)
IDLE_TIMEOUT_SECONDS = 120  # a connection that sends nothing (or a body too slowly) is closed
# Injected faults: an InternalError answer (the change is not made), or a connection closed
# without an answer, either before the engine runs or after it has made the change — the
# nasty realistic case, where the client cannot know that its write happened.
FAULT_KINDS = ("internal-error", "drop-before", "drop-after")
_AUTH_RE = re.compile(
    r"TC3-HMAC-SHA256\s+Credential=(?P<id>[^/\s]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[a-z0-9]+)/tc3_request,\s*"
    r"SignedHeaders=(?P<headers>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)
_DROP = object()  # the answer "close the connection without a response"


def tc3_signature(secret_key: str, *, method: str, query: str, headers: Mapping[str, str], signed_headers: str,
                  payload: bytes, timestamp: str, date: str, service: str) -> str:
    """The TC3-HMAC-SHA256 signature of a request (API §6.3), as hex.

    `headers` maps lower-case names to the values sent; `payload` is the raw body (the literal
    "UNSIGNED-PAYLOAD" when the client asked for that).
    """
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed_headers.split(";"))
    canonical_request = "\n".join(
        [method, "/", query, canonical_headers, signed_headers, hashlib.sha256(payload).hexdigest()]
    )
    string_to_sign = "\n".join(
        ["TC3-HMAC-SHA256", timestamp, f"{date}/{service}/tc3_request",
         hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()]
    )

    def _hmac(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()

    key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode("utf-8"), date), service), "tc3_request")
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass
class _Options:
    secret_id: str
    secret_key: str
    latency_ms: float
    rate_limit: float | Mapping[str, float] | None
    fault_rate: float
    fault_kinds: tuple[str, ...]
    clock: Callable[[], float]
    quiet: bool
    require_signed_action: bool = False


@dataclass(slots=True)
class _Use:
    """One exact request seen while its signature is valid: did it change the state?"""

    changed: bool = False


class _SignatureLog:
    """Exact requests seen while their signature is valid (X-TC-Timestamp ± 5 minutes).

    An exact request is its signature plus the parts the SDK does not sign (X-TC-Action, the
    other X-TC- headers, the body when unsigned): the SDK signs only content-type and host, so a
    legitimate client sends DescribeSecurityGroupPolicies and DeleteSecurityGroup for one group
    in the same second under one signature — two requests, not a replay.
    """

    def __init__(self, clock: Callable[[], float], capacity: int = MAX_SIGNATURES) -> None:
        self._clock = clock
        self._capacity = capacity
        self._lock = threading.Lock()
        self._uses: dict[tuple[str, bytes], _Use] = {}
        self._expiry: list[tuple[int, tuple[str, bytes]]] = []  # a heap of (last valid second, key)

    def use(self, signature: str, binding: bytes, timestamp: int) -> _Use:
        key = (signature, binding)
        with self._lock:
            self._forget(self._clock())
            seen = self._uses.get(key)
            if seen is None:
                if len(self._uses) >= self._capacity:
                    raise CloudError("RequestLimitExceeded", "too many signed requests in five minutes")
                seen = self._uses[key] = _Use()
                heapq.heappush(self._expiry, (timestamp + MAX_SKEW_SECONDS, key))
            return seen

    def _forget(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] < now:
            _, key = heapq.heappop(self._expiry)
            self._uses.pop(key, None)


def _replayed() -> CloudError:
    # API 3.0 documents no replay code (v1 had "4500 replay attack"); a spent signature is
    # treated like an expired one, which no client retries.
    return CloudError("AuthFailure.SignatureExpire",
                      "this signed request was already carried out and changed the state; an exact "
                      "replay is refused (sign a new request)")


@dataclass
class _Request:
    method: str
    path: str
    query: str
    headers: Message
    body: bytes
    region: str = ""  # a v1-signed request's Region parameter (it has no X-TC-Region header)


class _FakeCloud:
    """Everything between the socket and the engine: auth, parsing, injection, persistence."""

    def __init__(self, engine: Any, options: _Options, state_path: Path | None, record: list | None,
                 seed: int | None, document: StateDocument | None = None, region: str = "",
                 factory: Callable[[dict[str, Any]], Any] | None = None) -> None:
        self.engine = engine  # the first region's engine (what ServerHandle.engine shows)
        # State is per region (DESIGN §4): each region named by a request gets its own engine,
        # built by `factory` from the file's part for it (or empty).
        self.engines: dict[str, Any] = {region: engine}
        self.factory = factory
        self.written: set[str] = set()  # regions changed since start
        self.options = options
        self.state_path = state_path
        self.record = record
        # The file's other regions are written back as they were read (DESIGN §4).
        self.document = document
        self.region = region
        self.signatures = _SignatureLog(options.clock)
        # The state as last saved: what a change that cannot be saved is rolled back to.
        self._saved: dict[str, Any] = (
            {region: engine.state} if state_path is not None and hasattr(engine, "restore") else {})
        self.engine_lock = threading.Lock()
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}
        self._buckets_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self.stats: dict[str, int] = {"requests": 0, "faults": 0, "throttled": 0, "changes": 0}

    # -- one request -----------------------------------------------------------------------

    def respond(self, request: _Request) -> bytes | object:
        """The response body for a request, or _DROP to close the connection unanswered."""
        request_id = str(uuid.uuid4())
        self._count("requests")
        try:
            service, action, params, use = self._admit(request)
        except CloudError as exc:
            return _error_body(exc, request_id)
        if self.options.latency_ms > 0:
            time.sleep(self.options.latency_ms / 1000.0)
        if not self._within_rate(action):
            self._count("throttled")
            return _error_body(CloudError("RequestLimitExceeded", f"{action}: request rate limit exceeded"),
                               request_id)
        fault = self._pick_fault()
        if fault == "internal-error":
            return _error_body(CloudError("InternalError", "injected internal error"), request_id)
        if fault == "drop-before":
            return _DROP
        try:
            with self.engine_lock:
                engine = self._engine_for(service, params, request)
                if hasattr(engine, "request_id"):  # LatestOperationRequestId is this call's RequestId
                    engine.request_id = request_id
                answer = self._run(engine, service, action, params, use)
        except CloudError as exc:
            return _error_body(exc, request_id)
        except Exception as exc:  # an engine bug: answer like the API does, keep serving
            print(f"sgplan fake-cloud: {action} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return _error_body(CloudError("InternalError", f"{type(exc).__name__} in the fake engine"), request_id)
        if fault == "drop-after":
            return _DROP
        return _json({"Response": {**answer, "RequestId": request_id}})

    def _engine_for(self, service: str, params: Mapping[str, Any], request: _Request) -> Any:
        """The engine of the region the request acts in; UnsupportedRegion for an unknown one."""
        region = request.region or (request.headers.get("X-TC-Region") or "").strip()
        if service == "tag":
            named = params.get("Resource") or params.get("ResourceRegion") or params.get("ResourceList")
            if isinstance(named, list):
                named = named[0] if named else ""
            match = _RESOURCE_REGION.match(str(named or ""))
            region = match["region"] if match else (str(named) if params.get("ResourceRegion") else region)
        if not region:
            raise CloudError("MissingParameter", "X-TC-Region is required")
        if "" in self.engines and len(self.engines) == 1:
            # A state without a Region serves the first region asked for (as before regions).
            self.engines = {region: self.engines.pop("")}
            self._saved = {region: v for v in self._saved.values()}
            self.region = region
        engine = self.engines.get(region)
        if engine is not None:
            return engine
        known = KNOWN_REGIONS | set(self.document.names() if self.document is not None else ())
        if region not in known or self.factory is None:
            raise CloudError("UnsupportedRegion", f"region {region!r} is not supported")
        state = empty_state(region)
        if self.document is not None and region in self.document.names():
            _, raw = self.document.select(region)
            state = normalize_state(raw)
        engine = self.engines[region] = self.factory(state)
        if self.state_path is not None and hasattr(engine, "restore"):
            self._saved[region] = engine.state
        return engine

    def _run(self, engine: Any, service: str, action: str, params: dict[str, Any], use: _Use) -> dict[str, Any]:
        """Under the engine lock: run the action; a change is saved before it is answered."""
        if use.changed:
            return self._replay(engine, service, action, params)
        try:
            answer = engine.handle(service, action, params)
        except CloudError:
            raise  # the engine validates before it changes anything
        except Exception:
            self._roll_back(engine)  # an engine bug may have left a change half made
            raise
        if self._consume_change(engine):
            self._after_change(engine)
            use.changed = True
        return answer

    def _replay(self, engine: Any, service: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """An exact replay of a request that changed the state is tried on the engine and kept
        only if it changes nothing more: a Version that moved on answers VersionMismatch, an
        idempotent write (a client's same-second retry after a lost answer) answers as the first
        time did, and anything else — a second group, a second rule — is undone and refused."""
        restore = getattr(engine, "restore", None)
        if restore is None:  # an engine that cannot undo: refuse without trying
            raise _replayed()
        checkpoint = engine.state
        answer = engine.handle(service, action, params)  # a CloudError is the truthful answer
        if not self._consume_change(engine) or engine.state == checkpoint:
            return answer
        restore(checkpoint)
        raise _replayed()

    def _admit(self, request: _Request) -> tuple[str, str, dict[str, Any], _Use]:
        """Check the signature and headers; return (service, action, params, the signature's
        use) or raise CloudError."""
        headers = request.headers
        if request.path not in ("/", ""):
            raise CloudError("InvalidAction", f"unknown path {request.path!r}: requests go to /")
        authorization = headers.get("Authorization") or ""
        if not authorization.strip():
            v1 = self._admit_v1(request)
            if v1 is not None:
                return v1
        match = _AUTH_RE.fullmatch(authorization.strip())
        if match is None:
            raise CloudError("AuthFailure.InvalidAuthorization",
                             "the Authorization header is not a TC3-HMAC-SHA256 authorization")
        timestamp = (headers.get("X-TC-Timestamp") or "").strip()
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:  # int() of "²" fails
            raise CloudError("MissingParameter", "X-TC-Timestamp is missing or not a number")
        if abs(self.options.clock() - int(timestamp)) > MAX_SKEW_SECONDS:
            raise CloudError("AuthFailure.SignatureExpire",
                             "the request timestamp is more than 5 minutes away from the server time")
        if match["id"] != self.options.secret_id:
            raise CloudError("AuthFailure.SecretIdNotFound", "the SecretId is not found")
        signed = set(match["headers"].split(";"))
        if not {"content-type", "host"} <= signed:
            raise CloudError("AuthFailure.InvalidAuthorization", "SignedHeaders must include content-type and host")
        if self.options.require_signed_action and "x-tc-action" not in signed:
            raise CloudError("AuthFailure.InvalidAuthorization", "SignedHeaders must include x-tc-action")
        date = datetime.fromtimestamp(int(timestamp), tz=timezone.utc).strftime("%Y-%m-%d")
        if not self._signature_ok(request, match, timestamp, date):
            raise CloudError("AuthFailure.SignatureFailure", "the request signature does not match")
        service = match["service"]
        if service not in SERVICES:
            raise CloudError("InvalidAction", f"service {service!r} is not served here (only vpc, cvm and tag)")
        version = headers.get("X-TC-Version")
        if version and version != API_VERSIONS[service]:
            raise CloudError("NoSuchVersion", f"{service} has no API version {version}")
        action = (headers.get("X-TC-Action") or "").strip()
        if not action:
            raise CloudError("MissingParameter", "X-TC-Action is required")
        params = _params(request)
        use = self.signatures.use(match["signature"], _binding(request, service, action), int(timestamp))
        return service, action, params, use

    def _admit_v1(self, request: _Request) -> tuple[str, str, dict[str, Any], _Use] | None:
        """A request signed the older way (signv1.py), or None when it is not one."""
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if request.method == "GET":
            text = request.query
        elif content_type == "application/x-www-form-urlencoded":
            text = request.body.decode("utf-8", "replace")
        else:
            return None
        pairs = parse_qsl(text, keep_blank_values=True)
        if not signv1.is_v1(dict(pairs)):
            return None
        host = (request.headers.get("Host") or "").strip()
        common = signv1.check(pairs, method=request.method, host=host, secret_id=self.options.secret_id,
                              secret_key=self.options.secret_key, now=self.options.clock(), max_skew=MAX_SKEW_SECONDS)
        action = common["Action"]
        service = _action_services().get(action)
        if service is None:
            raise CloudError("InvalidAction", f"action {action!r} is not served here")
        version = common.get("Version")
        if version and version != API_VERSIONS[service]:
            raise CloudError("NoSuchVersion", f"{service} has no API version {version}")
        request.region = common.get("Region", "")
        params = {k: v for k, v in _params(request).items() if k not in signv1.COMMON}
        use = self.signatures.use(common["Signature"], _binding(request, service, action), int(common["Timestamp"]))
        return service, action, params, use

    def _signature_ok(self, request: _Request, match: re.Match, timestamp: str, date: str) -> bool:
        headers = {name.lower(): value for name, value in request.headers.items()}
        if headers.get("x-tc-content-sha256") == "UNSIGNED-PAYLOAD":
            payload = b"UNSIGNED-PAYLOAD"
        else:
            payload = b"" if request.method == "GET" else request.body
        if date != match["date"]:
            return False
        query = request.query if request.method == "GET" else ""
        expected = tc3_signature(self.options.secret_key, method=request.method, query=query, headers=headers,
                                 signed_headers=match["headers"], payload=payload, timestamp=timestamp,
                                 date=date, service=match["service"])
        if hmac.compare_digest(expected, match["signature"]):
            return True
        # The TC3 text asks for lower-cased header values; the Python SDK signs them as sent.
        lowered = {k: v.lower() for k, v in headers.items()}
        expected = tc3_signature(self.options.secret_key, method=request.method, query=query, headers=lowered,
                                 signed_headers=match["headers"], payload=payload, timestamp=timestamp,
                                 date=date, service=match["service"])
        return hmac.compare_digest(expected, match["signature"])

    # -- injection --------------------------------------------------------------------------

    def _within_rate(self, action: str) -> bool:
        limit = self.options.rate_limit
        if isinstance(limit, Mapping):
            limit = limit.get(action, limit.get("*"))
        if not limit:
            return True
        with self._buckets_lock:
            bucket = self._buckets.get(action)
            if bucket is None:
                bucket = self._buckets[action] = TokenBucket(float(limit), float(limit))
        return bucket.try_acquire()

    def _pick_fault(self) -> str | None:
        if self.options.fault_rate <= 0 or not self.options.fault_kinds:
            return None
        with self._rng_lock:
            if self._rng.random() >= self.options.fault_rate:
                return None
            kind = self._rng.choice(self.options.fault_kinds)
        self._count("faults")
        return kind

    # -- state ------------------------------------------------------------------------------

    @staticmethod
    def _consume_change(engine: Any) -> bool:
        """Whether the call just handled changed the state (the engine's `changed` flag, reset here)."""
        changed = bool(getattr(engine, "changed", False))
        if changed:
            engine.changed = False
        return changed

    def _after_change(self, engine: Any) -> None:
        self.written.update(name for name, e in self.engines.items() if e is engine)
        self._save_or_roll_back(engine)

    def _save_or_roll_back(self, engine: Any) -> None:
        """Called under the engine lock after a mutating call: persist, then count and record.

        A change that cannot be saved is rolled back and answered InternalError — truthfully,
        nothing changed. (An engine without `restore`, a test stand-in, keeps it and answers
        success: the next save or `stop()` writes it.)
        """
        try:
            self.save()
        except Exception as exc:
            rolled_back = self._roll_back(engine)
            self._warn(f"could not save the state ({exc}); "
                       + ("the change was rolled back" if rolled_back else "the change is kept in memory"))
            if rolled_back:
                raise CloudError("InternalError", "the state could not be saved, so the change was not made") \
                    from None
        self._count("changes")
        if self.record is not None:
            self.record.append(copy.deepcopy(engine.state))

    def _roll_back(self, engine: Any) -> bool:
        """Put the engine back to the state last saved; False when it cannot be (no state file,
        or an engine without `restore`)."""
        restore = getattr(engine, "restore", None)
        region = next((name for name, e in self.engines.items() if e is engine), None)
        if restore is None or region not in self._saved:
            return False
        restore(copy.deepcopy(self._saved[region]))  # the saved copy stays pristine for the next time
        return True

    def save(self) -> None:
        if self.state_path is None:
            return
        # Every served region's state (already file-shaped, detached from its engine); the file's
        # other regions are written back as they were read.
        # A region only read is not written (a single-region file keeps its form).
        states = {region: engine.state for region, engine in self.engines.items()
                  if region == self.region or region in self.written}
        document: Any
        if len(states) == 1 and self.document is None:
            (document,) = states.values()
        else:
            base = self.document or StateDocument({}, multi=True)
            for region, state in states.items():
                base = StateDocument.parse(base.with_region(region, state))
            document = base.with_region(self.region, states[self.region])
        write_state(self.state_path, document)
        if self._saved:
            self._saved.update(states)

    def _warn(self, message: str) -> None:
        print(f"sgplan fake-cloud: {message}", file=sys.stderr)

    def _count(self, name: str) -> None:
        with self._stats_lock:
            self.stats[name] += 1


_SERVED: dict[str, str] = {}


def _action_services() -> dict[str, str]:
    """Action → service of every action the engine serves (served action names are unique)."""
    if not _SERVED:
        from sgplan.fakecloud.engine import Engine

        _SERVED.update({action: service for service, action in Engine().served()})
    return _SERVED


def _binding(request: _Request, service: str, action: str) -> bytes:
    """A digest of what the SDK's signature does not cover but decides what a request does."""
    headers = request.headers
    parts = [service, action, request.method, request.query]
    for name in ("X-TC-Region", "X-TC-Version", "X-TC-Token", "X-TC-Language", "X-TC-Content-SHA256"):
        parts.append((headers.get(name) or "").strip())
    digest = hashlib.sha256("\n".join(parts).encode("utf-8", "surrogatepass"))
    digest.update(hashlib.sha256(request.body).digest())  # unsigned when X-TC-Content-SHA256 says so
    return digest.digest()


def _params(request: _Request) -> dict[str, Any]:
    """The action's parameters: the JSON body of a POST, or the flattened form of a GET (API §6.2)."""
    content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if request.method == "GET" or content_type == "application/x-www-form-urlencoded":
        text = request.query if request.method == "GET" else request.body.decode("utf-8", "replace")
        params = _unflatten(parse_qsl(text, keep_blank_values=True))
        # A form carries only text; paging numbers are the one place where an action insists
        # on integers (CVM's Offset/Limit, API §3.4), so give those back their type.
        for name in ("Offset", "Limit"):
            if isinstance(params.get(name), str) and params[name].isdigit():
                params[name] = int(params[name])
        return params
    if not request.body.strip():
        return {}
    try:
        params = loads_strict(request.body.decode("utf-8"))
    except (ValueError, RecursionError):  # not UTF-8, not JSON, too deep, a number past 4,300 digits
        raise CloudError("InvalidParameter", "the request body is not valid JSON") from None
    if not isinstance(params, dict):
        raise CloudError("InvalidParameter", "the request body must be a JSON object")
    return params


def _unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`Filters.0.Values.1=x` pairs back into nested dicts and lists (numeric segments are list indices)."""
    root: dict[Any, Any] = {}
    for key, value in pairs:
        node = root
        parts = key.split(".")
        if len(parts) > MAX_PARAMETER_DEPTH or any(p.isdigit() and len(p) > 6 for p in parts):
            raise CloudError("InvalidParameter", f"parameter name {key[:40]!r} is nested too deeply")
        for part, following in zip(parts, parts[1:]):
            slot = int(part) if part.isdigit() else part
            node = node.setdefault(slot, {})
            if not isinstance(node, dict):
                raise CloudError("InvalidParameter", f"parameter {key!r} conflicts with another")
        last = parts[-1]
        node[int(last) if last.isdigit() else last] = value

    def build(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        if node and all(isinstance(k, int) for k in node):
            return [build(node[k]) for k in sorted(node)]
        return {str(k): build(v) for k, v in node.items()}

    return build(root)


def _json(document: Mapping[str, Any]) -> bytes:
    return json_utf8(json.dumps(document, ensure_ascii=False))


def _error_body(exc: CloudError, request_id: str) -> bytes:
    # Always HTTP 200 with a RequestId: anything else turns into a silent failure or a
    # KeyError inside the SDK (API §6.4).
    return _json({"Response": {"Error": {"Code": exc.code, "Message": exc.message or exc.code},
                               "RequestId": request_id}})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK's requests.Session reuses connections
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK (~20-40 ms per request on a kept-alive connection).
    disable_nagle_algorithm = True
    server: "_Server"

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self._serve("POST")

    def do_GET(self) -> None:  # noqa: N802
        self._serve("GET")

    # Reads time out: a client that stops sending (or trickles a body) does not hold a thread.
    timeout = IDLE_TIMEOUT_SECONDS

    def handle_expect_100(self) -> bool:
        # Refuse an oversized body before inviting the client to send it.
        if self._body_length() is None:
            return False
        return super().handle_expect_100()

    def _body_length(self) -> int | None:
        """The declared body length, or None after refusing the request (then the connection
        closes, since its body stays unread)."""
        if self.headers.get("Transfer-Encoding"):
            return self._refuse(CloudError("InvalidParameter", "send the body with a Content-Length, not chunked"))
        declared = (self.headers.get("Content-Length") or "0").strip()
        if not declared.isascii() or not declared.isdigit():
            return self._refuse(CloudError("InvalidParameter", "Content-Length is not a number"))
        if len(declared) > 12 or int(declared) > MAX_BODY_BYTES:
            return self._refuse(CloudError("RequestSizeLimitExceeded",
                                           f"the request body is larger than {MAX_BODY_BYTES // 2**20} MB"))
        return int(declared)

    def _refuse(self, error: CloudError) -> None:
        self.close_connection = True
        self._send(_error_body(error, str(uuid.uuid4())), close=True)
        return None

    def _serve(self, method: str) -> None:
        length = self._body_length()
        if length is None:
            return
        body = self.rfile.read(length) if length > 0 else b""
        if len(body) < length:  # the client went away mid-body
            self.close_connection = True
            return
        path, _, query = self.path.partition("?")
        outcome = self.server.cloud.respond(_Request(method, path, query, self.headers, body))
        if outcome is _DROP:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        assert isinstance(outcome, bytes)
        self._send(outcome)

    def _send(self, body: bytes, *, close: bool = False) -> None:
        self.send_response(200)
        # Exactly this value: with "; charset=utf-8" the SDK skips its error check (API §6.4).
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (signature is fixed)
        if not self.server.cloud.options.quiet:
            sys.stderr.write(f"sgplan fake-cloud: {self.address_string()} {format % args}\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], cloud: _FakeCloud) -> None:
        self.cloud = cloud
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away mid-request (killed apply, dropped connection, a stalled body)
        # is normal here.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError, TimeoutError)):
            return
        super().handle_error(request, client_address)


@dataclass
class ServerHandle:
    """A running fake: its address, its engine, and `stop()` (which saves the state)."""

    host: str
    port: int
    engine: Any
    _server: _Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def stats(self) -> dict[str, int]:
        """Counts of requests, injected faults, throttled requests and state changes."""
        return dict(self._server.cloud.stats)

    def save(self) -> None:
        """Write the state file now (it is also written after every change and on stop)."""
        with self._server.cloud.engine_lock:
            self._server.cloud.save()

    def stop(self) -> None:
        """Stop serving, close the socket and save the state file; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self.save()

    def __enter__(self) -> "ServerHandle":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _default_engine_factory(state: dict[str, Any], *, bind_delay: float, seed: int | None) -> Any:
    from sgplan.fakecloud.engine import Engine

    return Engine(state, clock=time.time, bind_delay=bind_delay, rng_seed=seed)


def start_server(
    state_path: Path | None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    secret_id: str = DEFAULT_SECRET_ID,
    secret_key: str = DEFAULT_SECRET_KEY,
    latency_ms: float = 0,
    rate_limit: float | Mapping[str, float] | None = None,
    fault_rate: float = 0.0,
    seed: int | None = None,
    bind_delay: float = 0.0,
    record: list | None = None,
    fault_kinds: tuple[str, ...] = FAULT_KINDS,
    state: dict[str, Any] | None = None,
    engine_factory: Callable[..., Any] | None = None,
    clock: Callable[[], float] = time.time,
    quiet: bool = True,
    require_signed_action: bool = False,
) -> ServerHandle:
    """Serve a fake cloud on host:port (0 = a free port) in a background thread.

    The state comes from `state` or else `state_path` (a missing file is an empty cloud; a file in
    the Regions form must hold one region, which is served) and is written back to `state_path`
    after every change and on stop. `require_signed_action` refuses requests whose SignedHeaders
    leave out x-tc-action (the unmodified Python SDK does, so it cannot talk to such a server). `rate_limit` is requests per
    second per action (a number, or a dict by action with "*" for the rest); `fault_rate` is the
    chance that a request gets one of `fault_kinds`, drawn from `seed`. `record`, if given, gets
    a deep copy of the state after every change.
    """
    if not 0.0 <= fault_rate <= 1.0:
        raise ValueError("fault_rate must be between 0 and 1")
    unknown = set(fault_kinds) - set(FAULT_KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds {sorted(unknown)}: use {', '.join(FAULT_KINDS)}")
    document, region = None, ""
    if state is None:
        document, region, state = _load(Path(state_path)) if state_path is not None else (None, "", empty_state())
    factory = engine_factory or _default_engine_factory
    engine = factory(state, bind_delay=bind_delay, seed=seed)
    region = region or str(state.get("Region") or "")
    options = _Options(secret_id, secret_key, latency_ms, rate_limit, fault_rate, tuple(fault_kinds), clock, quiet,
                       require_signed_action)
    cloud = _FakeCloud(engine, options, Path(state_path) if state_path is not None else None, record, seed,
                       document, region, lambda more: factory(more, bind_delay=bind_delay, seed=seed))
    server = _Server((host, port), cloud)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name=f"sgplan-fake-cloud-{server.server_address[1]}", daemon=True)
    thread.start()
    return ServerHandle(host, server.server_address[1], engine, server, thread)


def _load(path: Path) -> tuple[StateDocument | None, str, dict[str, Any]]:
    """A state file's first region: (its document, the region, the normalised state).

    Every region of a {"Regions": …} file is checked here, so a bad one fails at start; the
    others are served by engines of their own when a request names them.
    """
    document = read_document(path)
    if document is None:
        return None, "", empty_state()
    names = sorted(document.names()) if document.multi else [None]
    first: tuple[str, dict[str, Any]] | None = None
    for name in names:
        region, raw = document.select(name)
        try:
            state = normalize_state(raw)
        except ValueError as exc:
            raise invalid_state(path, exc, document.field_prefix(region)) from None
        first = first or (region, state)
    if first is None:
        return document, "", empty_state()
    return document, first[0], first[1]
