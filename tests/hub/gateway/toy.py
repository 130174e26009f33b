"""A sixth dialect that exists only in the test suite: the proof that a vendor is one package.

Registered by tests/conftest.py (``HUB_TILL_ADAPTERS["toy"]``) and nowhere else: no migration,
no Vendor choice, no demo entry, no branch in the gateway, the suites or the bench names it. The
contract suite, the end-to-end test and every registry-driven step (mount, Vendor row, sandbox
merchant and credential) run over it as over the five real ones.

The dialect: ``POST <mount>call/<op>`` with ``{"app","nonce","ts","args":{…}}``, signed with
``X-Toy-Sign: hex(HMAC-SHA256(secret, body))``; answers are HTTP 200 ``{"ok","code","msg","data"}``
signed the same way over the answer's body. Money in fen, as in the canonical vocabulary.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime

from django.http import HttpResponse
from django.urls import path

from hub.errors import DomainError, ParamError
from hub.gateway.base import (
    MAX_BODY_BYTES,
    CredentialKeys,
    ParsedCall,
    ReadResponse,
    RequestSpec,
    Sandbox,
    TillHelpers,
    fen_field,
    int_field,
    parse_int,
    parse_rights_used,
    require_str,
    rights_used_out,
)
from hub.gateway.canonical import OPS, DayEndTotals, TillCommand
from hub.gateway.jsonio import dumps_compact, loads_object, read_body

TOTALS = ("earn_count", "earn_points", "redeem_count", "redeem_points", "refund_count", "refund_points")


def _sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _jsonable(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


class ToyAdapter:
    code = "toy"
    name = "玩具方言（仅测试）"
    auth_scheme = "secret"
    ops = frozenset(OPS) - {"freeze", "confirm", "unfreeze"}
    mount = "gateway/toy/"
    max_body_bytes = MAX_BODY_BYTES
    merchant_field = None
    nonce_repeat = "refuse"
    sandbox = Sandbox("SBX_TOY", "沙箱·玩具方言商户", "T01", "T1", "toy_test_app", "toy-test-secret-0001")
    helpers = TillHelpers(member_field="member")

    def get_urls(self, view) -> list:
        return [path("call/<str:op>", view, name="toy-call")]

    def parse(self, request, op: str = "", **kwargs) -> ParsedCall:
        if request.method != "POST" or op not in self.ops:
            raise ParamError("接口不存在")
        body = read_body(request)
        data = loads_object(body)
        app = require_str(data, "app")
        nonce = require_str(data, "nonce")
        ts = parse_int(data.get("ts"), field_name="ts", maximum=10**10)
        args = data.get("args")
        if not isinstance(args, dict):
            raise ParamError("参数类型错误：args")
        command = self._command(op, args)
        given = request.META.get("HTTP_X_TOY_SIGN", "")

        def verify(keys: CredentialKeys) -> str | None:
            if keys.app_key != app:
                return None
            return next((s for s in (keys.secret, *keys.secrets)
                         if s and hmac.compare_digest(_sign(s, body), given)), None)

        return ParsedCall(app_key=app, nonce=nonce, timestamp=datetime.fromtimestamp(ts, tz=UTC), command=command,
                          verify=verify)

    @staticmethod
    def _command(op: str, a: dict) -> TillCommand:
        fields = {"store_code": require_str(a, "store", required=False),
                  "terminal_code": require_str(a, "till", required=False),
                  "request_no": require_str(a, "request_no", required=False),
                  "original_request_no": require_str(a, "original", required=False),
                  "member": require_str(a, "member", required=False),
                  "amount_fen": fen_field(a, "amount_fen", required=False),
                  "points": int_field(a, "points", required=False),
                  "rights_used": parse_rights_used(a.get("rights_used"), code_field="code", amount_field="discount_fen",
                                                   yuan=False)}
        if op == "day_end":
            totals = a.get("totals") if isinstance(a.get("totals"), dict) else {}
            fields["totals"] = DayEndTotals(**{n: int_field(totals, n) for n in TOTALS})
            try:
                fields["biz_date"] = date.fromisoformat(require_str(a, "biz_date", max_len=10))
            except ValueError:
                raise ParamError("日期格式错误：biz_date") from None
        return TillCommand(op=op, **fields)

    def render(self, call, outcome, keys) -> HttpResponse:
        if isinstance(outcome, DomainError):
            envelope = {"ok": False, "code": outcome.code, "msg": outcome.message, "data": dict(outcome.detail)}
        else:
            envelope = {"ok": True, "code": "SUCCESS", "msg": "成功",
                        "data": {("member" if k == "member_ref" else k): _jsonable(v) for k, v in outcome.items()}}
        body = dumps_compact(envelope).encode()
        response = HttpResponse(body, content_type="application/json; charset=utf-8")
        secret = next((s for s in ((keys.secret, *keys.secrets) if keys else ()) if s), "")
        if secret:
            response["X-Toy-Sign"] = _sign(secret, body)
        return response

    def build_request(self, command: TillCommand, *, keys: CredentialKeys, nonce: str, timestamp: datetime) -> RequestSpec:
        c = command
        args = {"store": c.store_code, "till": c.terminal_code, "request_no": c.request_no,
                "original": c.original_request_no, "member": c.member, "amount_fen": c.amount_fen, "points": c.points,
                "rights_used": rights_used_out(c.rights_used, code_field="code", amount_field="discount_fen", yuan=False)}
        if c.op == "day_end":
            args["biz_date"] = c.biz_date.isoformat() if c.biz_date else None
            args["totals"] = {n: getattr(c.totals or DayEndTotals(), n) for n in TOTALS}
        args = {k: v for k, v in args.items() if v not in (None, "")}
        body = json.dumps({"app": keys.app_key, "nonce": nonce, "ts": str(int(timestamp.timestamp())), "args": args},
                          ensure_ascii=False, separators=(",", ":")).encode()
        return RequestSpec(method="POST", path=f"/{self.mount}call/{c.op}", body=body,
                           content_type="application/json; charset=utf-8",
                           headers={"X-Toy-Sign": _sign(keys.secret or keys.secrets[0], body)})

    def read_response(self, status: int, headers: dict, body: bytes, keys: CredentialKeys) -> ReadResponse:
        lowered = {str(k).lower(): v for k, v in headers.items()}
        signed = lowered.get("x-toy-sign")
        valid = None if signed is None else any(
            hmac.compare_digest(_sign(s, body), signed) for s in (keys.secret, *keys.secrets) if s)
        try:
            payload = loads_object(body, what="应答")
        except ParamError:
            return ReadResponse(ok=False, code="PROCESSING", message="应答无法解析", data={}, signature_valid=valid)
        if status != 200 or (payload.get("ok") and not valid):
            return ReadResponse(ok=False, code="PROCESSING", message="结果未知", data={}, signature_valid=valid)
        return ReadResponse(ok=bool(payload.get("ok")), code=str(payload.get("code")), message=str(payload.get("msg")),
                            data=payload.get("data") or {}, signature_valid=valid)
