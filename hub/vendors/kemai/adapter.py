"""The Kemai dialect (../shared/vendors/kemai.md): translation only, no database.

REST under ``gateway/kemai/v1/``; the ``Authorization`` header carries an HMAC-SHA256 over
method, path, timestamp, nonce and the exact body; the HTTP status carries the class of the
answer, the body is ``{"code","message","data"}``, and every answer to an authenticated request
is signed with ``Hub-Timestamp``/``Hub-Nonce``/``Hub-Signature``.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse
from django.urls import path

from hub.errors import DomainError, ParamError, SignError
from hub.gateway.base import (
    MAX_BODY_BYTES,
    CredentialKeys,
    ParsedCall,
    ReadResponse,
    RequestSpec,
    Sandbox,
    TillHelpers,
    require_str,
)
from hub.gateway.canonical import TillCommand
from hub.gateway.hmac_signing import candidate_secrets, response_signed, sign_response
from hub.gateway.jsonio import dumps_compact, loads_object, read_body
from hub.vendors.kemai import endpoints, signing

CONTENT_TYPE = "application/json; charset=utf-8"

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
}

_AUTH_FORMATS = {
    "appid": re.compile(r"^[A-Za-z0-9_.\-]{1,64}$"),
    "nonce_str": re.compile(r"^[A-Za-z0-9_\-]{1,64}$"),
    "timestamp": re.compile(r"^[0-9]{1,11}$"),
    "signature": re.compile(r"^[A-Za-z0-9+/]{1,128}={0,2}$"),
}


def _authorization(request: HttpRequest) -> dict[str, str]:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        raise SignError("缺少签名：Authorization")
    items = signing.parse_authorization(header) if len(header) <= 1024 else None
    if items is None:
        raise SignError("签名头格式错误：Authorization")
    for name, pattern in _AUTH_FORMATS.items():
        if name not in items:
            raise SignError(f"签名头缺少：{name}")
        if not pattern.match(items[name]):
            raise SignError(f"签名头格式错误：{name}")
    return items


class KemaiAdapter:
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

    def __init__(
        self,
        *,
        prefix: str = "/gateway/kemai",
        clock: Callable[[], float] = time.time,
        nonce_factory: Callable[[], str] = lambda: secrets.token_hex(10),
    ):
        self.prefix = prefix.rstrip("/")  # where the gateway mounts get_urls(); signed paths include it
        self._clock = clock
        self._nonce_factory = nonce_factory

    def get_urls(self, view) -> list:
        return [
            path(ep.route, view, {"op": ep.op}, name=f"kemai-{ep.op.replace('_', '-')}")
            for ep in endpoints.ENDPOINTS.values()
        ]

    # ---- till -> hub ------------------------------------------------------------------

    def parse(self, request: HttpRequest, op: str = "", out_trade_no: str = "", **kwargs) -> ParsedCall:
        endpoint = endpoints.ENDPOINTS.get(op)
        if endpoint is None:
            raise ParamError("接口不存在")
        if request.method != endpoint.http_method:
            raise ParamError(f"请求方法不支持（应为 {endpoint.http_method}）")
        auth = _authorization(request)
        body = read_body(request)
        if op in endpoints.PATH_OPS:
            out_trade_no = require_str({"out_trade_no": out_trade_no}, "out_trade_no")
            if endpoint.http_method == "POST" and body.strip():
                loads_object(body, what="请求体")  # "{}" by the contract; any object is accepted
            fields: dict = {}
        else:
            fields = loads_object(body, what="请求体")
        command = endpoints.parse_body(op, fields, out_trade_no)

        appid, nonce, stamp, given = auth["appid"], auth["nonce_str"], auth["timestamp"], auth["signature"]
        # The request target as sent when the server passes it on (gunicorn's RAW_URI), else the
        # path and query as Django reconstructs them.
        raw_uri = request.META.get("RAW_URI", "")
        signed_path = raw_uri if raw_uri.startswith("/") else request.get_full_path()
        method = request.method

        def verify(keys: CredentialKeys) -> str | None:
            if keys.app_key != appid:
                return None
            for secret in candidate_secrets(keys):
                expected = signing.request_signature(
                    secret, method=method, path=signed_path, timestamp=stamp, nonce=nonce, body=body
                )
                if signing.same(expected, given):
                    return secret
            return None

        return ParsedCall(app_key=appid, nonce=nonce, timestamp=datetime.fromtimestamp(int(stamp), tz=UTC),
                          command=command, verify=verify, context={"op": op})

    def render(self, call: ParsedCall | None, outcome: dict | DomainError, keys: CredentialKeys | None) -> HttpResponse:
        if isinstance(outcome, DomainError):
            status = HTTP_STATUS.get(outcome.code, outcome.http_status)
            envelope = {"code": outcome.code, "message": outcome.message, "data": dict(outcome.detail)}
        elif call is None:
            raise ValueError("a result needs the call it answers")
        else:
            status = 200
            envelope = {"code": "SUCCESS", "message": "OK", "data": endpoints.render_data(call.command.op, outcome)}
        body = dumps_compact(envelope).encode("utf-8")
        response = HttpResponse(body, status=status, content_type=CONTENT_TYPE)
        sign_response(response, keys=keys, body=body, timestamp=str(int(self._clock())), nonce=self._nonce_factory())
        return response

    # ---- hub -> till (tests, benchmarks, till simulator) --------------------------------

    def build_request(self, command: TillCommand, *, keys: CredentialKeys, nonce: str, timestamp: datetime) -> RequestSpec:
        if timestamp.tzinfo is None:
            raise ValueError("timestamp must be timezone-aware")
        endpoint = endpoints.ENDPOINTS[command.op]
        full_path = f"{self.prefix}/{endpoint.path(command.original_request_no)}"
        fields = endpoints.build_body(command, sent_at=timestamp)
        body = b"" if fields is None else dumps_compact(fields).encode("utf-8")
        stamp = str(int(timestamp.timestamp()))
        signature = signing.request_signature(keys.secret or keys.secrets[0], method=endpoint.http_method,
                                              path=full_path, timestamp=stamp, nonce=nonce, body=body)
        header = signing.authorization_header(appid=keys.app_key, nonce=nonce, timestamp=stamp, signature=signature)
        return RequestSpec(method=endpoint.http_method, path=full_path, body=body, content_type=CONTENT_TYPE,
                           headers={"Authorization": header})

    def read_response(self, status: int, headers: dict, body: bytes, keys: CredentialKeys) -> ReadResponse:
        signature_valid = response_signed(headers, body, keys)
        try:
            payload = loads_object(body, what="应答")
        except ParamError:
            payload = {}
        code, message, data = payload.get("code"), payload.get("message"), payload.get("data")
        data = {} if data is None else data
        message = message if isinstance(message, str) else ""
        if not isinstance(code, str) or not isinstance(data, dict):
            return ReadResponse(ok=False, code="PROCESSING", message="应答无法解析，结果未知", data={},
                                signature_valid=signature_valid)
        if 200 <= status < 300 and not signature_valid:
            # The contract: an unsigned or wrongly signed 2xx counts as not received.
            return ReadResponse(ok=False, code="PROCESSING", message="应答签名无效，视为未收到", data=data,
                                signature_valid=False)
        ok = status == 200 and code == "SUCCESS"
        return ReadResponse(ok=ok, code=code, message=message, data=data, signature_valid=signature_valid)
