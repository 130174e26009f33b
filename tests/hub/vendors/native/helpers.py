"""Native requests built by hand (independently of build_request) from the documented test data."""

from __future__ import annotations

import json

from django.test import RequestFactory

from hub.gateway.base import CredentialKeys
from hub.vendors.native import signing

APP_KEY = "hub_test_app"
SECRET = "hub-test-secret-0001"
TIMESTAMP = "1764055801"
NONCE = "7c1f0e5b9a2d4c6e8f0a1b3c5d7e9f21"
KEYS = CredentialKeys(app_key=APP_KEY, secrets=(SECRET,))
PREFIX = "/api/v1/till"

# The test vector of docs/native-api.md, as literal bytes.
VECTOR_BODY = (
    b'{"store_code":"S001","terminal_code":"P03","operator":"1001","request_no":"HUB20261125000123",'
    b'"member":"M8KZ3Q7T","amount_fen":12850,"business_time":"2026-11-25T15:30:01+08:00"}'
)
VECTOR_SIGNATURE = "F5DoS/vXjKF0TERXmDFQvVDJpTD7S1ttAdLIS931pPY="
VECTOR_HEADER = (f'HUB-HMAC-SHA256 app_key="hub_test_app",timestamp="1764055801",nonce="{NONCE}",'
                 f'signature="{VECTOR_SIGNATURE}"')
RESPONSE_VECTOR = {
    "timestamp": "1764055802",
    "nonce": "0f9e8d7c6b5a49382716",
    "body": '{"code":"SUCCESS","message":"成功","data":{"request_no":"HUB20261125000123","points_earned":128,'
            '"points_balance":100128}}'.encode(),
    "signature": "sv2BPDf+k4kY/kI9+2OdfkBF7hGLvgi8/u2s3Y/m7Sc=",
}
SITE = {"store_code": "S001", "terminal_code": "P03"}


def header(signature: str, *, app_key: str = APP_KEY, nonce: str = NONCE, timestamp: str = TIMESTAMP,
           order: tuple[str, ...] = ("app_key", "timestamp", "nonce", "signature")) -> str:
    items = {"app_key": app_key, "timestamp": timestamp, "nonce": nonce, "signature": signature}
    return "HUB-HMAC-SHA256 " + ",".join(f'{name}="{items[name]}"' for name in order)


def request(method: str, path: str, body=b"", *, secret: str = SECRET, authorization: str | None = None):
    """A request to ``PREFIX + path``, signed with ``secret`` unless ``authorization`` is given."""
    if isinstance(body, dict | list):
        body = json.dumps(body, ensure_ascii=False).encode("utf-8")
    full_path = PREFIX + path
    if authorization is None:
        signature = signing.request_signature(secret, method=method, path=full_path, timestamp=TIMESTAMP,
                                              nonce=NONCE, body=body)
        authorization = header(signature)
    headers = {"Authorization": authorization} if authorization else {}
    return RequestFactory().generic(method, full_path, data=body, content_type="application/json", headers=headers)
