"""drf-spectacular hooks (SPECTACULAR_SETTINGS): one address per endpoint, and the reference
tables generated from the code they describe so the page cannot drift from it."""

from __future__ import annotations

from hub.api.examples import VECTOR_EARN
from hub.errors import CODES
from hub.gateway.jsonio import dumps_compact

# The signing test vector of docs/native-api.md (pinned by tests/hub/vendors/native/test_signing.py).
VECTOR = {
    "app_key": "hub_test_app",
    "secret": "hub-test-secret-0001",
    "method": "POST",
    "path": "/api/v1/till/earn",
    "timestamp": "1764055801",
    "nonce": "7c1f0e5b9a2d4c6e8f0a1b3c5d7e9f21",
    "signature": "F5DoS/vXjKF0TERXmDFQvVDJpTD7S1ttAdLIS931pPY=",
}
RESPONSE_VECTOR = {
    "timestamp": "1764055802",
    "nonce": "0f9e8d7c6b5a49382716",
    "body": '{"code":"SUCCESS","message":"成功","data":{"request_no":"HUB20261125000123","points_earned":128,'
            '"points_balance":100128}}',
    "signature": "sv2BPDf+k4kY/kI9+2OdfkBF7hGLvgi8/u2s3Y/m7Sc=",
}

# What each code asks of the till, beyond its Chinese message.
MEANINGS = {
    "PARAM_ERROR": "The request is malformed; the message names the field. Fix it, do not retry as is.",
    "SIGN_ERROR": "Missing, malformed or wrong signature.",
    "TIMESTAMP_EXPIRED": "The timestamp is more than 300 s from the hub's clock; sync the till's clock.",
    "NONCE_REUSED": "The nonce was used in the last 15 minutes; sign again with a new nonce.",
    "NO_AUTH": "Unknown app key, a store or till not of this merchant, or not allowed by the agreement.",
    "MEMBER_NOT_FOUND": "No active member for this credential.",
    "ORDER_NOT_EXIST": "No request with this number at this merchant.",
    "ORDER_REVERSED": "This request number was reversed; it is not accepted any more.",
    "IDEMPOTENCY_KEY_REUSED": "This request number was used with different content.",
    "MEMBER_CODE_EXPIRED": "The dynamic member code is expired, used or unknown; ask for a fresh one.",
    "POINTS_INSUFFICIENT": "Not enough available points.",
    "REDEEM_LIMIT_EXCEEDED": "Beyond the agreement's limits (per sale, per day or share of the sale).",
    "FREEZE_EXPIRED": "The hold lapsed before it was confirmed.",
    "REFUND_EXCEEDS_ORIGINAL": "More than is left of the original to refund.",
    "RATE_LIMITED": "Too many calls; retry later with the same request number.",
    "SYSTEM_ERROR": "Outcome unknown; retry with the same parameters, or query.",
    "VOUCHER_NOT_FOUND": "No such voucher (or display code) for this member.",
    "VOUCHER_USED": "The voucher was used already, or is held by another open sale.",
    "VOUCHER_EXPIRED": "The voucher (or its display code) is expired or deactivated.",
    "RIGHT_NOT_APPLICABLE": "The right does not apply here: eligibility, store, threshold, discount or stacking.",
    "QUOTA_EXHAUSTED": "A quota or the budget of the right is used up.",
    # the member mini-program's codes (/api/mp/v1/, docs/miniprogram.md); a till never gets them
    "TOKEN_EXPIRED": "Mini-program: the session token is past its idle expiry; sign in again.",
    "WECHAT_CODE_INVALID": "Mini-program: WeChat refused the js_code or phone code (invalid, used, blocked).",
    "UPSTREAM_BUSY": "Mini-program: WeChat did not answer usably (busy, timeout, malformed); retry later.",
    "PHONE_NOT_MEMBER": "Mini-program: no postal member has that mobile; the message says how to join.",
    "PHONE_BOUND_OTHER": "Mini-program: the member (or this WeChat user) is bound to another identity.",
    "CONSENT_REQUIRED": "Mini-program: the consent version sent is not the current one (GET consent).",
    "MEMBER_NOT_BOUND": "Mini-program: bind a phone (auth/phone) before this call.",
    "MEMBER_LINK_CONFLICT": "Mini-program: the store card is linked to another member, or the member has another.",
    "LINK_PROOF_INVALID": "Mini-program: the proof does not show that the card is the member's.",
    "NOT_FOUND": "Mini-program: no such item for this member.",
    "QUOTE_EXPIRED": "Mini-program: the conversion quote is unknown, used or expired; quote again.",
}


def only_public_addresses(endpoints, **kwargs):
    """Leave out the registry's ``gateway/<code>/`` mounts: the vendor dialects have their own
    contracts, and the native adapter's public address is /api/v1/till/. The member mini-program's
``/api/mp/`` has its own schema (members.miniprogram.schema)."""
    return [endpoint for endpoint in endpoints if not endpoint[0].startswith(("/gateway/", "/api/mp/"))]


def error_table() -> str:
    rows = [f"| `{code}` | {status} | {message} | {MEANINGS[code]} |" for code, (status, message) in CODES.items()]
    return "\n".join(["## Error codes", "", "| code | HTTP | message | meaning |", "|---|---|---|---|", *rows])


def vector_text() -> str:
    v, r = VECTOR, RESPONSE_VECTOR
    body = dumps_compact(VECTOR_EARN)
    return "\n".join([
        "## Signing test vector", "",
        f"app key `{v['app_key']}`, secret `{v['secret']}`, `{v['method']} {v['path']}`, timestamp "
        f"`{v['timestamp']}`, nonce `{v['nonce']}`, body (exact bytes):", "",
        f"    {body}", "",
        f"signature `{v['signature']}`, header:", "",
        f'    HUB-HMAC-SHA256 app_key="{v["app_key"]}",timestamp="{v["timestamp"]}",nonce="{v["nonce"]}",'
        f'signature="{v["signature"]}"', "",
        f"Its answer, body `{r['body']}` signed at timestamp `{r['timestamp']}` with nonce `{r['nonce']}`: "
        f"`Hub-Signature: {r['signature']}`.",
    ])


def append_reference(result, generator, request, public):
    """Add the error code table and the signing test vector to the page's description."""
    info = result.setdefault("info", {})
    info["description"] = "\n\n".join(part for part in (info.get("description", ""), error_table(), vector_text())
                                      if part)
    return result
