"""The Kemai dialect (../shared/vendors/kemai.md): translation only, no database.

REST under ``gateway/kemai/v1/``; the ``Authorization`` header carries an HMAC-SHA256 over
method, path, timestamp, nonce and the exact body; the HTTP status carries the class of the
answer, the body is ``{"code","message","data"}``, and every answer to an authenticated request
is signed with ``Hub-Timestamp``/``Hub-Nonce``/``Hub-Signature``.
"""

from __future__ import annotations

import re
from datetime import datetime

from django.http import HttpRequest
from django.urls import path

from hub.errors import DomainError
from hub.gateway.base import (
    MAX_BODY_BYTES,
    Sandbox,
    TillHelpers,
    require_str,
)
from hub.gateway.canonical import TillCommand
from hub.gateway.hmac_json import CONTENT_TYPE, HmacJsonAdapter  # noqa: F401 - CONTENT_TYPE re-exported
from hub.gateway.jsonio import loads_object
from hub.vendors.kemai import endpoints, signing

# The contract's status table: the dialect's one mapping of canonical codes.
HTTP_STATUS = {
    "PARAM_ERROR": 400,
    "SIGN_ERROR": 401,
    "TIMESTAMP_EXPIRED": 401,
    "NONCE_REUSED": 401,
    "NO_AUTH": 403,
    "ORDER_NOT_EXIST": 404,
    "MEMBER_NOT_FOUND": 404,
    "ORDER_REVERSED": 409,
    "IDEMPOTENCY_KEY_REUSED": 409,
    "POINTS_INSUFFICIENT": 422,
    "REDEEM_LIMIT_EXCEEDED": 422,
    "MEMBER_CODE_EXPIRED": 422,
    "FREEZE_EXPIRED": 422,
    "REFUND_EXCEEDS_ORIGINAL": 422,
    "RATE_LIMITED": 429,
    "SYSTEM_ERROR": 500,
    # v1.1
    "VOUCHER_NOT_FOUND": 404,
    "VOUCHER_USED": 422,
    "VOUCHER_EXPIRED": 422,
    "RIGHT_NOT_APPLICABLE": 422,
    "QUOTA_EXHAUSTED": 422,
}

_AUTH_FORMATS = {
    "appid": re.compile(r"^[A-Za-z0-9_.\-]{1,64}$"),
    "nonce_str": re.compile(r"^[A-Za-z0-9_\-]{1,64}$"),
    "timestamp": re.compile(r"^[0-9]{1,11}$"),
    "signature": re.compile(r"^[A-Za-z0-9+/]{1,128}={0,2}$"),
}


class KemaiAdapter(HmacJsonAdapter):
    code = "kemai"
    name = "科脉"
    auth_scheme = "secret"
    ops = frozenset(endpoints.ENDPOINTS)
    mount = "gateway/kemai/"
    max_body_bytes = MAX_BODY_BYTES
    merchant_field = None
    nonce_repeat = "refuse"
    sandbox = Sandbox("SBX_KM", "沙箱·科脉测试超市", "S001", "P03", "km_test_app", "km-test-secret-0001")
    helpers = TillHelpers(member_field="member_id")

    signing = signing
    auth_formats = _AUTH_FORMATS
    app_key_item, nonce_item = "appid", "nonce_str"
    success_message = "OK"
    nonce_chars = 20

    def __init__(self, *, prefix: str = "/gateway/kemai", **kwargs):
        super().__init__(prefix=prefix, **kwargs)

    def get_urls(self, view) -> list:
        return [
            path(ep.route, view, {"op": ep.op}, name=f"kemai-{ep.op.replace('_', '-')}")
            for ep in endpoints.ENDPOINTS.values()
        ]

    def endpoint_of(self, op: str):
        return endpoints.ENDPOINTS.get(op)

    def body_limit(self, op: str) -> int:
        return MAX_BODY_BYTES

    def parse_command(self, request: HttpRequest, op: str, body: bytes, path_no: str) -> TillCommand:
        if op in endpoints.PATH_OPS:
            out_trade_no = require_str({"out_trade_no": path_no}, "out_trade_no")
            if request.method == "POST" and body.strip():
                loads_object(body, what="请求体")  # "{}" by the contract; any object is accepted
            return endpoints.parse_body(op, {}, out_trade_no)
        return endpoints.parse_body(op, loads_object(body, what="请求体"), path_no)

    def status_of(self, error: DomainError) -> int:
        return HTTP_STATUS.get(error.code, error.http_status)

    def render_data(self, op: str, result: dict) -> dict:
        return endpoints.render_data(op, result)

    def build_fields(self, command: TillCommand, *, sent_at: datetime) -> dict | None:
        return endpoints.build_body(command, sent_at=sent_at)

    def header_items(self, *, app_key: str, nonce: str, timestamp: str, signature: str) -> dict:
        return {"appid": app_key, "nonce": nonce, "timestamp": timestamp, "signature": signature}
