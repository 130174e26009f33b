"""Kemai requests built by hand (independently of build_request) from the contract's test data."""

from __future__ import annotations

import json

from django.test import RequestFactory

from hub.gateway.base import CredentialKeys
from hub.vendors.kemai import signing

APP_ID = "km_test_app"
SECRET = "km-test-secret-0001"
TIMESTAMP = "1764055801"
NONCE = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"
KEYS = CredentialKeys(app_key=APP_ID, secrets=(SECRET,))
PREFIX = "/gateway/kemai/v1"

VECTOR_BODY = (
    b'{"out_trade_no":"KM20261125000123","store_no":"S001","pos_no":"P03","cashier_no":"1001",'
    b'"member_id":"M8KZ3Q7T","order_amount":12850,"trade_time":"2026-11-25T15:30:01+08:00"}'
)
VECTOR_SIGNATURE = "j6YaRyIXUCrIojHqCiI276JoVfdZZ/V55Wc7DjlnkBI="
RESPONSE_VECTOR = {
    "timestamp": "1764055802",
    "nonce": "0f9e8d7c6b5a49382716",
    "body": b'{"code":"SUCCESS","message":"OK"}',
    "signature": "1YZc1N11e+ehd0QjqCCn+rgwB10UDmeZjvH5lV18HrA=",
}


def header(signature: str, *, appid: str = APP_ID, nonce: str = NONCE, timestamp: str = TIMESTAMP,
           order: tuple[str, ...] = ("appid", "nonce_str", "timestamp", "signature")) -> str:
    items = {"appid": appid, "nonce_str": nonce, "timestamp": timestamp, "signature": signature}
    return "KEMAI-HMAC-SHA256 " + ",".join(f'{name}="{items[name]}"' for name in order)


def request(method: str, path: str, body=b"", *, secret: str = SECRET, authorization: str | None = None,
            sign_path: str | None = None):
    """A request to ``PREFIX + path``, signed with ``secret`` unless ``authorization`` is given."""
    if isinstance(body, dict):
        body = json.dumps(body, ensure_ascii=False).encode("utf-8")
    full_path = PREFIX + path
    if authorization is None:
        signature = signing.request_signature(secret, method=method, path=sign_path or full_path,
                                              timestamp=TIMESTAMP, nonce=NONCE, body=body)
        authorization = header(signature)
    headers = {"Authorization": authorization} if authorization else {}
    return RequestFactory().generic(method, full_path, data=body, content_type="application/json", headers=headers)
