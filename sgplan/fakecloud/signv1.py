"""The API's older signature (v1: HmacSHA1 / HmacSHA256 over the sorted parameters), which the
unmodified SDK sends with `ClientProfile(signMethod="HmacSHA256")` as a form-encoded POST or a GET
(issue 13 item 9: the fake refused it).

What the SDK signs ([sdk-py] tencentcloud/common/abstract_client.py `_build_req_with_old_signature`
and `_format_sign_string`, sign.py): the string `METHOD + HOST + "/" + "?" + k=v&…` over every
parameter but Signature, keys sorted, `_` in a key read as `.`, values as sent (not URL-encoded);
Signature = base64(HMAC(secret key, that string)). The common parameters travel with the others:
Action, Nonce, Timestamp, Version, Region, SecretId, SignatureMethod, optional Token, Language and
RequestClient. A v1 request names no service, so the fake takes it from the action.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any, Mapping

from sgplan.cloud.base import CloudError

COMMON = frozenset({"Action", "Nonce", "Timestamp", "Version", "Region", "SecretId", "SignatureMethod",
                    "Signature", "Token", "Language", "RequestClient"})
_DIGESTS = {"HmacSHA1": hashlib.sha1, "HmacSHA256": hashlib.sha256}


def is_v1(params: Mapping[str, Any]) -> bool:
    return isinstance(params.get("Signature"), str) and isinstance(params.get("SecretId"), str)


def signature(secret_key: str, method: str, host: str, pairs: list[tuple[str, str]], sign_method: str) -> str:
    text = "&".join(f"{k.replace('_', '.')}={v}" for k, v in sorted(pairs) if k != "Signature")
    digest = hmac.new(secret_key.encode("utf-8"), f"{method}{host}/?{text}".encode("utf-8"), _DIGESTS[sign_method])
    return base64.b64encode(digest.digest()).decode("ascii")


def check(pairs: list[tuple[str, str]], *, method: str, host: str, secret_id: str, secret_key: str,
          now: float, max_skew: int) -> dict[str, str]:
    """The v1 common parameters after checking the signature; CloudError as the API answers."""
    common = {k: v for k, v in pairs if k in COMMON}
    for name in ("Action", "Timestamp", "Nonce", "SecretId", "Signature"):
        if not common.get(name):
            raise CloudError("MissingParameter", f"{name} is required")
    sign_method = common.get("SignatureMethod") or "HmacSHA1"
    if sign_method not in _DIGESTS:
        raise CloudError("AuthFailure.SignatureFailure", f"SignatureMethod {sign_method!r} is not HmacSHA1/HmacSHA256")
    stamp = common["Timestamp"]
    if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12:
        raise CloudError("MissingParameter", "Timestamp is not a number")
    if abs(now - int(stamp)) > max_skew:
        raise CloudError("AuthFailure.SignatureExpire", "the request timestamp is more than 5 minutes away")
    if common["SecretId"] != secret_id:
        raise CloudError("AuthFailure.SecretIdNotFound", "the SecretId is not found")
    expected = signature(secret_key, method, host, pairs, sign_method)
    if not hmac.compare_digest(expected, common["Signature"]):
        raise CloudError("AuthFailure.SignatureFailure", "the request signature does not match")
    return common
