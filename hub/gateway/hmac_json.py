"""The one base of the header-signed JSON dialects (Kemai, the native API).

Both take a JSON body (or none, for GET and path-only operations), authenticate with an
``Authorization: <SCHEME> k="v",…`` header carrying an HMAC-SHA256 (hub.gateway.hmac_signing)
over method, request target, timestamp, nonce and the exact body, answer
``{"code","message","data"}`` with the HTTP status of the code, and sign every answer to an
authenticated request with ``Hub-Timestamp``/``Hub-Nonce``/``Hub-Signature``. What differs is
declared by the subclass: the header's scheme and item names, the endpoint table, the body
readers and writers, the status table and the success message.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse

from hub.errors import DomainError, ParamError, SignError
from hub.gateway.base import CredentialKeys, ParsedCall, ReadResponse, RequestSpec
from hub.gateway.canonical import TillCommand
from hub.gateway.hmac_signing import (
    candidate_secrets,
    request_signature,
    response_signed,
    same,
    sign_response,
)
from hub.gateway.jsonio import dumps_compact, loads_object

CONTENT_TYPE = "application/json; charset=utf-8"


class HmacJsonAdapter:
    # Declared by each dialect:
    signing = None  # module with SCHEME, parse_authorization(value) and authorization_header(**items)
    auth_formats: dict[str, re.Pattern] = {}  # header item -> format
    app_key_item = "app_key"
    nonce_item = "nonce"
    malformed_header = "签名头格式错误：Authorization"
    success_message = "成功"
    nonce_chars = 32  # length of the Hub-Nonce of answers (hex)

    def __init__(self, *, prefix: str, clock: Callable[[], float] = time.time,
                 nonce_factory: Callable[[], str] | None = None):
        self.prefix = prefix.rstrip("/")  # where the gateway mounts get_urls(); signed paths include it
        self._clock = clock
        self._nonce_factory = nonce_factory or (lambda: secrets.token_hex(self.nonce_chars // 2))

    # ---- declared by each dialect ----------------------------------------------------------

    def endpoint_of(self, op: str):
        """The endpoint of ``op`` (with ``.method``/``.http_method`` and ``.path(no)``), or None."""
        raise NotImplementedError

    def parse_command(self, request: HttpRequest, op: str, body: bytes, path_no: str) -> TillCommand:
        raise NotImplementedError

    def body_limit(self, op: str) -> int:
        raise NotImplementedError

    def status_of(self, error: DomainError) -> int:
        return error.http_status

    def render_data(self, op: str, result: dict) -> dict:
        raise NotImplementedError

    def build_fields(self, command: TillCommand, *, sent_at: datetime) -> dict | None:
        raise NotImplementedError

    def header_items(self, *, app_key: str, nonce: str, timestamp: str, signature: str) -> dict:
        raise NotImplementedError

    @staticmethod
    def http_method(endpoint) -> str:
        return getattr(endpoint, "http_method", None) or endpoint.method

    # ---- till -> hub --------------------------------------------------------------------

    def authorization(self, request: HttpRequest) -> dict[str, str]:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            raise SignError("缺少签名：Authorization")
        items = self.signing.parse_authorization(header) if len(header) <= 1024 else None
        if items is None:
            raise SignError(self.malformed_header)
        for name, pattern in self.auth_formats.items():
            if name not in items:
                raise SignError(f"签名头缺少：{name}")
            if not pattern.match(items[name]):
                raise SignError(f"签名头格式错误：{name}")
        return items

    def parse(self, request: HttpRequest, op: str = "", **kwargs) -> ParsedCall:
        from hub.gateway.jsonio import read_body

        endpoint = self.endpoint_of(op)
        if endpoint is None:
            raise ParamError("接口不存在")
        method = self.http_method(endpoint)
        if request.method != method:
            raise ParamError(f"请求方法不支持（应为 {method}）")
        auth = self.authorization(request)
        body = read_body(request, limit=self.body_limit(op))
        path_no = next((v for k, v in kwargs.items() if k in ("out_trade_no", "request_no")), "")
        command = self.parse_command(request, op, body, path_no)

        app_key, nonce = auth[self.app_key_item], auth[self.nonce_item]
        stamp, given = auth["timestamp"], auth["signature"]
        # The request target as sent when the server passes it on (gunicorn's RAW_URI), else the
        # path and query as Django reconstructs them.
        raw_uri = request.META.get("RAW_URI", "")
        signed_path = raw_uri if raw_uri.startswith("/") else request.get_full_path()

        def verify(keys: CredentialKeys) -> str | None:
            if keys.app_key != app_key:
                return None
            for secret in candidate_secrets(keys):
                expected = request_signature(secret, method=method, path=signed_path, timestamp=stamp, nonce=nonce,
                                             body=body)
                if same(expected, given):
                    return secret
            return None

        return ParsedCall(app_key=app_key, nonce=nonce, timestamp=datetime.fromtimestamp(int(stamp), tz=UTC),
                          command=command, verify=verify, context={"op": op})

    def render(self, call: ParsedCall | None, outcome: dict | DomainError, keys: CredentialKeys | None) -> HttpResponse:
        if isinstance(outcome, DomainError):
            status = self.status_of(outcome)
            envelope = {"code": outcome.code, "message": outcome.message, "data": dict(outcome.detail)}
        elif call is None:
            raise ValueError("a result needs the call it answers")
        else:
            status = 200
            envelope = {"code": "SUCCESS", "message": self.success_message,
                        "data": self.render_data(call.command.op, outcome)}
        body = dumps_compact(envelope).encode("utf-8")
        response = HttpResponse(body, status=status, content_type=CONTENT_TYPE)
        sign_response(response, keys=keys, body=body, timestamp=str(int(self._clock())), nonce=self._nonce_factory())
        return response

    # ---- hub -> till (tests, benchmarks, till simulator) ----------------------------------

    def build_request(self, command: TillCommand, *, keys: CredentialKeys, nonce: str, timestamp: datetime) -> RequestSpec:
        if timestamp.tzinfo is None:
            raise ValueError("timestamp must be timezone-aware")
        endpoint = self.endpoint_of(command.op)
        method = self.http_method(endpoint)
        full_path = f"{self.prefix}/{endpoint.path(command.original_request_no)}"
        fields = self.build_fields(command, sent_at=timestamp)
        body = b"" if fields is None else dumps_compact(fields).encode("utf-8")
        stamp = str(int(timestamp.timestamp()))
        signature = request_signature(keys.secret or keys.secrets[0], method=method, path=full_path,
                                      timestamp=stamp, nonce=nonce, body=body)
        header = self.signing.authorization_header(
            **self.header_items(app_key=keys.app_key, nonce=nonce, timestamp=stamp, signature=signature))
        return RequestSpec(method=method, path=full_path, body=body, content_type=CONTENT_TYPE,
                           headers={"Authorization": header})

    def read_response(self, status: int, headers: dict, body: bytes, keys: CredentialKeys) -> ReadResponse:
        signature_valid = response_signed(headers, body, keys)
        try:
            payload = loads_object(body, what="应答")
        except ParamError:
            payload = {}
        code, message, data = payload.get("code"), payload.get("message"), payload.get("data", {})
        data = {} if data is None else data
        message = message if isinstance(message, str) else ""
        if not isinstance(code, str) or not isinstance(data, dict):
            return ReadResponse(ok=False, code="PROCESSING", message="应答无法解析，结果未知", data={},
                                signature_valid=signature_valid)
        if 200 <= status < 300 and not signature_valid:
            # The contracts: an unsigned or wrongly signed 2xx counts as not received.
            return ReadResponse(ok=False, code="PROCESSING", message="应答签名无效，视为未收到", data=data,
                                signature_valid=False)
        ok = status == 200 and code == "SUCCESS"
        return ReadResponse(ok=ok, code=code, message=message, data=data, signature_valid=signature_valid)
