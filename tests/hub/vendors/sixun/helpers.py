"""Sixun requests written by hand (independently of build_request) from the contract's test data."""

from __future__ import annotations

from django.test import RequestFactory

from hub.gateway.base import CredentialKeys
from hub.vendors.sixun import signing

APP_ID = "sx_test_app"
SECRET = "sx-test-secret-0001"
KEYS = CredentialKeys(app_key=APP_ID, secrets=(SECRET,))
REPLY_KEYS = CredentialKeys(app_key=APP_ID, secrets=(SECRET,), secret=SECRET)

# The contract's test vector fields, in the document's order.
VECTOR = [
    ("appid", APP_ID),
    ("mch_id", "M0001"),
    ("store_id", "S001"),
    ("device_info", "P03"),
    ("nonce_str", "ibuaiVcKdpRxkhJA"),
    ("service", "point.earn"),
    ("timestamp", "1764055801"),
    ("out_trade_no", "SX20261125000123"),
    ("member_code", "960000000000000000"),
    ("total_fee", "12850"),
    ("sign_type", "MD5"),
]
VECTOR_STRING = (
    "appid=sx_test_app&device_info=P03&mch_id=M0001&member_code=960000000000000000"
    "&nonce_str=ibuaiVcKdpRxkhJA&out_trade_no=SX20261125000123&service=point.earn&sign_type=MD5"
    "&store_id=S001&timestamp=1764055801&total_fee=12850&key=sx-test-secret-0001"
)
VECTOR_MD5 = "33AB905BD6A136019C2F3E781D2B53BF"
VECTOR_HMAC = "4DEED435A589358E82EBE1EB975F7F5575B6AE426AF2493E6C165D78B22D9DA0"

COMMON = [pair for pair in VECTOR if pair[0] in ("appid", "mch_id", "store_id", "device_info", "nonce_str", "timestamp")]


def fields_for(service: str, *business: tuple[str, str], sign_type: str = "MD5") -> list[tuple[str, str]]:
    return [*COMMON, ("service", service), ("sign_type", sign_type), *business]


def document(pairs, *, charset: str = "UTF-8", prolog: bool = True) -> bytes:
    """An <xml> document written by hand; values here never need escaping."""
    head = f'<?xml version="1.0" encoding="{charset}"?>' if prolog else ""
    inner = "".join(f"<{name}>{value}</{name}>" for name, value in pairs)
    return f"{head}<xml>{inner}</xml>".encode("gbk" if charset == "GBK" else "utf-8")


def signed(pairs, *, secret: str = SECRET, charset: str = "UTF-8") -> list[tuple[str, str]]:
    values = dict(pairs)
    sign_type = values.get("sign_type") if values.get("sign_type") in signing.SIGN_TYPES else "MD5"
    encoding = "gbk" if charset == "GBK" else "utf-8"
    return [*pairs, ("sign", signing.sign(values, secret, sign_type, encoding=encoding))]


def post(body: bytes, *, content_type: str = "text/xml", method: str = "POST", **extra):
    return RequestFactory().generic(method, "/gateway/sixun/", data=body, content_type=content_type, **extra)


def signed_request(pairs, *, charset: str = "UTF-8"):
    return post(document(signed(pairs, charset=charset), charset=charset))
