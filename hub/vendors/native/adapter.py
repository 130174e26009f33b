"""The hub's native till API (docs/native-api.md): translation only, no database.

Mounted at ``/api/v1/till/`` (``mount``); JSON bodies in snake_case mirroring TillCommand, money
in integer fen, points integers. The ``Authorization`` header carries an HMAC-SHA256 over
method, path with query, timestamp, nonce and the exact body; answers are
``{"code","message","data"}`` with the HTTP status of ``hub.errors.CODES`` and, when the request
was authenticated, signed with ``Hub-Timestamp``/``Hub-Nonce``/``Hub-Signature``.
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
)
from hub.gateway.canonical import TillCommand
from hub.gateway.hmac_signing import candidate_secrets, response_signed, sign_response
from hub.gateway.jsonio import dumps_compact, loads_object, read_body
from hub.vendors.native import batch, endpoints, signing

CONTENT_TYPE = "application/json; charset=utf-8"
BATCH_MAX_BODY_BYTES = 512 * 1024  # 1,000 items of up to ~500 bytes each

_AUTH_FORMATS = {
    "app_key": re.compile(r"^[A-Za-z0-9_.\-]{1,64}$"),
    "timestamp": re.compile(r"^[0-9]{1,10}$"),
    "nonce": re.compile(r"^[A-Za-z0-9_\-]{8,64}$"),
    "signature": re.compile(r"^[A-Za-z0-9+/]{43}=$"),
}


def _authorization(request: HttpRequest) -> dict[str, str]:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        raise SignError("缺少签名：Authorization")
    items = signing.parse_authorization(header) if len(header) <= 1024 else None
    if items is None:
        raise SignError("签名头格式错误：Authorization（应为 HUB-HMAC-SHA256 app_key=\"…\",timestamp=\"…\","
                        "nonce=\"…\",signature=\"…\"）")
    for name, pattern in _AUTH_FORMATS.items():
        if name not in items:
            raise SignError(f"签名头缺少：{name}")
        if not pattern.match(items[name]):
            raise SignError(f"签名头格式错误：{name}")
    return items


class NativeAdapter:
    code = "native"
    name = "清算中心原生接口"
    auth_scheme = "secret"
    ops = frozenset(endpoints.ENDPOINTS)  # the canonical operations and "batch"
    mount = "api/v1/till/"  # the public address, where the registry mounts it (not gateway/native/)
    max_body_bytes = BATCH_MAX_BODY_BYTES  # the largest body any endpoint takes; each checks its own
    merchant_field = None
    nonce_repeat = "refuse"
    sandbox = Sandbox("SBX_HUB", "沙箱·原生接口测试商户", "S001", "P03", "hub_test_app", "hub-test-secret-0001")
    helpers = TillHelpers(member_field="member_ref")

    def __init__(self, *, prefix: str = "/" + mount, clock: Callable[[], float] = time.time,
                 nonce_factory: Callable[[], str] = lambda: secrets.token_hex(16)):
        self.prefix = prefix.rstrip("/")  # signed paths include it
        self._clock = clock
        self._nonce_factory = nonce_factory

    def get_urls(self, view) -> list:
        from hub.api.views import endpoint_view

        return [path(ep.route, endpoint_view(ep.op).as_view(gateway=view), {"op": ep.op}, name=f"native-{ep.slug}")
                for ep in endpoints.ENDPOINTS.values()]

    # ---- till -> hub ---------------------------------------------------------------------

    def parse(self, request: HttpRequest, op: str = "", request_no: str = "", **kwargs) -> ParsedCall:
        endpoint = endpoints.ENDPOINTS.get(op)
        if endpoint is None:
            raise ParamError("接口不存在")
        if request.method != endpoint.method:
            raise ParamError(f"请求方法不支持（应为 {endpoint.method}）")
        auth = _authorization(request)
        body = read_body(request, limit=BATCH_MAX_BODY_BYTES if op == "batch" else MAX_BODY_BYTES)
        query = request.META.get("QUERY_STRING", "")
        if query:
            raise ParamError("不支持查询参数")
        if endpoint.method == "GET":
            if body:
                raise ParamError("GET 请求不应有请求体")
            command = endpoints.parse_body(op, {}, request_no)
        elif op == "batch":
            command = batch.parse_batch(loads_object(body))
        else:
            # confirm, unfreeze and reverse name their request in the path: an empty body is "{}".
            data = {} if op in endpoints.PATH_OPS and not body else loads_object(body)
            command = endpoints.parse_body(op, data, request_no)

        app_key, stamp, nonce, given = auth["app_key"], auth["timestamp"], auth["nonce"], auth["signature"]
        # The request target as sent when the server passes it on (gunicorn's RAW_URI), else the
        # path as Django reconstructs it (the same bytes for the ASCII paths this API has).
        raw_uri = request.META.get("RAW_URI", "")
        signed_path = raw_uri if raw_uri.startswith("/") else request.get_full_path()
        method = request.method

        def verify(keys: CredentialKeys) -> str | None:
            if keys.app_key != app_key:
                return None
            for secret in candidate_secrets(keys):
                expected = signing.request_signature(secret, method=method, path=signed_path, timestamp=stamp,
                                                     nonce=nonce, body=body)
                if signing.same(expected, given):
                    return secret
            return None

        return ParsedCall(app_key=app_key, nonce=nonce, timestamp=datetime.fromtimestamp(int(stamp), tz=UTC),
                          command=command, verify=verify, context={"op": op})

    def render(self, call: ParsedCall | None, outcome: dict | DomainError, keys: CredentialKeys | None) -> HttpResponse:
        if isinstance(outcome, DomainError):
            status = outcome.http_status
            envelope = {"code": outcome.code, "message": outcome.message, "data": dict(outcome.detail)}
        elif call is None:
            raise ValueError("a result needs the call it answers")
        else:
            status = 200
            envelope = {"code": "SUCCESS", "message": "成功", "data": render_data(call.command.op, outcome)}
        body = dumps_compact(envelope).encode()
        response = HttpResponse(body, status=status, content_type=CONTENT_TYPE)
        sign_response(response, keys=keys, body=body, timestamp=str(int(self._clock())), nonce=self._nonce_factory())
        return response

    # ---- hub -> till (tests, benchmarks, till simulator) -----------------------------------

    def build_request(self, command: TillCommand, *, keys: CredentialKeys, nonce: str, timestamp: datetime) -> RequestSpec:
        if timestamp.tzinfo is None:
            raise ValueError("timestamp must be timezone-aware")
        endpoint = endpoints.ENDPOINTS[command.op]
        full_path = f"{self.prefix}/{endpoint.path(command.original_request_no)}"
        if command.op == "batch":
            fields = {"store_code": command.store_code, "terminal_code": command.terminal_code,
                      "items": batch.build_items(command.extra["items"])}
        else:
            fields = endpoints.build_body(command)
        body = b"" if fields is None else dumps_compact(fields).encode()
        stamp = str(int(timestamp.timestamp()))
        signature = signing.request_signature(keys.secret or keys.secrets[0], method=endpoint.method,
                                              path=full_path, timestamp=stamp, nonce=nonce, body=body)
        header = signing.authorization_header(app_key=keys.app_key, timestamp=stamp, nonce=nonce, signature=signature)
        return RequestSpec(method=endpoint.method, path=full_path, body=body, content_type=CONTENT_TYPE,
                           headers={"Authorization": header})

    def read_response(self, status: int, headers: dict, body: bytes, keys: CredentialKeys) -> ReadResponse:
        signature_valid = response_signed(headers, body, keys)
        try:
            payload = loads_object(body, what="应答")
        except ParamError:
            payload = {}
        code, message, data = payload.get("code"), payload.get("message"), payload.get("data")
        if not isinstance(code, str) or not isinstance(data, dict):
            return ReadResponse(ok=False, code="PROCESSING", message="应答无法解析，结果未知", data={},
                                signature_valid=signature_valid)
        message = message if isinstance(message, str) else ""
        if 200 <= status < 300 and not signature_valid:
            # An unsigned or wrongly signed success may not be the hub's: treat it as not received.
            return ReadResponse(ok=False, code="PROCESSING", message="应答签名无效，视为未收到", data=data,
                                signature_valid=False)
        ok = status == 200 and code == "SUCCESS"
        return ReadResponse(ok=ok, code=code, message=message, data=data, signature_valid=signature_valid)


def render_data(op: str, result: dict) -> dict:
    if op == "batch":
        return {"items": [{"request_no": item["request_no"], "code": item["code"], "message": item["message"],
                           "data": endpoints.render_data(item["op"], item["data"]) if item["code"] == "SUCCESS"
                           else item["data"]}
                          for item in result["items"]]}
    return endpoints.render_data(op, result)
