"""The Fangxiang dialect (fangxiang.md): an Alipay-style form gateway with RSA2 both ways.

Translation only, no database. ``POST gateway/fangxiang/gateway.do`` with form parameters and a
``biz_content`` JSON string, verified with the vendor's registered public key; answers are
always HTTP 200 JSON signed with the hub's private key (see ``keys``), whose public half is
served at ``GET gateway/fangxiang/public-key``.

Fangxiang has no nonce parameter; request numbers are the idempotency key, as on Alipay. RSA
PKCS#1 v1.5 signatures are deterministic, so the nonce of a call is a digest of the app id and
the signature's decoded bytes (only the canonical Base64 spelling is accepted): it repeats only
when the very same request is sent again, which the gateway answers as that request's retry
(``nonce_repeat = "replay"``: the stored first answer; a used member code stays used), while any
genuinely new request (new timestamp or content) has a new one.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

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
from hub.timezone import SHANGHAI
from hub.vendors.fangxiang import envelope, signing, views
from hub.vendors.fangxiang import fields as fx_fields
from hub.vendors.fangxiang import keys as hub_keys

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"  # hub/fixtures: the contract's published test keys
CONTENT_TYPE = "application/json; charset=utf-8"
FORM_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
REQUIRED = ("app_id", "method", "charset", "sign_type", "timestamp", "version", "biz_content", "sign")
FIXED = {"format": "JSON", "charset": "utf-8", "sign_type": "RSA2", "version": "1.0"}  # format may be omitted
_TIMESTAMP = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$")

SUCCESS = ("10000", "Success")
MISSING = ("40001", "Missing Required Arguments")
BUSINESS_FAILED = ("40004", "Business Failed")
# canonical code -> (code, msg); every code not listed is a business failure (40004).
GATEWAY_CODES = {
    "SYSTEM_ERROR": ("20000", "Service Currently Unavailable"),
    "PARAM_ERROR": ("40002", "Invalid Arguments"),
    "SIGN_ERROR": ("40002", "Invalid Arguments"),
    "TIMESTAMP_EXPIRED": ("40002", "Invalid Arguments"),
    "NONCE_REUSED": ("40002", "Invalid Arguments"),
    "NO_AUTH": ("40006", "Insufficient Permissions"),
}
READ_BACK = {"40001": "PARAM_ERROR", "40002": "PARAM_ERROR", "40006": "NO_AUTH"}
ENVELOPE_FIELDS = ("code", "msg", "sub_code", "sub_msg")


class FangxiangAdapter:
    code = "fangxiang"
    name = "方象"
    auth_scheme = "rsa"
    ops = frozenset(fx_fields.METHOD_OF)
    mount = "gateway/fangxiang/"
    max_body_bytes = MAX_BODY_BYTES
    merchant_field = None
    nonce_repeat = "replay"  # no nonce field: the derived nonce repeats only when the request does
    sandbox = Sandbox("SBX_FX", "沙箱·方象测试超市", "S001", "P03", "fx_test_app",
                      public_key_file=FIXTURES / "fangxiang_test_vendor_public.pem",
                      private_key_file=FIXTURES / "fangxiang_test_vendor_private.pem")
    helpers = TillHelpers(member_field="member_id")

    def __init__(self, *, prefix: str = "/gateway/fangxiang/"):
        self.prefix = prefix  # where the gateway mounts get_urls(); used by build_request

    def get_urls(self, view) -> list:
        return [
            path("gateway.do", view, name="fangxiang-gateway"),
            path("public-key", views.public_key, name="fangxiang-public-key"),
        ]

    # ---- till -> hub ------------------------------------------------------------------------

    def parse(self, request: HttpRequest, **kwargs) -> ParsedCall:
        if request.method != "POST":
            raise ParamError("请求方法不支持（应为 POST）")
        body = envelope.read_body(request)
        if request.content_type != "application/x-www-form-urlencoded":
            raise ParamError("Content-Type 应为 application/x-www-form-urlencoded")
        if request.content_params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
            raise ParamError("请求编码应为 utf-8")
        params = envelope.read_form(body)
        method = params.get("method")
        context = {"method": method} if method in fx_fields.METHODS else {}
        try:
            return self._parse_params(params, context)
        except DomainError as exc:
            # No ParsedCall exists for a refused request: tell render() which response key to use.
            exc.render_context = context
            raise

    def _parse_params(self, params: dict[str, str], context: dict) -> ParsedCall:
        for name in REQUIRED:
            if params.get(name, "") == "":
                raise fx_fields.missing(name)
        method = params["method"]
        if method not in fx_fields.METHODS:
            raise ParamError(f"不支持的接口：{method[:64]}")
        for name, expected in FIXED.items():
            value = params.get(name, "")
            if name == "format" and value == "":
                continue
            if (value.lower() if name == "charset" else value) != expected:
                raise ParamError(f"参数值不支持：{name}（应为 {expected}）")
        app_id = require_str(params, "app_id")
        try:
            if not _TIMESTAMP.match(params["timestamp"]):
                raise ValueError(params["timestamp"])
            timestamp = datetime.strptime(params["timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
        except ValueError:
            raise ParamError("参数格式错误：timestamp（应为 yyyy-MM-dd HH:mm:ss）") from None
        command = fx_fields.command_from_biz(method, envelope.read_biz_content(params["biz_content"]))
        signature = params["sign"]
        raw_signature = signing.canonical_signature(signature)
        if raw_signature is None:
            # 2048-bit signatures leave 4 unused bits in their Base64: 15 other spellings decode to
            # the same bytes. Only the one canonical spelling is accepted, so a captured request
            # cannot be resent looking new.
            raise SignError("签名格式错误：sign 应为标准 Base64 编码")
        message = signing.sign_string(params)

        def verify(keys: CredentialKeys) -> str | None:
            if keys.app_key != app_id:
                return None
            return "" if signing.rsa_verify(message, signature, keys.public_key_pem) else None

        # The call's nonce: a digest of the app id and the signature's bytes (deterministic for
        # PKCS#1 v1.5), so it repeats exactly when the same request is sent again.
        nonce = hashlib.sha256(app_id.encode("utf-8") + b"\n" + raw_signature).hexdigest()[:32]
        return ParsedCall(app_key=app_id, nonce=nonce, timestamp=timestamp, command=command, verify=verify,
                          context=dict(context))

    def render(self, call: ParsedCall | None, outcome: dict | DomainError, keys: CredentialKeys | None) -> HttpResponse:
        context = call.context if call is not None else getattr(outcome, "render_context", {})
        if isinstance(outcome, DomainError):
            inner = self._error(outcome)
        elif call is None:
            raise ValueError("a result needs the call it answers")
        else:
            inner = {"code": SUCCESS[0], "msg": SUCCESS[1], **fx_fields.result_fields(call.command.op, outcome)}
        key = envelope.response_key(context.get("method"))
        body = envelope.write_signed(key, inner, hub_keys.hub_private_key())
        return HttpResponse(body, status=200, content_type=CONTENT_TYPE)

    @staticmethod
    def _error(error: DomainError) -> dict:
        if error.code == "PARAM_ERROR" and error.detail.get("missing"):
            code, msg = MISSING
        else:
            code, msg = GATEWAY_CODES.get(error.code, BUSINESS_FAILED)
        return {"code": code, "msg": msg, "sub_code": f"FX.{error.code}", "sub_msg": error.message}

    # ---- hub -> till (tests, benchmarks, till simulator) ------------------------------------

    def build_request(self, command: TillCommand, *, keys: CredentialKeys, nonce: str, timestamp: datetime) -> RequestSpec:
        """A request signed with ``keys.private_key_pem``. ``nonce`` is not sent (Fangxiang has
        none; see the module docstring). ``command.extra["member_field"]`` may be "member_id"."""
        if timestamp.tzinfo is None:
            raise ValueError("timestamp must be timezone-aware")
        if command.op not in fx_fields.METHOD_OF:
            raise ValueError(f"Fangxiang has no method for {command.op!r}")
        params = {
            "app_id": keys.app_key,
            "method": fx_fields.METHOD_OF[command.op],
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": timestamp.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
            "version": "1.0",
            "biz_content": json.dumps(fx_fields.biz_from_command(command), ensure_ascii=False, separators=(",", ":")),
        }
        params["sign"] = signing.rsa_sign(signing.sign_string(params), keys.private_key_pem)
        return RequestSpec(method="POST", path=f"{self.prefix}gateway.do", body=urlencode(params).encode("ascii"),
                           content_type=FORM_TYPE)

    def read_response(self, status: int, headers: dict, body: bytes, keys: CredentialKeys) -> ReadResponse:
        """Read an answer, verifying its signature with the hub's public key."""
        try:
            _key, raw, inner, sign = envelope.read_signed(body)
        except ValueError:  # includes UnicodeDecodeError and JSONDecodeError
            return ReadResponse(ok=False, code="PROCESSING", message="应答无法解析，结果未知", data={},
                                signature_valid=False)
        valid = signing.rsa_verify(raw, sign, hub_keys.hub_public_key())
        data = {name: value for name, value in inner.items() if name not in ENVELOPE_FIELDS}
        message = str(inner.get("sub_msg") or inner.get("msg") or "")
        gateway_code = inner.get("code")
        if gateway_code == SUCCESS[0]:
            return ReadResponse(ok=True, code="SUCCESS", message=message, data=data, signature_valid=valid)
        if gateway_code == GATEWAY_CODES["SYSTEM_ERROR"][0]:
            return ReadResponse(ok=False, code="PROCESSING", message=message, data=data, signature_valid=valid)
        sub_code = str(inner.get("sub_code") or "")
        code = sub_code[3:] if sub_code.startswith("FX.") else READ_BACK.get(gateway_code, "SYSTEM_ERROR")
        return ReadResponse(ok=False, code=code, message=message, data=data, signature_valid=valid)
