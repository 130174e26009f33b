"""The OpenAPI 3 description of ``/api/mp/v1/`` (served at ``/api/mp/v1/schema/``, Swagger UI at
``/api/mp/v1/docs/``, both from the hub itself: no CDN). The shapes below are JSON Schema, used as
they are by drf-spectacular; every endpoint lists every error status of ``hub.errors.CODES``, so a
client (and schemathesis) can rely on the answer matching the schema whatever happens."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema

from hub.errors import CODES

S = {"type": "string"}
SN = {"type": "string", "nullable": True}
I = {"type": "integer"}  # noqa: E741
IN = {"type": "integer", "nullable": True}
B = {"type": "boolean"}
T = {"type": "string", "format": "date-time"}
TN = {"type": "string", "format": "date-time", "nullable": True}


def obj(required: dict, optional: dict | None = None) -> dict:
    props = {**required, **(optional or {})}
    return {"type": "object", "properties": props, "required": list(required)}


def page(item: dict) -> dict:
    return obj({"items": {"type": "array", "items": item}, "next_cursor": SN})


NAMED = obj({"code": S, "name": S})
BRIEF = obj({"name_masked": S, "mobile_masked": S, "tier": S})
CONSENT = obj({"merchant_code": S, "merchant_name": S, "scope": S, "scope_name": S, "version": S, "granted_at": T})
LINK = obj({"id": I, "merchant_code": S, "merchant_name": S, "scene": S, "card_no_masked": S, "linked_at": T,
            "verified_by": S})
BALANCE = obj({"program": NAMED, "available": I, "pending": I, "frozen": I, "value_fen": I,
               "expiring": {"type": "array", "items": obj({"points": I, "expires_at": T})}})
TXN = obj({"id": S, "at": T, "type": {"type": "string", "enum": ["earn", "redeem", "refund", "reverse", "expire",
                                                                   "convert", "claim", "grant"]},
           "points": I, "balance_after": I, "program": NAMED, "merchant_name": S, "store_name": S, "memo": S})
RIGHT = obj({"id": I, "code": S, "name": S, "kind": S, "provider_name": S, "claim_mode": S,
             "cost": obj({}, {"points": I, "program": NAMED}),
             "valid": obj({"from": TN, "until": TN, "days_after_claim": IN}),
             "stock": {"type": "string", "enum": ["plenty", "few", "none"]}, "member_left": IN, "eligible": B},
            {"ineligible_reason": S})
RIGHT_DETAIL = {**RIGHT, "properties": {**RIGHT["properties"], "rules": S, "stacking": S, "funding": S,
                                        "terms": {"type": "object"},
                                        "stores": {"type": "array", "items": obj({"merchant_name": S,
                                                                                   "store_name": S})}},
                "required": [*RIGHT["required"], "rules", "stacking", "funding", "terms", "stores"]}
VOUCHER = obj({"id": I, "right": obj({"id": I, "code": S, "name": S, "kind": S}),
               "state": {"type": "string", "enum": ["available", "used", "expired"]}, "valid_from": T,
               "expires_at": T}, {"used_at": T, "used_place": S})
EMPTY = {"type": "object", "properties": {}}

DATA = {
    "login": obj({"token": S, "expires_at": T, "bound": B, "need_phone": B}, {"member": BRIEF}),
    "phone": obj({"bound": B, "member": BRIEF}),
    "empty": EMPTY,
    "consent": obj({"version": S, "text": S}),
    "me": obj({"name_masked": S, "mobile_masked": S, "tier": NAMED,
               "tier_benefits": {"type": "array", "items": obj({"right_id": I, "name": S, "description": S})},
               "consent_version": S, "consents": {"type": "array", "items": CONSENT}}),
    "consents": obj({"items": {"type": "array", "items": CONSENT}}),
    "memberships": obj({"items": {"type": "array", "items": LINK}}),
    "link": LINK,
    "balances": obj({"items": {"type": "array", "items": BALANCE}}),
    "transactions": page(TXN),
    "member_code": obj({"code_id": I, "code": {"type": "string", "pattern": "^96[0-9]{16}$"}, "expires_at": T,
                        "qr_png_base64": S}),
    "member_code_status": obj({"used": B, "expired": B, "expires_at": T}, {"used_at": T, "merchant_name": S}),
    "rights": page(RIGHT),
    "right": RIGHT_DETAIL,
    "claim": obj({"voucher": VOUCHER}, {"points_balance": I}),
    "vouchers": page(VOUCHER),
    "display": obj({"code": {"type": "string", "pattern": "^97[0-9]{16}$"}, "expires_at": T, "qr_png_base64": S},
                   {"offline_ticket": S}),
    "quote": obj({"quote_id": S, "receive_points": I, "rate": obj({"from_points": I, "to_points": I, "min_points": I}),
                  "expires_at": T}),
    "convert": obj({"points": I, "points_gained": I, "balances": {"type": "array", "items": obj({
        "program": NAMED, "available": I, "pending": I, "frozen": I})}}),
    "export": {"type": "object", "properties": {k: {"type": "object" if k == "member" else "array"} for k in (
        "member", "identities", "sessions", "memberships", "consents", "balances", "transactions", "vouchers",
        "member_codes")}, "required": ["member"]},
}

REQUEST_NO = {"type": "string", "minLength": 1, "maxLength": 64, "example": "MP20261202000001"}
REQUESTS = {
    "login": obj({"js_code": {"type": "string", "minLength": 1, "maxLength": 128, "example": "test:alice"}}),
    "phone": obj({"phone_code": {"type": "string", "minLength": 1, "maxLength": 128, "example": "phone:13800000001"},
                  "consent_version": {"type": "string", "example": "v1"}}),
    "empty": EMPTY,
    "consents": obj({"scope": {"type": "string", "enum": ["recognition", "marketing"]}, "granted": B,
                     "version": {"type": "string", "example": "v1"}, "request_no": REQUEST_NO},
                    {"merchant_code": {"type": "string", "example": "DEMO_FOOD"}}),
    "link": obj({"merchant_code": {"type": "string", "example": "SBX_KM"},
                 "card_no": {"type": "string", "minLength": 1, "maxLength": 64, "example": "13800000001"},
                 "proof": {"type": "string", "enum": ["mobile_match"]}, "request_no": REQUEST_NO}),
    "claim": obj({"request_no": REQUEST_NO}),
    "display": {"type": "object", "properties": {"offline_ticket": B}},
    "quote": obj({"from_program": {"type": "string", "example": "POSTAL"},
                  "to_program": {"type": "string", "example": "GWPOINTS"},
                  "points": {"type": "integer", "minimum": 1, "maximum": 1000000000, "example": 1000}}),
    "convert": obj({"quote_id": {"type": "string", "example": "Q0123456789abcdef01234567"},
                    "request_no": REQUEST_NO}),
    "close": obj({"request_no": REQUEST_NO, "confirm": {"type": "boolean", "enum": [True]}}),
}


def envelope(data: dict) -> dict:
    return obj({"code": {"type": "string", "enum": ["SUCCESS"]}, "message": S, "data": data})


ERROR = obj({"code": {"type": "string", "enum": sorted(CODES)}, "message": S, "data": {"type": "object"}})


def responses(kind: str, example: dict | None = None) -> dict:
    by_status: dict[int, list[str]] = {}
    for code, (status, message) in CODES.items():
        by_status.setdefault(status, []).append(f"`{code}` {message}")
    by_status.setdefault(401, []).append("`NO_AUTH` (a missing, forged or revoked token: 401, not 403)")
    out = {200: OpenApiResponse(envelope(DATA[kind]), description="成功",
                                examples=[OpenApiExample("成功", value={"code": "SUCCESS", "message": "成功",
                                                                         "data": example}, response_only=True)]
                                if example is not None else None)}
    for status, codes in sorted(by_status.items()):
        out[status] = OpenApiResponse(ERROR, description="; ".join(codes))
    return out


def doc(op: str, kind: str, *, summary: str, description: str = "", request: str | None = None, public: bool = False,
        parameters=(), example: dict | None = None, request_example: dict | None = None, tag: str = "member"):
    """``extend_schema`` for one endpoint of the contract."""
    examples = [OpenApiExample("请求", value=request_example, request_only=True)] if request_example else []
    return extend_schema(
        operation_id=f"mp_{op}", summary=summary, description=description,
        tags=[tag], auth=[] if public else [{"MpBearer": []}],
        request={"application/json": REQUESTS[request]} if request else None, responses=responses(kind, example),
        parameters=list(parameters), examples=examples)


def query(name: str, description: str, *, enum=None, schema_type=str) -> OpenApiParameter:
    return OpenApiParameter(name, schema_type, OpenApiParameter.QUERY, required=False, description=description,
                            enum=enum)


def path_id(name: str = "id") -> OpenApiParameter:
    return OpenApiParameter(name, int, OpenApiParameter.PATH, description="the item's id (from a list answer)")


DESCRIPTION = """The 老俵情 Laobiaoqing member mini-program's API (contract v1). JSON in and out, UTF-8; \
money in integer fen, points integers, times RFC 3339 with `+08:00`.

Every answer is `{"code": "SUCCESS" | error code, "message": 中文, "data": {...}}` with the HTTP status of the \
code (a refusal's `data` may carry details, e.g. `join_text` of `PHONE_NOT_MEMBER`).

**Sign in**: `POST auth/wechat/login` with the `js_code` of `wx.login()` answers the hub's own session token; \
send it as `Authorization: Bearer <token>` on every other call (except `GET consent`). A new user then binds \
a phone: `POST auth/phone` with the code of the phone-number button and the consent version of `GET consent`. \
Sessions expire after 30 days without use (`TOKEN_EXPIRED`); a missing, forged or revoked token is `NO_AUTH` \
(HTTP 401).

**Writes** carry `request_no` (≤ 64 characters, unique per member): the same number with the same content \
answers the first answer; other content is `IDEMPOTENCY_KEY_REUSED`. **Lists** page with the opaque \
`next_cursor` (`limit` ≤ 50). Login, phone binding, code issue and claims are rate limited per session and \
per IP (`RATE_LIMITED`, `Retry-After`).

In the sandbox (`make run`) the fake WeChat answers: `js_code` `test:<name>` → a user of its own (the same \
every time), `bad` → `WECHAT_CODE_INVALID`, `busy` → `UPSTREAM_BUSY`; phone code `phone:<11-digit mobile>` \
→ that mobile (demo members: 13800000001–13800000005). See docs/miniprogram.md."""

SETTINGS = {
    "TITLE": "老俵情 mini-program API",
    "VERSION": "1.0.0",
    "DESCRIPTION": DESCRIPTION,
    "TAGS": [{"name": "auth", "description": "Sign-in, phone binding, logout."},
             {"name": "member", "description": "The signed-in member's own data."},
             {"name": "rights", "description": "Rights catalogue, claims and vouchers."}],
    "APPEND_COMPONENTS": {"securitySchemes": {"MpBearer": {
        "type": "http", "scheme": "bearer", "description": "The hub's session token from auth/wechat/login."}}},
    "PREPROCESSING_HOOKS": [],
    "POSTPROCESSING_HOOKS": [],
    "COMPONENT_SPLIT_REQUEST": False,
}
