"""The hub's one error vocabulary.

Every refusal the hub makes is a ``DomainError`` carrying one canonical code (the list in the
vendor contracts), a Chinese message for people and an HTTP status for the native API. Each
vendor dialect maps these codes to its own envelope in one place; the native API and the ops
pages use ``exception_handler`` below. Anything that is not a DomainError is logged and answered
as ``SYSTEM_ERROR`` — never a stack trace.
"""

from __future__ import annotations

import logging

from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger("hub.errors")

# code -> (HTTP status, default Chinese message)
CODES: dict[str, tuple[int, str]] = {
    "PARAM_ERROR": (400, "请求参数错误"),
    "SIGN_ERROR": (401, "签名错误"),
    "TIMESTAMP_EXPIRED": (401, "请求时间戳已过期"),
    "NONCE_REUSED": (401, "随机串重复使用"),
    "NO_AUTH": (403, "无权限"),
    "MEMBER_NOT_FOUND": (404, "会员不存在"),
    "ORDER_NOT_EXIST": (404, "交易不存在"),
    "ORDER_REVERSED": (409, "交易已冲正"),
    "IDEMPOTENCY_KEY_REUSED": (409, "请求单号已被其他内容使用"),
    "MEMBER_CODE_EXPIRED": (422, "会员码已过期或已使用"),
    "POINTS_INSUFFICIENT": (422, "积分余额不足"),
    "REDEEM_LIMIT_EXCEEDED": (422, "超出积分抵扣限制"),
    "FREEZE_EXPIRED": (422, "冻结已过期"),
    "REFUND_EXCEEDS_ORIGINAL": (422, "退货超出原交易"),
    "RATE_LIMITED": (429, "请求过于频繁，请稍后再试"),
    "SYSTEM_ERROR": (500, "系统繁忙，请使用相同参数重试"),
    "VOUCHER_NOT_FOUND": (404, "权益凭证不存在"),
    "VOUCHER_USED": (422, "权益凭证已使用"),
    "VOUCHER_EXPIRED": (422, "权益凭证已过期或不可用"),
    "RIGHT_NOT_APPLICABLE": (422, "该权益不适用于本次交易"),
    "QUOTA_EXHAUSTED": (422, "权益额度已用完"),
    # the member mini-program (docs/miniprogram.md, ../shared/design/miniprogram-api.md)
    "TOKEN_EXPIRED": (401, "登录已过期，请重新登录"),
    "WECHAT_CODE_INVALID": (400, "微信登录凭证无效，请重新进入小程序"),
    "UPSTREAM_BUSY": (503, "微信服务繁忙，请稍后再试"),
    "PHONE_NOT_MEMBER": (404, "该手机号尚未注册邮政会员"),
    "PHONE_BOUND_OTHER": (409, "该手机号已绑定其他微信账号"),
    "CONSENT_REQUIRED": (422, "请先阅读并同意最新版《用户授权协议》"),
    "MEMBER_NOT_BOUND": (403, "请先绑定手机号"),
    "MEMBER_LINK_CONFLICT": (409, "该会员卡已绑定其他会员"),
    "LINK_PROOF_INVALID": (422, "会员卡核验未通过"),
    "NOT_FOUND": (404, "内容不存在"),
    "QUOTE_EXPIRED": (422, "报价已过期，请重新获取"),
}


class DomainError(Exception):
    """A refusal in the hub's vocabulary. Subclasses fix the code; the message may be specific."""

    code = "SYSTEM_ERROR"

    def __init__(self, message: str | None = None, *, code: str | None = None, detail: dict | None = None):
        if code is not None:
            if code not in CODES:
                raise ValueError(f"unknown canonical code {code!r}")
            self.code = code
        self.message = message or CODES[self.code][1]
        self.detail = detail or {}
        super().__init__(f"{self.code}: {self.message}")

    @property
    def http_status(self) -> int:
        return CODES[self.code][0]

    def as_dict(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.detail:
            body["detail"] = self.detail
        return body


def _error_class(code: str) -> type[DomainError]:
    name = "".join(part.capitalize() for part in code.lower().split("_"))
    return type(name, (DomainError,), {"code": code, "__doc__": CODES[code][1]})


ParamError = _error_class("PARAM_ERROR")
SignError = _error_class("SIGN_ERROR")
TimestampExpired = _error_class("TIMESTAMP_EXPIRED")
NonceReused = _error_class("NONCE_REUSED")
NoAuth = _error_class("NO_AUTH")
MemberNotFound = _error_class("MEMBER_NOT_FOUND")
MemberCodeExpired = _error_class("MEMBER_CODE_EXPIRED")
PointsInsufficient = _error_class("POINTS_INSUFFICIENT")
RedeemLimitExceeded = _error_class("REDEEM_LIMIT_EXCEEDED")
OrderNotExist = _error_class("ORDER_NOT_EXIST")
OrderReversed = _error_class("ORDER_REVERSED")
RefundExceedsOriginal = _error_class("REFUND_EXCEEDS_ORIGINAL")
IdempotencyKeyReused = _error_class("IDEMPOTENCY_KEY_REUSED")
FreezeExpired = _error_class("FREEZE_EXPIRED")
RateLimited = _error_class("RATE_LIMITED")
SystemError_ = _error_class("SYSTEM_ERROR")
VoucherNotFound = _error_class("VOUCHER_NOT_FOUND")
VoucherUsed = _error_class("VOUCHER_USED")
VoucherExpired = _error_class("VOUCHER_EXPIRED")
RightNotApplicable = _error_class("RIGHT_NOT_APPLICABLE")
QuotaExhausted = _error_class("QUOTA_EXHAUSTED")
TokenExpired = _error_class("TOKEN_EXPIRED")
WechatCodeInvalid = _error_class("WECHAT_CODE_INVALID")
UpstreamBusy = _error_class("UPSTREAM_BUSY")
PhoneNotMember = _error_class("PHONE_NOT_MEMBER")
PhoneBoundOther = _error_class("PHONE_BOUND_OTHER")
ConsentRequired = _error_class("CONSENT_REQUIRED")
MemberNotBound = _error_class("MEMBER_NOT_BOUND")
MemberLinkConflict = _error_class("MEMBER_LINK_CONFLICT")
LinkProofInvalid = _error_class("LINK_PROOF_INVALID")
NotFound = _error_class("NOT_FOUND")
QuoteExpired = _error_class("QUOTE_EXPIRED")


def to_domain_error(exc: BaseException) -> DomainError:
    """Map any exception to the canonical vocabulary; unknown ones are logged as SYSTEM_ERROR."""
    if isinstance(exc, DomainError):
        return exc
    if isinstance(exc, drf_exceptions.ParseError | drf_exceptions.ValidationError | drf_exceptions.UnsupportedMediaType):
        detail = exc.detail if isinstance(exc.detail, dict) else {"errors": exc.detail}
        return ParamError(detail=detail)
    if isinstance(exc, drf_exceptions.AuthenticationFailed | drf_exceptions.NotAuthenticated):
        return SignError()
    if isinstance(exc, drf_exceptions.PermissionDenied):
        return NoAuth()
    if isinstance(exc, drf_exceptions.Throttled):
        return RateLimited()
    if isinstance(exc, drf_exceptions.NotFound):
        return ParamError("接口不存在")
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        return ParamError("请求方法不支持")
    logger.exception("unexpected error answered as SYSTEM_ERROR", exc_info=exc)
    return SystemError_()


def exception_handler(exc, context):
    """DRF exception handler: roll the request's transaction back, answer one envelope."""
    error = to_domain_error(exc)
    # Services are atomic and roll back on the exception themselves; this also undoes any
    # request-wide transaction (ATOMIC_REQUESTS) the view ran in.
    set_rollback()
    return Response(error.as_dict(), status=error.http_status)
