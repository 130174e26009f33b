"""The cloud-POS dialect: the hub's own web till (templates/pos/, static/pos/pos.js).

``POST /pos/api/<op>`` with a JSON body ``{"nonce","ts", …fields}``; amounts are yuan strings
(read by the hub's one yuan reader), points integers. Authentication is not a signature: the
enrolled device's credential (app key and secret in the HttpOnly cookie ``hub_pos_device``,
checked by the gateway like any dialect's secret) plus the cashier's Django session, CSRF and
the place (hub.vendors.cloudpos.auth); a reverse also needs a supervisor's PIN. The answer is
always HTTP 200 ``{"ok","code","message","hint","data"}`` with the canonical result in ``data``;
the page treats anything else (no answer, another status, a body it cannot read) as unknown and
asks the hub with ``query``.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, date, datetime

from django.conf import settings
from django.http import HttpResponse
from django.urls import path

from hub.errors import DomainError, NoAuth, ParamError
from hub.gateway.base import (
    MAX_BODY_BYTES,
    CredentialKeys,
    ParsedCall,
    ReadResponse,
    RequestSpec,
    Sandbox,
    TillHelpers,
    fen_to_yuan,
    int_field,
    parse_int,
    parse_rights_used,
    require_str,
    rights_used_out,
    yuan_field,
)
from hub.gateway.canonical import DayEndTotals, TillCommand
from hub.gateway.jsonio import dumps_compact, loads_object, read_body
from hub.vendors.cloudpos import auth

OPS = frozenset({"identify", "earn", "redeem", "refund", "reverse", "query", "day_end"})
TOTALS = ("earn_count", "earn_points", "redeem_count", "redeem_points", "refund_count", "refund_points")
SANDBOX_PIN = "135790"  # the sandbox supervisor's PIN (sandbox only, refused like it without DEBUG)

# What to do next, per canonical code: shown under the message.
HINTS = {
    "SIGN_ERROR": "本设备未登记或登记已失效：请店长重新发放登记码",
    "NO_AUTH": "请确认登录的收银员属于本门店；如已退出请重新登录",
    "TIMESTAMP_EXPIRED": "请核对手机时间后刷新页面",
    "MEMBER_NOT_FOUND": "请会员出示会员码，或核对输入",
    "MEMBER_CODE_EXPIRED": "请会员在小程序刷新会员码后重新扫描",
    "POINTS_INSUFFICIENT": "请减少抵扣积分，或改用其他方式支付",
    "REDEEM_LIMIT_EXCEEDED": "请减少抵扣积分（以页面显示的可抵扣积分为限）",
    "REFUND_EXCEEDS_ORIGINAL": "退货金额不能超过原交易尚未退货的金额",
    "ORDER_NOT_EXIST": "请核对原交易单号",
    "ORDER_REVERSED": "该交易已冲正，无需再操作",
    "VOUCHER_NOT_FOUND": "请会员刷新权益码后重新出示",
    "VOUCHER_EXPIRED": "请会员刷新权益码后重新出示",
    "VOUCHER_USED": "该权益凭证已使用，不能再次核销",
    "RIGHT_NOT_APPLICABLE": "该权益不适用于本门店或本次消费",
    "QUOTA_EXHAUSTED": "该权益今日额度已用完",
    "RATE_LIMITED": "操作过于频繁，请稍后再试",
    "SYSTEM_ERROR": "请稍候，页面会向中心查询结果",
}


def _jsonable(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _command(op: str, a: dict) -> TillCommand:
    fields = {
        "store_code": require_str(a, "store", max_len=32),
        "terminal_code": require_str(a, "terminal", max_len=32),
        "request_no": require_str(a, "request_no", required=False),
        "original_request_no": require_str(a, "original_request_no", required=False),
        "member": require_str(a, "member", required=False),
        "amount_fen": yuan_field(a, "amount", required=False),
        "points": int_field(a, "points", required=False, minimum=1 if op == "redeem" else 0),
        # v1.1: the rights (vouchers, tier discounts) applied to an earn's sale, discounts in yuan
        "rights_used": parse_rights_used(a.get("rights_used"), code_field="code", amount_field="discount", yuan=True),
    }
    if op == "day_end":
        totals = a.get("totals")
        if not isinstance(totals, dict):
            raise ParamError("缺少参数：totals")
        fields["totals"] = DayEndTotals(**{n: int_field(totals, n) for n in TOTALS})
        try:
            fields["biz_date"] = date.fromisoformat(require_str(a, "biz_date", max_len=10))
        except ValueError:
            raise ParamError("日期格式错误：biz_date") from None
    return TillCommand(op=op, **fields)


class CloudPosAdapter:
    code = "cloudpos"
    name = "智慧云POS"
    auth_scheme = "secret"
    ops = OPS
    mount = "pos/api/"
    max_body_bytes = MAX_BODY_BYTES
    merchant_field = None
    nonce_repeat = "refuse"
    sandbox = Sandbox("SBX_POS", "沙箱·智慧云POS测试门店", "S001", "CP01", "pos_test_app", "pos-test-secret-0001")
    helpers = TillHelpers(member_field="member_ref")

    def get_urls(self, view) -> list:
        return [path("<str:op>", view, name="cloudpos-call")]

    def parse(self, request, op: str = "", **kwargs) -> ParsedCall:
        if request.method != "POST" or op not in self.ops:
            raise ParamError("接口不存在")
        data = loads_object(read_body(request))
        nonce = require_str(data, "nonce", max_len=64)
        ts = parse_int(data.get("ts"), field_name="ts", maximum=10**10)
        command = _command(op, data)
        pin = require_str(data, "supervisor_pin", max_len=12, required=False) if op == "reverse" else ""
        app_key, secret = auth.read_device_cookie(request)

        def verify(keys: CredentialKeys) -> str | None:
            if not app_key or keys.app_key != app_key:
                return None
            matched = auth.matching_secret(secret, keys.secrets)
            if matched is None:
                return None
            # The device is proven; now the person at it, and where.
            if not auth.csrf_ok(request):
                raise NoAuth("页面已过期，请刷新后重试")
            cashier = auth.session_cashier(request)
            device = auth.check_place(cashier=cashier, app_key=app_key, store_code=command.store_code,
                                      terminal_code=command.terminal_code)
            if op == "reverse":
                auth.check_pin(cashier=cashier, device=device, pin=pin)
            return matched

        operator = getattr(getattr(request, "user", None), "username", "") or ""
        return ParsedCall(app_key=app_key, nonce=nonce, timestamp=datetime.fromtimestamp(ts, tz=UTC),
                          command=command.replace(operator=operator[:32]), verify=verify)

    def render(self, call, outcome, keys) -> HttpResponse:
        if isinstance(outcome, DomainError):
            envelope = {"ok": False, "code": outcome.code, "message": outcome.message,
                        "hint": HINTS.get(outcome.code, ""), "data": _jsonable(dict(outcome.detail))}
        else:
            envelope = {"ok": True, "code": "SUCCESS", "message": "成功", "hint": "", "data": _jsonable(outcome)}
        response = HttpResponse(dumps_compact(envelope).encode(), content_type="application/json; charset=utf-8")
        response["Cache-Control"] = "no-store"
        return response

    # ---- the till's side, for the contract suite and the bench -------------------------------

    def build_request(self, command: TillCommand, *, keys: CredentialKeys, nonce: str, timestamp: datetime) -> RequestSpec:
        """A request as the page sends it, with the cookies of an enrolled device and of a signed-in
        sandbox cashier: the session ``extra["session_key"]`` names (a till keeps one for a shift),
        else a new one made here (tests and the bench only; hub.vendors.cloudpos.demo seeds the
        cashier)."""
        from hub.vendors.cloudpos.demo import sandbox_session

        c = command
        body = {"nonce": nonce, "ts": int(timestamp.timestamp()), "store": c.store_code, "terminal": c.terminal_code,
                "request_no": c.request_no, "original_request_no": c.original_request_no, "member": c.member,
                "amount": fen_to_yuan(c.amount_fen) if c.amount_fen is not None else None, "points": c.points}
        body["rights_used"] = rights_used_out(c.rights_used, code_field="code", amount_field="discount", yuan=True)
        if c.op == "reverse":
            body["supervisor_pin"] = c.extra.get("supervisor_pin", SANDBOX_PIN)
        if c.op == "day_end":
            body["biz_date"] = c.biz_date.isoformat() if c.biz_date else None
            body["totals"] = {n: getattr(c.totals or DayEndTotals(), n) for n in TOTALS}
        body = {k: v for k, v in body.items() if v not in (None, "")}
        csrf = secrets.token_hex(16)
        secret = keys.secret or (keys.secrets[0] if keys.secrets else "")
        cookies = {auth.DEVICE_COOKIE: auth.device_cookie(keys.app_key, secret), settings.CSRF_COOKIE_NAME: csrf,
                   settings.SESSION_COOKIE_NAME: c.extra.get("session_key") or sandbox_session(self.sandbox,
                                                                                          app_key=keys.app_key)}
        return RequestSpec(method="POST", path=f"/{self.mount}{c.op}",
                           body=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
                           content_type="application/json; charset=utf-8",
                           headers={"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()), "X-CSRFToken": csrf})

    def read_response(self, status: int, headers: dict, body: bytes, keys: CredentialKeys) -> ReadResponse:
        try:
            payload = loads_object(body, what="应答")
        except ParamError:
            return ReadResponse(ok=False, code="PROCESSING", message="应答无法解析", data={}, signature_valid=None)
        if status != 200:
            return ReadResponse(ok=False, code="PROCESSING", message="结果未知", data={}, signature_valid=None)
        return ReadResponse(ok=bool(payload.get("ok")), code=str(payload.get("code")),
                            message=str(payload.get("message")), data=payload.get("data") or {}, signature_valid=None)
