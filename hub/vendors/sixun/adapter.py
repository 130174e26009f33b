"""The Sixun dialect (sixun.md): flat XML in UTF-8 or GBK, sorted-field MD5 / HMAC-SHA256.

Translation only, no database. ``POST gateway/sixun/`` with one ``<xml>`` document; answers are
always HTTP 200 in the request's own encoding, ``return_code`` FAIL for a bad message,
otherwise ``result_code`` SUCCESS / FAIL / PROCESSING (outcome unknown: query or reverse).
"""

from __future__ import annotations

import secrets
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
    parse_int,
)
from hub.gateway.canonical import TillCommand
from hub.gateway.jsonio import read_body
from hub.vendors.sixun import fields as sixun_fields
from hub.vendors.sixun import signing, xmlcodec

# Codes that mean the message itself was refused (return_code FAIL). NO_AUTH is not one: once a
# request is authenticated it is a business refusal (this store, this credential may not…).
MESSAGE_CODES = frozenset({"PARAM_ERROR", "SIGN_ERROR", "TIMESTAMP_EXPIRED", "NONCE_REUSED"})
ENVELOPE_FIELDS = ("return_code", "return_msg", "result_code", "err_code", "err_code_des", "nonce_str", "sign")
MAX_TIMESTAMP = 10**10  # year 2286: keeps datetime.fromtimestamp in range


def _candidate_secrets(keys: CredentialKeys | None) -> tuple[str, ...]:
    if keys is None:
        return ()
    return tuple(s for s in (keys.secret, *keys.secrets) if s)




class SixunAdapter:
    code = "sixun"
    name = "思迅"
    auth_scheme = "secret"
    ops = frozenset(sixun_fields.SERVICE_OF)
    mount = "gateway/sixun/"
    max_body_bytes = MAX_BODY_BYTES
    merchant_field = "mch_id"
    nonce_repeat = "refuse"
    # M0001 is the mch_id of the Sixun test vector.
    sandbox = Sandbox("M0001", "沙箱·思迅测试超市", "S001", "P03", "sx_test_app", "sx-test-secret-0001")
    helpers = TillHelpers(member_field="member_id", matched_values=("Y", "N"))

    def __init__(self, *, prefix: str = "/gateway/sixun/"):
        self.prefix = prefix  # where the gateway mounts get_urls(); used by build_request

    def get_urls(self, view) -> list:
        return [path("", view, name="sixun-gateway")]

    # ---- till -> hub ------------------------------------------------------------------------

    def parse(self, request: HttpRequest, **kwargs) -> ParsedCall:
        if request.method != "POST":
            raise ParamError("请求方法不支持（应为 POST）")
        charset, document = xmlcodec.split_prolog(read_body(request))
        try:
            return self._parse_fields(xmlcodec.read_fields(document, charset), charset)
        except DomainError as exc:
            # No ParsedCall exists for a refused request: tell render() which encoding to answer in.
            exc.render_context = {"charset": charset}
            raise

    def _parse_fields(self, fields: dict[str, str], charset: str) -> ParsedCall:
        appid = sixun_fields.str_field(fields, "appid")
        nonce = sixun_fields.str_field(fields, "nonce_str", max_len=32)
        seconds = fields.get("timestamp", "")
        if seconds == "":
            raise ParamError("缺少参数：timestamp")
        timestamp = datetime.fromtimestamp(
            parse_int(seconds, field_name="timestamp", maximum=MAX_TIMESTAMP), tz=UTC
        )
        sign_type = fields.get("sign_type") or signing.DEFAULT_SIGN_TYPE
        if sign_type not in signing.SIGN_TYPES:
            raise ParamError("参数格式错误：sign_type（应为 MD5 或 HMAC-SHA256）")
        signature = fields.get("sign", "")
        if not signature:
            raise SignError("缺少签名：sign")
        command = sixun_fields.command_from_fields(fields)
        encoding = xmlcodec.CHARSETS[charset]

        def verify(keys: CredentialKeys) -> str | None:
            if keys.app_key != appid:
                return None
            for secret in _candidate_secrets(keys):
                if signing.verify(fields, secret, signature, sign_type, encoding=encoding):
                    return secret
            return None

        return ParsedCall(
            app_key=appid,
            nonce=nonce,
            timestamp=timestamp,
            command=command,
            verify=verify,
            context={"service": fields["service"], "charset": charset, "sign_type": sign_type},
            merchant_code=command.extra.get("mch_id", ""),
        )

    def render(self, call: ParsedCall | None, outcome: dict | DomainError, keys: CredentialKeys | None) -> HttpResponse:
        context = call.context if call is not None else getattr(outcome, "render_context", {})
        charset = context.get("charset", "UTF-8")
        op = call.command.op if call is not None else None
        if isinstance(outcome, DomainError):
            pairs = self._error_fields(op, outcome)
        elif call is None:
            raise ValueError("a result needs the call it answers")
        else:
            pairs = [("return_code", "SUCCESS"), ("return_msg", "OK"), ("result_code", "SUCCESS"),
                     *sixun_fields.result_fields(op, outcome)]
        pairs.append(("nonce_str", secrets.token_hex(16)))
        pairs = [(name, xmlcodec.clean(value, charset)) for name, value in pairs]
        secret = (keys.secret or next(iter(keys.secrets), "")) if keys is not None else ""
        if secret:
            sign_type = context.get("sign_type", signing.DEFAULT_SIGN_TYPE)
            pairs.append(("sign", signing.sign(dict(pairs), secret, sign_type, encoding=xmlcodec.CHARSETS[charset])))
        body = xmlcodec.write_document(pairs, charset)
        return HttpResponse(body, status=200, content_type=f"text/xml; charset={charset}")

    @staticmethod
    def _error_fields(op: str | None, error: DomainError) -> list[tuple[str, str]]:
        if error.code in MESSAGE_CODES:
            return [("return_code", "FAIL"), ("return_msg", error.message),
                    ("err_code", error.code), ("err_code_des", error.message)]
        result_code = "PROCESSING" if error.code == "SYSTEM_ERROR" else "FAIL"
        pairs = [("return_code", "SUCCESS"), ("return_msg", "OK"), ("result_code", result_code),
                 ("err_code", error.code), ("err_code_des", error.message)]
        if error.code == "ORDER_NOT_EXIST" and op == "query":
            pairs.append(("trade_state", "NOTFOUND"))
        return pairs

    # ---- hub -> till (tests, benchmarks, till simulator) ------------------------------------

    def build_request(self, command: TillCommand, *, keys: CredentialKeys, nonce: str, timestamp: datetime) -> RequestSpec:
        """A signed request. ``command.extra`` may carry ``merchant_code`` (sent as ``mch_id``),
        ``charset`` ("UTF-8" default or "GBK"), ``sign_type`` ("MD5" default or "HMAC-SHA256")
        and ``member_field`` ("member_code" default or "member_id")."""
        if timestamp.tzinfo is None:
            raise ValueError("timestamp must be timezone-aware")
        if command.op not in self.ops:
            raise ValueError(f"Sixun has no service for {command.op!r}")
        charset = command.extra.get("charset", "UTF-8").upper()
        sign_type = command.extra.get("sign_type", signing.DEFAULT_SIGN_TYPE)
        if charset not in xmlcodec.CHARSETS or sign_type not in signing.SIGN_TYPES:
            raise ValueError("charset must be UTF-8 or GBK and sign_type MD5 or HMAC-SHA256")
        pairs = [("appid", keys.app_key), ("mch_id", command.extra.get("merchant_code", command.extra.get("mch_id", ""))),
                 ("store_id", command.store_code), ("device_info", command.terminal_code),
                 ("service", sixun_fields.SERVICE_OF[command.op]), ("nonce_str", nonce),
                 ("timestamp", str(int(timestamp.timestamp()))), ("sign_type", sign_type),
                 *sixun_fields.fields_from_command(command)]
        pairs = [(name, xmlcodec.clean(value, charset)) for name, value in pairs if value]
        secret = keys.secret or keys.secrets[0]
        pairs.append(("sign", signing.sign(dict(pairs), secret, sign_type, encoding=xmlcodec.CHARSETS[charset])))
        return RequestSpec(method="POST", path=self.prefix, body=xmlcodec.write_document(pairs, charset),
                           content_type=f"text/xml; charset={charset}")

    def read_response(self, status: int, headers: dict, body: bytes, keys: CredentialKeys) -> ReadResponse:
        try:
            charset, document = xmlcodec.split_prolog(body)
            fields = xmlcodec.read_fields(document, charset)
        except ParamError:
            return ReadResponse(ok=False, code="PROCESSING", message="应答无法解析，结果未知", data={},
                                signature_valid=False)
        signature = fields.get("sign", "")
        valid = None
        if signature:
            sign_type = signing.sign_type_of(signature)
            encoding = xmlcodec.CHARSETS[charset]
            valid = sign_type is not None and any(
                signing.verify(fields, secret, signature, sign_type, encoding=encoding)
                for secret in _candidate_secrets(keys)
            )
        data = {name: value for name, value in fields.items() if name not in ENVELOPE_FIELDS}
        message = fields.get("err_code_des") or fields.get("return_msg", "")
        if fields.get("return_code") != "SUCCESS":
            code = fields.get("err_code") or "PARAM_ERROR"
            return ReadResponse(ok=False, code=code, message=message, data=data, signature_valid=valid)
        result_code = fields.get("result_code")
        if result_code == "SUCCESS":
            return ReadResponse(ok=True, code="SUCCESS", message=message, data=data, signature_valid=valid)
        if result_code == "FAIL":
            code = fields.get("err_code") or "SYSTEM_ERROR"
            return ReadResponse(ok=False, code=code, message=message, data=data, signature_valid=valid)
        return ReadResponse(ok=False, code="PROCESSING", message=message, data=data, signature_valid=valid)
