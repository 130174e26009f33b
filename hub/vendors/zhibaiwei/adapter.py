"""The Zhibaiwei dialect (../shared/vendors/zhibaiwei.md): translation only, no database.

``POST gateway/zhibaiwei/{Method}`` with ``{"AppKey","DateTime","Nonce","ParmJson","KEY"}``;
answers are always HTTP 200 with ``{"result","errcode","err","data"}``.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

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
from hub.gateway.jsonio import dumps_compact, loads_object, read_body
from hub.vendors.zhibaiwei import methods, signing

CONTENT_TYPE = "application/json; charset=utf-8"
RESULT_SUCCESS, RESULT_FAILED, RESULT_UNKNOWN = 1, 0, 2

_APP_KEY = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_DATE_TIME = re.compile(r"^[0-9]{14}$")
_NONCE = re.compile(r"^[A-Za-z0-9]{8}$")
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _candidate_secrets(keys: CredentialKeys) -> tuple[str, ...]:
    return tuple(s for s in (keys.secrets or (keys.secret,)) if s)


def _field(body: dict, name: str, pattern: re.Pattern, what: str) -> str:
    value = body.get(name)
    if value is None or value == "":
        raise ParamError(f"缺少参数：{name}")
    if not isinstance(value, str):
        raise ParamError(f"参数类型错误：{name}（应为字符串）")
    if not pattern.match(value):
        raise ParamError(f"参数格式错误：{name}（{what}）")
    return value


def _till_nonce(nonce: str) -> str:
    """Zhibaiwei nonces are 8 alphanumerics; any other nonce maps to one deterministically
    (the same nonce in gives the same nonce out, so a replay built twice is still a replay)."""
    if _NONCE.match(nonce):
        return nonce
    number = int.from_bytes(hashlib.sha256(nonce.encode("utf-8")).digest()[:8], "big")
    chars = []
    for _ in range(8):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return "".join(chars)


class ZhibaiweiAdapter:
    code = "zhibaiwei"
    name = "智百威"
    auth_scheme = "secret"
    ops = frozenset(methods.OP_METHODS)
    mount = "gateway/zhibaiwei/"
    max_body_bytes = MAX_BODY_BYTES
    merchant_field = None
    nonce_repeat = "refuse"
    sandbox = Sandbox("SBX_ZBW", "沙箱·智百威测试超市", "01", "03", "zbw_test_app", "zbw-test-secret-0001")
    helpers = TillHelpers(member_field="VipNo", matched_field="Matched")

    def __init__(self, *, prefix: str = "/gateway/zhibaiwei"):
        self.prefix = prefix.rstrip("/")  # where the gateway mounts get_urls(); for build_request

    def get_urls(self, view) -> list:
        return [path("<str:method>", view, name="zhibaiwei-method")]

    # ---- till -> hub ------------------------------------------------------------------

    def parse(self, request: HttpRequest, method: str = "", **kwargs) -> ParsedCall:
        if request.method != "POST":
            raise ParamError("请求方法不支持（应为 POST）")
        if method not in methods.METHODS:
            raise ParamError(f"接口不存在：{method[:64]}")
        body = loads_object(read_body(request), what="请求体")
        app_key = _field(body, "AppKey", _APP_KEY, "字母数字，最长 64 位")
        date_time = _field(body, "DateTime", _DATE_TIME, "yyyyMMddHHmmss")
        nonce = _field(body, "Nonce", _NONCE, "8 位字母数字")
        parm_json = body.get("ParmJson")
        if parm_json is None:
            raise ParamError("缺少参数：ParmJson")
        if not isinstance(parm_json, str):
            raise ParamError("参数类型错误：ParmJson（应为 JSON 字符串）")
        if body.get("KEY") is None or body.get("KEY") == "":
            raise SignError("缺少签名：KEY")
        key = body["KEY"]
        if not isinstance(key, str) or len(key) > 64:
            raise ParamError("参数格式错误：KEY")
        try:
            timestamp = datetime.strptime(date_time, "%Y%m%d%H%M%S").replace(tzinfo=methods.SHANGHAI)
        except ValueError:
            raise ParamError("参数格式错误：DateTime（yyyyMMddHHmmss）") from None
        command = methods.parse_params(method, loads_object(parm_json, what="ParmJson"))

        def verify(keys: CredentialKeys) -> str | None:
            if keys.app_key != app_key:
                return None
            for secret in _candidate_secrets(keys):
                if signing.key_matches(key, nonce=nonce, app_key=app_key, app_secret=secret,
                                       date_time=date_time, parm_json=parm_json):
                    return secret
            return None

        return ParsedCall(app_key=app_key, nonce=nonce, timestamp=timestamp, command=command,
                          verify=verify, context={"method": method})

    def render(self, call: ParsedCall | None, outcome: dict | DomainError, keys: CredentialKeys | None) -> HttpResponse:
        if isinstance(outcome, DomainError):
            envelope = self._error_envelope(call, outcome)
        elif call is None:
            raise ValueError("a result needs the call it answers")
        else:
            envelope = self._success(methods.render_data(call.command.op, outcome))
        return HttpResponse(dumps_compact(envelope).encode("utf-8"), status=200, content_type=CONTENT_TYPE)

    @staticmethod
    def _success(data: dict) -> dict:
        return {"result": RESULT_SUCCESS, "errcode": "SUCCESS", "err": "成功", "data": data}

    def _error_envelope(self, call: ParsedCall | None, error: DomainError) -> dict:
        if error.code == "ORDER_NOT_EXIST" and call is not None and call.command.op == "query":
            # QuerySheet answers "never seen" as a definitive status, not a failure.
            return self._success({"SheetNo": call.command.original_request_no, "Status": "NOT_FOUND"})
        result = RESULT_UNKNOWN if error.code == "SYSTEM_ERROR" else RESULT_FAILED
        return {"result": result, "errcode": error.code, "err": error.message, "data": dict(error.detail)}

    # ---- hub -> till (tests, benchmarks, till simulator) --------------------------------

    def build_request(self, command: TillCommand, *, keys: CredentialKeys, nonce: str, timestamp: datetime) -> RequestSpec:
        if timestamp.tzinfo is None:
            raise ValueError("timestamp must be timezone-aware")
        method, params = methods.build_params(command, sent_at=timestamp)
        parm_json = dumps_compact(params)
        nonce = _till_nonce(nonce)
        date_time = timestamp.astimezone(methods.SHANGHAI).strftime("%Y%m%d%H%M%S")
        secret = keys.secret or keys.secrets[0]
        key = signing.make_key(nonce=nonce, app_key=keys.app_key, app_secret=secret,
                               date_time=date_time, parm_json=parm_json)
        body = {"AppKey": keys.app_key, "DateTime": date_time, "Nonce": nonce, "ParmJson": parm_json, "KEY": key}
        return RequestSpec(method="POST", path=f"{self.prefix}/{method}",
                           body=dumps_compact(body).encode("utf-8"), content_type=CONTENT_TYPE)

    def read_response(self, status: int, headers: dict, body: bytes, keys: CredentialKeys) -> ReadResponse:
        try:
            payload = loads_object(body, what="应答")
        except ParamError:
            payload = None
        if status != 200 or payload is None or not isinstance(payload.get("data", {}), dict):
            return ReadResponse(ok=False, code="PROCESSING", message="应答无法解析，结果未知",
                                data={}, signature_valid=None)
        result, data = payload.get("result"), payload.get("data") or {}
        message = payload.get("err") if isinstance(payload.get("err"), str) else ""
        if result == RESULT_SUCCESS and not isinstance(result, bool):
            return ReadResponse(ok=True, code="SUCCESS", message=message, data=data, signature_valid=None)
        if result == RESULT_FAILED and not isinstance(result, bool) and isinstance(payload.get("errcode"), str):
            return ReadResponse(ok=False, code=payload["errcode"], message=message, data=data, signature_valid=None)
        return ReadResponse(ok=False, code="PROCESSING", message=message, data=data, signature_valid=None)
